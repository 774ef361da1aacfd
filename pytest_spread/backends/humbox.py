"""The humbox backend: servers from a Humbox service, as Spread's humbox.go.

`location` is `http(s)://<account>@<host>:<port>` (the service's own address,
so any endpoint works), `key` the account's key (HTTP basic auth). Three
endpoints: `GET /v1/servers` checks the key, `POST /v1/servers` creates a
server (its root password is the session password), `DELETE
/v1/servers/<name>` removes it. There is nothing to collect with -gc.
"""

from __future__ import annotations

import re
import threading
import time
from functools import partial
from typing import Any

import requests

from pytest_spread.backends.base import AllocationError, Machine, ProviderBase
from pytest_spread.backends.cloud import InFlight, local_user
from pytest_spread.backends.http import Api, ApiError, Pacing, status_error
from pytest_spread.project.gocompat import go_quote
from pytest_spread.project.model import System
from pytest_spread.transport.retry import retry
from pytest_spread.transport.ssh import Connection, RemoteError

LOCATION_RE = re.compile(r"^(https?://)([^@]+)@(.+:[0-9]+)$")
GIB = 1 << 30


class HumboxProvider(ProviderBase):
    """Allocates Humbox servers for the backend's account."""

    reuse = False  # set by the run: recorded in the server's custom data

    def _prepare(self) -> None:
        self.pacing = Pacing.from_env(poll=1.0)
        self.in_flight = InFlight()
        self._lock = threading.Lock()
        self._checked = False
        self._api: Api | None = None
        self._url = ""

    def allocate(self, system: System, username: str, password: str) -> Machine:
        self._check_key()
        storage = self.backend.storage // GIB if self.backend.storage > 0 else 10
        custom = {"spread": "true", "owner": local_user().lower(), "reuse": str(self.reuse).lower()}
        params = {
            "image": system.image,
            "password": self.session_password,
            "storage": storage,
            "custom": custom,
        }
        try:
            result = self._do("POST", "/v1/servers", params)
        except AllocationError as exc:
            raise AllocationError(
                f"cannot allocate new Humbox server for {system.name}: {exc}", fatal=True
            ) from None
        found = result.get("server")
        server: dict[str, Any] = found if isinstance(found, dict) else {}
        name, address = str(server.get("name", "")), str(server.get("ssh", ""))
        machine = Machine(
            self.backend.name,
            system.name,
            address,
            username,
            password,
            name=name,
            data={"name": name, "birth": server.get("birth", ""), "ssh": address},
        )
        self.in_flight.add(name, lambda: self._remove(machine))
        try:
            self._wait_ssh(machine)
        except AllocationError as exc:
            raise self.in_flight.give_up(
                name,
                partial(self._remove, machine),
                exc,
                what=f"Humbox server {machine}",
                failed=None,
            ) from None
        self.in_flight.done(name)
        return machine

    def discard(self, machine: Machine) -> None:
        self._remove(machine)

    def interrupt(self) -> None:
        """The run is abandoned: remove the servers still being allocated."""
        self.in_flight.interrupt()

    def collect_garbage(self) -> None:
        """Humbox servers are not collected (as in Spread)."""

    def _wait_ssh(self, machine: Machine) -> None:
        """Until a login with the machine's credentials works (Spread's waitServerUp)."""
        relog = time.monotonic() + 120

        def login() -> None:
            Connection.open(
                machine.address, machine.username or "root", machine.password, timeout=5
            ).close()

        def progress(exc: RemoteError) -> None:
            nonlocal relog
            self.in_flight.check()  # interrupted: the allocation gives up
            if time.monotonic() > relog:
                self.log(f"Cannot connect to {machine}: {exc}")
                relog = time.monotonic() + 120

        try:
            retry(
                login,
                errors=RemoteError,
                timeout=self.ssh_wait,
                interval=self.pacing.poll,
                on_error=progress,
            )
        except RemoteError as exc:
            self.in_flight.check()
            raise AllocationError(f"cannot connect to {machine}: {exc}") from None

    def _remove(self, machine: Machine) -> None:
        try:
            self._check_key()
            self._do("DELETE", f"/v1/servers/{machine.name}")
        except AllocationError as exc:
            raise AllocationError(f"cannot deallocate Humbox server {machine}: {exc}") from None

    def _check_key(self) -> None:
        with self._lock:
            if self._checked:
                return
            match = LOCATION_RE.match(self.backend.location)
            if match is None:
                raise AllocationError(
                    f"location for {go_quote(self.backend.name)} backend must use the "
                    "http(s)://<user>@<hostname>:<port> format",
                    fatal=True,
                )
            session = requests.Session()
            session.auth = (match.group(2), self.backend.key)
            self._url = match.group(1) + match.group(3)
            self._api = Api("Humbox", session, self.pacing, lambda: [self.backend.key], self.log)
            try:
                self._do("GET", "/v1/servers")
            except AllocationError as exc:
                self._api = None
                raise AllocationError(str(exc), fatal=True) from None
            self._checked = True

    def _do(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        api = self._api
        assert api is not None, "Humbox API used before the key check"
        response = api.call(method, self._url + path, body)
        data = response.data if isinstance(response.data, dict) else {}
        if data.get("error"):
            raise ApiError(api.hide(str(data["error"])), response.status)
        if response.status >= 400:
            raise ApiError(api.hide(status_error(response)), response.status)
        return data

"""The linode backend: Linode servers through API v4, following Spread's linode.go rules.

Spread's code speaks API v3, retired in 2023; this speaks v4 with the same
choices (docs/deviations.md lists the mapping): `key` is a personal access
token, `plan` a Linode type (`g6-standard-1`, or a label such as `Linode 2GB`
or `2GB`), `location` a region (`us-west`, or words of its label such as
`fremont`), `image` an image id (`linode/ubuntu22.04`) or label or Spread's
derived name (`ubuntu-22.04`), `kernel` a kernel label prefix (default
`Latest 64 bit`). Each machine is a new server labelled `Spread-<id>` and
tagged `spread`, with a root disk from the image (`storage`, default
10000 MB, root password = session password), a 240 MB swap disk and a config
booting the kernel; discarding deletes it, and `-gc` deletes the Spread
servers older than `halt-timeout`. `SPREAD_LINODE_API_URL` replaces
https://api.linode.com/v4.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import requests

from pytest_spread.backends.base import AllocationError, Machine, ProviderBase
from pytest_spread.backends.cloud import Collector, GarbageWords, InFlight, local_user
from pytest_spread.backends.http import Api, ApiError, KeyCheck, Pacing, status_error
from pytest_spread.project.gocompat import go_quote
from pytest_spread.project.model import System

API_URL = "https://api.linode.com/v4"
LABEL_RE = re.compile(r"^Spread-[0-9]+$")
TAG = "spread"
WAIT_LIMIT = 180.0  # seconds for a disk to be ready, and for a boot
MB = 1 << 20
GC_WORDS = GarbageWords("Linode server")
HELPERS = {
    "updatedb_disabled": True,
    "distro": True,
    "modules_dep": True,
    "network": False,
    "devtmpfs_automount": True,
}


def derived_name(label: str) -> str:
    """Spread's short name of an image label: "Ubuntu 22.04 LTS" -> "ubuntu-22.04"."""
    words = label.lower().split()
    if len(words) > 2 and words[1] == "linux":
        return f"{words[0]}-{words[2]}"
    return f"{words[0]}-{words[1]}" if len(words) > 1 else (words[0] if words else "")


class LinodeProvider(ProviderBase):
    """Creates a Linode server per machine in the backend's region."""

    def _prepare(self) -> None:
        self.pacing = Pacing.from_env(poll=2.0)
        self.api_url = os.environ.get("SPREAD_LINODE_API_URL", "").rstrip("/") or API_URL
        self.in_flight = InFlight()
        self._lock = threading.Lock()
        self._api: Api | None = None
        self._check_key = KeyCheck(self._connect)
        self._catalogue: dict[str, list[dict[str, Any]]] = {}

    # -- the provider interface -----------------------------------------------

    def allocate(self, system: System, username: str, password: str) -> Machine:
        self._check_key()
        if not (system.plan or self.backend.plan) or not self.backend.location:
            raise AllocationError(
                "no powered off servers in Linode account and no plan to allocate new servers "
                "(with API v4 the backend needs plan and location)",
                fatal=True,
            )
        plan = self._find("linode/types", system.plan or self.backend.plan, "type", _type_names)
        region = self._find("regions", self.backend.location, "region", _region_names)
        image = self._find("images", system.image, "image or distribution", _image_names)
        kernel = self._kernel(system)
        try:
            created = self._do(
                "POST",
                "/linode/instances",
                {"region": region, "type": plan, "booted": False, "tags": [TAG]},
            )
        except AllocationError as exc:
            raise AllocationError(
                f"cannot allocate new Linode server for {system.name}: {exc}", fatal=True
            ) from None
        ident = int(created.get("id", 0))
        label = f"Spread-{ident}"
        server = f"{self.backend.name}:{system.name} ({label})"
        self.in_flight.add(label, lambda: self._delete(ident, label))
        data: dict[str, Any] = {
            "name": label,  # how the reuse file names machines
            "id": ident,
            "label": label,
            "created": str(created.get("created", "")),
            "plan": plan,
        }
        try:
            self._do("PUT", f"/linode/instances/{ident}", {"label": label})
            self.log(f"Configuring new Linode server {server} with {system.name}...")
            address = self._setup(ident, server, system, image, kernel, data)
        except AllocationError as exc:
            raise self.in_flight.give_up(
                label,
                partial(self._delete, ident, label),
                exc,
                what=f"Linode server {server}",
                failed=f"cannot set up Linode server {server}",
            ) from None
        self.in_flight.done(label)
        return Machine(
            self.backend.name, system.name, address, username, password, name=label, data=data
        )

    def discard(self, machine: Machine) -> None:
        self._check_key()
        self._delete(int(machine.data.get("id", 0)), str(machine.data.get("label", machine.name)))

    def interrupt(self) -> None:
        """The run is abandoned: delete the servers still being set up."""
        self.in_flight.interrupt()

    def collect_garbage(self) -> None:
        """Delete Spread's servers (label and tag) older than halt-timeout."""
        self._check_key()
        if not self.backend.halt_timeout:
            return
        collector = Collector(self.backend.halt_timeout, self.log, GC_WORDS)
        warned = False
        for item in self._list("/linode/instances"):
            label = str(item.get("label", ""))
            if not LABEL_RE.match(label) or TAG not in (item.get("tags") or []):
                if not warned:
                    self.log(
                        "WARNING: Some Linode servers ignored due to unsafe labels "
                        '(must be "Spread-...").'
                    )
                    warned = True
                continue
            collector.collect(
                label,
                {},
                str(item.get("created", "")),
                partial(self._delete, int(item.get("id", 0)), label),
            )

    # -- set-up ----------------------------------------------------------------

    def _setup(
        self, ident: int, server: str, system: System, image: str, kernel: str, data: dict[str, Any]
    ) -> str:
        """Disks, config, address and boot of a new server; its address."""
        base = f"/linode/instances/{ident}"
        size = system.storage // MB if system.storage > 0 else 10000
        root = self._do(
            "POST",
            f"{base}/disks",
            {
                "label": f"{system.name[:43]} root",
                "image": image,
                "root_pass": self.session_password,
                "size": size,
            },
        )
        data["root"] = int(root.get("id", 0))
        swap = self._do(
            "POST",
            f"{base}/disks",
            {"label": f"{system.name[:43]} swap", "size": 240, "filesystem": "swap"},
        )
        data["swap"] = int(swap.get("id", 0))
        config = self._do(
            "POST",
            f"{base}/configs",
            {
                "label": system.name[:48],
                "kernel": kernel,
                "comments": f"USER={json.dumps(local_user())} spread",
                "devices": {"sda": {"disk_id": data["root"]}, "sdb": {"disk_id": data["swap"]}},
                "root_device": "/dev/sda",
                "helpers": HELPERS,
            },
        )
        data["config"] = int(config.get("id", 0))
        self._wait(server, "allocate disk", lambda: self._disk_ready(base, data["root"]))
        address = self._address(base, server)
        self._do("POST", f"{base}/boot", {"config_id": data["config"]})
        self.log(f"Waiting for {server} to boot at {address}...")
        self._wait(server, "boot", lambda: self._booted(ident))
        return address

    def _disk_ready(self, base: str, disk: int) -> bool:
        status = str(self._do("GET", f"{base}/disks/{disk}").get("status"))
        if status not in ("ready", "not ready"):
            raise AllocationError(f"disk is {status}")
        return status == "ready"

    def _booted(self, ident: int) -> bool:
        if self._do("GET", f"/linode/instances/{ident}").get("status") == "running":
            return True
        for event in self._events(ident, "linode_boot"):
            if event.get("status") == "failed":
                raise AllocationError("boot failed")
        return False

    def _wait(self, server: str, verb: str, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.pacing.limit(WAIT_LIMIT)
        while True:
            try:
                if done():
                    return
            except AllocationError as exc:
                raise AllocationError(f"cannot {verb} {server}: {exc}") from None
            if time.monotonic() > deadline:
                raise AllocationError(f"timeout waiting for {server} to {verb}")
            self.in_flight.sleep(self.pacing.poll)

    def _address(self, base: str, server: str) -> str:
        try:
            ips = self._do("GET", f"{base}/ips")
        except AllocationError as exc:
            raise AllocationError(f"cannot list IPs for {server}: {exc}") from None
        for ip in (ips.get("ipv4") or {}).get("public") or []:
            if ip.get("address"):
                return str(ip["address"])
        raise AllocationError(f"cannot find public IP for {server}")

    def _events(self, ident: int, action: str) -> list[dict[str, Any]]:
        flt = {"entity.id": ident, "entity.type": "linode", "action": action}
        return self._list("/account/events", {"X-Filter": json.dumps(flt)})

    def _delete(self, ident: int, label: str) -> None:
        if not LABEL_RE.match(label):
            raise AllocationError(
                f"cannot deallocate Linode server {label}: label is not Spread-<id>"
            )
        try:
            self._do("DELETE", f"/linode/instances/{ident}")
        except AllocationError as exc:
            raise AllocationError(f"cannot deallocate Linode server {label}: {exc}") from None

    # -- catalogue: types, regions, images, kernels ------------------------------

    def _find(
        self, path: str, wanted: str, what: str, names: Callable[[dict[str, Any]], list[str]]
    ) -> str:
        """The id of the first catalogue entry that `wanted` names (case-insensitively)."""
        for item in self._catalogue_of(path):
            if wanted.lower() in (name.lower() for name in names(item)):
                return str(item["id"])
        for item in self._catalogue_of(path):
            labels = [name.lower() for name in names(item)]
            if any(label.startswith(wanted.lower() + " ") for label in labels):
                return str(item["id"])
        raise AllocationError(f"no Linode {what} for {go_quote(wanted)}", fatal=True)

    def _kernel(self, system: System) -> str:
        wanted = system.kernel or "Latest 64 bit"
        for item in self._catalogue_of("linode/kernels"):
            label = str(item.get("label", "")).lower()
            if wanted.lower() in (label, str(item.get("id", "")).lower()) or label.startswith(
                wanted.lower() + " "
            ):
                return str(item["id"])
        raise AllocationError(f"no {go_quote(wanted)} Linode kernel", fatal=True)

    def _catalogue_of(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            if path not in self._catalogue:
                try:
                    self._catalogue[path] = self._list(f"/{path}")
                except AllocationError as exc:
                    raise AllocationError(
                        f"cannot list Linode {path.rsplit('/', 1)[-1]}: {exc}", fatal=True
                    ) from None
            return self._catalogue[path]

    # -- the API ---------------------------------------------------------------

    def _connect(self) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.backend.key}"
        self._api = Api("Linode", session, self.pacing, lambda: [self.backend.key], self.log)
        try:
            self._do("GET", "/linode/instances", params={"page_size": "25"})
        except AllocationError:
            self._api = None
            raise

    def _list(self, path: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            result = self._do(
                "GET", path, params={"page": str(page), "page_size": "500"}, headers=headers
            )
            items.extend(item for item in result.get("data") or [] if isinstance(item, dict))
            if page >= int(result.get("pages") or 1):
                return items
            page += 1

    def _do(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        api = self._api
        assert api is not None, "Linode API used before the key check"
        response = api.call(method, self.api_url + path, body, params, headers)
        data = response.data if isinstance(response.data, dict) else {}
        errors = data.get("errors")
        if response.status >= 400 and isinstance(errors, list) and errors:
            first = errors[0] if isinstance(errors[0], dict) else {}
            reason = str(first.get("reason", "unknown error"))
            field = first.get("field")
            raise ApiError(api.hide(f"{field}: {reason}" if field else reason), response.status)
        if response.status >= 400:
            raise ApiError(api.hide(status_error(response)), response.status)
        return data


def _type_names(item: dict[str, Any]) -> list[str]:
    label = str(item.get("label", ""))
    return [str(item.get("id", "")), label, label.removeprefix("Linode ")]


def _region_names(item: dict[str, Any]) -> list[str]:
    label = str(item.get("label", ""))
    return [str(item.get("id", "")), label, *re.findall(r"[\w]+", label)]


def _image_names(item: dict[str, Any]) -> list[str]:
    ident, label = str(item.get("id", "")), str(item.get("label", ""))
    return [ident, ident.removeprefix("linode/"), label, derived_name(label)]

"""The google backend: Compute Engine instances, as Spread's google.go (spread-plus) makes them.

`location` is `<project>/<zone>`; `key` a service-account JSON document or a
path to a credentials file (application default credentials when empty).
Each machine is an instance named after the UTC time of its creation, with a
startup script that sets root's password, enables password logins and writes
a ready marker to the serial port; the script is removed from the metadata
once the marker shows. `SPREAD_GOOGLE_API_URL` points the Compute API
elsewhere (default https://www.googleapis.com); the OAuth token endpoint is
the key's own `token_uri`.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import datetime, timezone
from functools import partial
from typing import Any

from pytest_spread.backends import google_auth
from pytest_spread.backends.base import AllocationError, Machine, ProviderBase
from pytest_spread.backends.cloud import (
    Collector,
    GarbageWords,
    InFlight,
    Names,
    is_spread_name,
    local_user,
)
from pytest_spread.backends.google_images import Image, find_image
from pytest_spread.backends.google_rest import ComputeApi
from pytest_spread.backends.http import Pacing
from pytest_spread.project.gocompat import format_duration, go_quote
from pytest_spread.project.model import System

DEFAULT_PLAN = "n1-standard-1"
READY_MARKER = "MACHINE-IS-READY"
WAIT_LIMIT = 180.0  # seconds for an operation, and for the ready marker
GIB = 1 << 30
STARTUP_SCRIPT = """
echo root:{password} | chpasswd

sed -i 's/^\\s*#\\?\\s*\\(PermitRootLogin\\|PasswordAuthentication\\)\\>.*/\\1 yes/' /etc/ssh/sshd_config
sed -i 's/^PermitRootLogin=/#PermitRootLogin=/g' /etc/ssh/sshd_config.d/* || true
sed -i 's/^PasswordAuthentication=/#PasswordAuthentication=/g' /etc/ssh/sshd_config.d/* || true
test -d /etc/ssh/sshd_config.d && echo 'PermitRootLogin=yes' > /etc/ssh/sshd_config.d/00-spread.conf
test -d /etc/ssh/sshd_config.d && echo 'PasswordAuthentication=yes' >> /etc/ssh/sshd_config.d/00-spread.conf

pkill -o -HUP sshd || true

echo -e '\\n{marker}\\n' > /dev/ttyS0 || echo -e '\\n{marker}\\n' > /dev/console
echo -e '\\n{marker}\\n' > /dev/ttyS2
"""  # noqa: E501
LABEL_RE = re.compile(r"^[a-z0-9_-]+$")
GC_WORDS = GarbageWords("Google server", checking="")


def valid_label(value: str) -> bool:
    return len(value) < 64 and bool(LABEL_RE.match(value))


class GoogleProvider(ProviderBase):
    """Allocates Compute Engine instances in the backend's project and zone."""

    reuse = False  # set by the run: labels the instances with reuse=true

    def _prepare(self) -> None:
        self.pacing = Pacing.from_env(poll=5.0)
        self.compute = ComputeApi(self.backend, self.project_dir, self.pacing, self.log)
        self.gproject, self.zone = self.compute.gproject, self.compute.zone_name
        self.in_flight = InFlight()
        self.names = Names()
        self._lock = threading.Lock()
        self._images: dict[str, list[Image]] = {}

    # -- the provider interface -----------------------------------------------

    def allocate(self, system: System, username: str, password: str) -> Machine:
        self.compute.check_key()
        name = self.names.new()
        plan = system.plan or DEFAULT_PLAN
        image, family = find_image(system.image, self.gproject, self._project_images)
        params = self._instance(system, name, plan, image, family)
        try:
            operation = self.compute.zone("POST", "/instances", params)
        except AllocationError as exc:
            raise AllocationError(
                f"cannot allocate new Google server for {system.name}: {exc}", fatal=True
            ) from None
        server = f"{self.backend.name}:{system.name} ({name})"
        self.in_flight.add(name, lambda: self._delete(name, server))
        created = datetime.now(timezone.utc)
        try:
            self._wait_operation(server, "provision", str(operation.get("name", "")))
            address = self._address(name, server)
            self._wait_boot(name, server, address)
            self._drop_startup_script(name)
        except AllocationError as exc:
            raise self.in_flight.give_up(
                name,
                partial(self._delete, name, server),
                exc,
                what=f"Google server {server}",
                failed=f"cannot allocate new Google server {server}",
            ) from None
        self.in_flight.done(name)
        data = {"name": name, "plan": plan, "created": created.isoformat()}
        return Machine(
            self.backend.name, system.name, address, username, password, name=name, data=data
        )

    def discard(self, machine: Machine) -> None:
        self._delete(machine.name, str(machine))

    def interrupt(self) -> None:
        """The run is abandoned: delete the instances still being allocated."""
        self.in_flight.interrupt()

    def collect_garbage(self) -> None:
        """Delete this backend's instances older than their halt-timeout (Spread's -gc)."""
        self.compute.check_key()
        collector = Collector(self.backend.halt_timeout, self.log, GC_WORDS)
        warned = False
        for item in self.compute.list_items("/instances"):
            name = str(item.get("name", ""))
            labels = item.get("labels") or {}
            if not is_spread_name(name) or labels.get("spread") != "true":
                if not warned:
                    self.log("WARNING: Some Google servers ignored due to unsafe labels.")
                    warned = True
                continue
            collector.collect(
                name,
                labels,
                str(item.get("creationTimestamp", "")),
                partial(self._delete, name, name),
            )

    # -- allocation steps -----------------------------------------------------

    def _instance(
        self, system: System, name: str, plan: str, image: Image, family: bool
    ) -> dict[str, Any]:
        disk: dict[str, Any] = {"sourceImage": image.source(self.gproject, family)}
        if system.storage == 0:
            disk["diskSizeGb"] = 10
        elif system.storage > 0:
            disk["diskSizeGb"] = system.storage // GIB
        metadata = [
            {
                "key": "startup-script",
                "value": STARTUP_SCRIPT.format(password=self.session_password, marker=READY_MARKER),
            }
        ]
        params: dict[str, Any] = {
            "name": name,
            "machineType": f"zones/{self.zone}/machineTypes/{plan}",
            "minCpuPlatform": system.cpu_family or "AUTOMATIC",
            "networkInterfaces": [
                {
                    "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "name": "External NAT"}],
                    "network": "global/networks/default",
                }
            ],
            "disks": [
                {
                    "autoDelete": "true",
                    "boot": "true",
                    "type": "PERSISTENT",
                    "initializeParams": disk,
                }
            ],
            "metadata": {"items": metadata},
            "labels": self._labels(),
            "tags": {"items": ["spread"]},
        }
        if system.secure_boot:
            params["shieldedInstanceConfig"] = {
                "enableSecureBoot": True,
                "enableVtpm": True,
                "enableIntegrityMonitoring": True,
            }
        if system.attach_service_account:
            if not self.compute.service_account:
                raise AllocationError("no service account to attach", fatal=True)
            params["serviceAccounts"] = [
                {
                    "email": self.compute.service_account,
                    "scopes": [google_auth.SCOPE],
                }
            ]
        return params

    def _labels(self) -> dict[str, str]:
        owner = local_user().lower()
        if not valid_label(owner) and "@" in owner and "." in owner[owner.index("@") :]:
            owner = owner[: owner.index("@")].replace(".", "-")
        labels = {"spread": "true", "owner": owner, "reuse": str(self.reuse).lower()}
        halt = format_duration(self.backend.halt_timeout) if self.backend.halt_timeout else ""
        if valid_label(halt):
            labels["halt-timeout"] = halt
        if self.compute.service_account:
            account = self.compute.service_account.partition("@")[0]
            if len(account) < 63:
                labels["sa"] = account
        return labels

    def _wait_operation(self, server: str, verb: str, name: str) -> None:
        deadline = time.monotonic() + self.pacing.limit(WAIT_LIMIT)
        while True:
            self.in_flight.sleep(self.pacing.poll)
            if time.monotonic() > deadline:
                raise AllocationError(f"timeout waiting for {server} to {verb}")
            try:
                # An operation's own error is in its body: read on, as Spread does.
                operation = self.compute.zone("GET", f"/operations/{name}", named=True)
            except AllocationError as exc:
                raise AllocationError(
                    f"cannot {verb} {server}: cannot get operation details: {exc}"
                ) from None
            if operation.get("status") == "DONE":
                for error in (operation.get("error") or {}).get("errors") or []:
                    message = str(error.get("message") or error.get("code") or "unknown error")
                    raise AllocationError(f"cannot {verb} {server}: {_lower_first(message)}")
                return

    def _address(self, name: str, server: str) -> str:
        try:
            instance = self.compute.zone("GET", f"/instances/{name}")
        except AllocationError as exc:
            raise AllocationError(
                f"cannot get IP address for Google server {server}: {exc}"
            ) from None
        for interface in instance.get("networkInterfaces") or []:
            for access in interface.get("accessConfigs") or []:
                if access.get("type") == "ONE_TO_ONE_NAT" and access.get("natIP"):
                    return str(access["natIP"])
        raise AllocationError(f"cannot find IP address in Google server {server} details")

    def _wait_boot(self, name: str, server: str, address: str) -> None:
        self.log(f"Waiting for {server} to boot at {address}...")
        start = time.monotonic()
        relog = start + self.pacing.limit(60)
        trail = ""
        following = {1: "0", 3: "0"}
        while True:
            for port in following:
                path = f"/instances/{name}/serialPort"
                try:
                    result = self.compute.zone(
                        "GET", path, params={"port": str(port), "start": following[port]}
                    )
                except AllocationError as exc:
                    self.log(f"Cannot get console output for {server}: {exc}")
                    raise AllocationError(
                        f"cannot get console output for {server}: {exc}"
                    ) from None
                following[port] = str(result.get("next") or following[port])
                trail += str(result.get("contents", ""))
            if READY_MARKER in trail:
                return
            trail = trail[-len(READY_MARKER) :]
            now = time.monotonic()
            if now - start > self.pacing.limit(WAIT_LIMIT):
                raise AllocationError(f"cannot find ready marker in console output for {server}")
            if now > relog:
                self.log(f"Server {server} is taking a while to boot...")
                relog = now + self.pacing.limit(60)
            self.in_flight.sleep(self.pacing.poll)

    def _drop_startup_script(self, name: str) -> None:
        try:
            instance = self.compute.zone("GET", f"/instances/{name}")
        except AllocationError as exc:
            raise AllocationError(f"cannot get instance metadata: {exc}") from None
        metadata = dict(instance.get("metadata") or {})
        items = [
            item for item in metadata.get("items") or [] if item.get("key") != "startup-script"
        ]
        if len(items) == len(metadata.get("items") or []):
            return
        body = {"fingerprint": metadata.get("fingerprint", ""), "items": items}
        try:
            self.compute.zone("POST", f"/instances/{name}/setMetadata", body)
        except AllocationError as exc:
            raise AllocationError(f"cannot change instance metadata: {exc}") from None

    def _delete(self, name: str, server: str) -> None:
        if not is_spread_name(name):
            raise AllocationError(
                f"cannot deallocate Google server {server}: "
                f"invalid Google machine name for spread: {name}"
            )
        try:
            self.compute.zone("DELETE", f"/instances/{name}")  # not awaited, as in Spread
        except AllocationError as exc:
            raise AllocationError(f"cannot deallocate Google server {server}: {exc}") from None

    # -- images -----------------------------------------------------------------

    def _project_images(self, project: str) -> list[Image]:
        with self._lock:
            cached = self._images.get(project)
        if cached is not None:
            return cached
        try:
            items = self.compute.list_items(
                f"/compute/v1/projects/{project}/global/images",
                params={"orderBy": "creationTimestamp desc"},
                full=True,
            )
        except AllocationError as exc:
            raise AllocationError(
                f"cannot retrieve Google images for project {go_quote(project)}: {exc}",
                fatal=True,
            ) from None
        images = [Image.from_item(project, item) for item in items]
        with self._lock:
            self._images[project] = images
        return images


def _lower_first(message: str) -> str:
    return message[:1].lower() + message[1:]

"""The openstack backend: Nova servers, as spread-plus' openstack.go (upstream pull request 170).

`key` names a file of `OS_*` settings (see openstack_auth.py); `plan` is a
flavor name (default m1.medium), `location` an availability zone, `networks`
and `groups` network and security group names (systems inherit the
backend's). The image is found by exact name, then the newest whose name
starts with it, then the newest whose name holds its terms. The server boots
from a volume of `storage` GiB (the image's minimum, else 20) with a
cloud-config that sets root's (hashed) password, enables password logins and
writes the ready marker to the console. `proxy` and `cidr-port-rel` reach
servers through a TCP proxy whose port is `<first port> + <address offset
in the CIDR>`. Plain `requests`, not openstacksdk: importing openstacksdk
took 0.20 s warm (0.45 s cold) and brings 26 packages, against 0.07 s for
requests, which the plugin already needs.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import subprocess
import time
from datetime import datetime, timezone
from functools import partial
from typing import Any

from pytest_spread.backends.base import AllocationError, Machine, ProviderBase
from pytest_spread.backends.cloud import (
    Collector,
    GarbageWords,
    InFlight,
    Names,
    local_user,
)
from pytest_spread.backends.http import ApiError, Pacing
from pytest_spread.backends.openstack_rest import OpenStackApi
from pytest_spread.project.gocompat import format_duration
from pytest_spread.project.model import System

DEFAULT_FLAVOR = "m1.medium"
READY_MARKER = "MACHINE-IS-READY"
PROVISION_LIMIT = 180.0  # seconds, unless wait-timeout says otherwise
ADDRESS_LIMIT = 30.0
BOOT_LIMIT = 300.0
CONSOLE_LIMIT = 30.0  # a console that stays empty this long is not waited for
REMOVE_LIMIT = 180.0
GIB = 1 << 30
GC_WORDS = GarbageWords("openstack instances", checking="openstack instance ", cannot="server ")
CLOUD_CONFIG = """
#cloud-config
runcmd:
  - echo 'root:{hash}' | chpasswd -e
  - sed -i 's/^\\s*#\\?\\s*\\(PermitRootLogin\\|PasswordAuthentication\\)\\>.*/\\1 yes/' /etc/ssh/sshd_config
  - sed -i 's/^PermitRootLogin=/#PermitRootLogin=/g' /etc/ssh/sshd_config.d/* || true
  - sed -i 's/^PasswordAuthentication=/#PasswordAuthentication=/g' /etc/ssh/sshd_config.d/* || true
  - test -d /etc/ssh/sshd_config.d && echo 'PermitRootLogin=yes' > /etc/ssh/sshd_config.d/00-spread.conf
  - test -d /etc/ssh/sshd_config.d && echo 'PasswordAuthentication=yes' >> /etc/ssh/sshd_config.d/00-spread.conf
  - pkill -o -HUP sshd || true
  - test -c /dev/ttyS0 && echo '{marker}' 1>/dev/ttyS0 2>/dev/null || true
  - test -c /dev/ttyAMA0 && echo '{marker}' 1>/dev/ttyAMA0 2>/dev/null || true
  - test -c /dev/console && echo '{marker}' 1>/dev/console 2>/dev/null || true
"""  # noqa: E501


def password_hash(password: str) -> str:
    """A SHA-512 crypt hash (`openssl passwd -6`, the password on stdin, never in argv)."""
    try:
        result = subprocess.run(
            ["openssl", "passwd", "-6", "-stdin"],
            input=password + "\n",
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError as exc:
        raise AllocationError(f"cannot generate SHA512 password hash with openssl: {exc}") from None
    hashed = result.stdout.strip()
    if result.returncode != 0 or not hashed.startswith("$6$"):
        raise AllocationError("cannot generate SHA512 password hash with openssl")
    return hashed


def proxy_address(address: str, proxy: str, relations: tuple[str, ...]) -> str | None:
    """`proxy:<port>` for an address inside one of the `CIDR:first-port` relations."""
    ip = ipaddress.ip_address(address)
    for relation in relations:
        cidr, sep, port = relation.partition(":")
        if not sep or not port.isdigit():
            raise AllocationError(
                f"error with cidr to port relation, cidr:port expected but {relation} obtained"
            )
        try:
            network = ipaddress.ip_network(cidr, strict=False)
            first = ipaddress.ip_address(cidr.partition("/")[0])
        except ValueError as exc:
            raise AllocationError(f"invalid CIDR format: {exc}") from None
        if ip in network:
            return f"{proxy}:{int(port) + abs(int(ip) - int(first))}"
    return None


class OpenStackProvider(ProviderBase):
    """Creates Nova servers with the key file's credentials."""

    reuse = False  # set by the run: recorded in the server's metadata

    def _prepare(self) -> None:
        self.pacing = Pacing.from_env(poll=5.0)
        self.in_flight = InFlight()
        self.names = Names()
        self.api = OpenStackApi(self.backend, self.project_dir, self.pacing, self.log)

    # -- the provider interface -----------------------------------------------

    def allocate(self, system: System, username: str, password: str) -> Machine:
        self.api.check_key()
        name = self.names.new()
        flavor = self.api.flavor(system.plan or DEFAULT_FLAVOR)
        networks = self.api.networks(system.networks or self.backend.networks)
        image = self.api.image(system.image)
        groups = system.groups or self.backend.groups
        params = self._server(system, name, flavor, networks, image, groups)
        try:
            created = self.api.do("POST", "compute", "/servers", {"server": params})
        except AllocationError as exc:
            raise AllocationError(f"cannot create instance: {exc}", fatal=True) from None
        ident = str((created.get("server") or {}).get("id", ""))
        server = f"{self.backend.name}:{system.name} ({name})"
        self.in_flight.add(ident, lambda: self._remove(ident))
        data = {
            "id": ident,
            "name": name,
            "flavor": flavor["name"],
            "networks": list(system.networks or self.backend.networks),
            "created": datetime.now(timezone.utc).isoformat(),
            "deleteontermination": params["block_device_mapping_v2"][0]["delete_on_termination"],
        }
        try:
            self._wait_provision(ident, server, system)
            address = self._address(ident, server, data["networks"])
            self.log(f"Waiting for {server} to boot at {address}...")
            self._wait_boot(ident, server)
        except AllocationError as exc:
            raise self.in_flight.give_up(
                ident,
                partial(self._remove, ident),
                exc,
                what=f"Openstack instance {name}",
                failed=f"cannot allocate new Openstack instance {name} ({ident})",
            ) from None
        self.in_flight.done(ident)
        machine = Machine(
            self.backend.name, system.name, address, username, password, name=name, data=data
        )
        machine.address = self._through_proxy(machine)
        return machine

    def discard(self, machine: Machine) -> None:
        self.api.check_key()
        self._remove(str(machine.data.get("id", "")))

    def interrupt(self) -> None:
        """The run is abandoned: delete the servers still being allocated."""
        self.in_flight.interrupt()

    def collect_garbage(self) -> None:
        """Delete servers tagged spread=true older than their halt-timeout."""
        self.api.check_key()
        collector = Collector(self.backend.halt_timeout, self.log, GC_WORDS)
        result = self.api.do("GET", "compute", "/servers/detail")
        for item in result.get("servers") or []:
            metadata = item.get("metadata") or {}
            if metadata.get("spread") != "true":
                continue
            name = str(item.get("name", ""))
            collector.collect(
                name,
                metadata,
                str(item.get("created", "")),
                partial(self._remove, str(item.get("id", ""))),
            )

    # -- allocation steps -----------------------------------------------------

    def _server(
        self,
        system: System,
        name: str,
        flavor: dict[str, Any],
        networks: list[str],
        image: dict[str, Any],
        groups: tuple[str, ...],
    ) -> dict[str, Any]:
        config = CLOUD_CONFIG.format(hash=password_hash(self.session_password), marker=READY_MARKER)
        tags = {"spread": "true", "owner": local_user().lower(), "reuse": str(self.reuse).lower()}
        if self.backend.halt_timeout:
            tags["halt-timeout"] = format_duration(self.backend.halt_timeout)
        storage = int(image.get("min_disk") or 0)
        if system.storage > 0:
            storage = system.storage // GIB
        auto_delete = self.backend.volume_auto_delete
        params: dict[str, Any] = {
            "name": name,
            "imageRef": image["id"],
            "flavorRef": flavor["id"],
            "networks": [{"uuid": network} for network in networks],
            "metadata": tags,
            "user_data": base64.b64encode(config.encode()).decode(),
            "config_drive": True,  # needed because of CVE-2024-6174
            "block_device_mapping_v2": [
                {
                    "boot_index": 0,
                    "source_type": "image",
                    "destination_type": "volume",
                    "volume_size": storage or 20,
                    "uuid": image["id"],
                    "delete_on_termination": True if auto_delete is None else auto_delete,
                }
            ],
        }
        if groups:
            params["security_groups"] = [{"name": group} for group in self.api.groups(groups)]
        if self.backend.location:
            params["availability_zone"] = self.backend.location
        return params

    def _wait_provision(self, ident: str, server: str, system: System) -> None:
        wait = system.wait_timeout or self.backend.wait_timeout
        deadline = time.monotonic() + (wait / 1e9 if wait else self.pacing.limit(PROVISION_LIMIT))
        while True:
            self.in_flight.sleep(self.pacing.poll)
            try:
                detail = self.api.do("GET", "compute", f"/servers/{ident}").get("server") or {}
            except AllocationError:
                detail = {}
            status = detail.get("status")
            fault = (detail.get("fault") or {}).get("message")
            if status and status != "BUILD":
                if status == "ACTIVE":
                    return
                raise AllocationError(
                    str(fault)
                    if status == "ERROR" and fault
                    else f"cannot use server with status {status}"
                )
            if time.monotonic() > deadline:
                if fault:
                    raise AllocationError(
                        f"timeout waiting for {server} to provision, error: {fault}"
                    )
                raise AllocationError(f"timeout waiting for {ident} to provision, status: {status}")

    def _address(self, ident: str, server: str, networks: list[str]) -> str:
        deadline = time.monotonic() + self.pacing.limit(ADDRESS_LIMIT)
        while True:
            try:
                detail = self.api.do("GET", "compute", f"/servers/{ident}").get("server") or {}
            except AllocationError as exc:
                raise AllocationError(
                    f"cannot get IP address for Openstack instance {server}: {exc}"
                ) from None
            addresses = detail.get("addresses") or {}
            order = [networks[0]] if networks else list(addresses)
            for network in order:
                for entry in addresses.get(network) or []:
                    if entry.get("addr"):
                        return str(entry["addr"])
            if time.monotonic() > deadline:
                raise AllocationError(f"timeout waiting for Openstack instance {server} IP address")
            self.in_flight.sleep(self.pacing.poll)

    def _wait_boot(self, ident: str, server: str) -> None:
        """Until the console shows the marker; a console that stays empty is not waited for."""
        start = time.monotonic()
        relog = start + 60
        while True:
            try:
                result = self.api.do(
                    "POST", "compute", f"/servers/{ident}/action", {"os-getConsoleOutput": {}}
                )
                output = str(result.get("output") or "")
            except AllocationError:
                output = ""
            if READY_MARKER in output:
                return
            now = time.monotonic()
            if not output and now - start > self.pacing.limit(CONSOLE_LIMIT):
                return  # no console: Spread goes on and lets SSH decide
            if now - start > self.pacing.limit(BOOT_LIMIT):
                raise AllocationError(
                    f"cannot find ready marker in console output for {server}: timeout reached"
                )
            if now > relog:
                self.log(f"Server {server} is taking a while to boot...")
                relog = now + 60
            self.in_flight.sleep(self.pacing.poll)

    def _through_proxy(self, machine: Machine) -> str:
        """The address to reach the machine at, through `proxy` when it is not reachable."""
        if not self.backend.proxy:
            return machine.address
        if not self.backend.cidr_port_rel:
            raise AllocationError("cidr and port relation is required when proxy is defined")
        try:
            with socket.create_connection((machine.address, 22), timeout=3):
                self.log(
                    f"Server reachable directly via SSH, skipping proxy mapping ({machine.name})"
                )
                return machine.address
        except (OSError, ValueError):
            pass
        try:
            mapped = proxy_address(machine.address, self.backend.proxy, self.backend.cidr_port_rel)
        except ValueError:
            raise AllocationError("invalid IPv4 addresses") from None
        if mapped is None:
            return machine.address
        self.log(f"Server connected through proxy {mapped}")
        return mapped

    def _remove(self, ident: str) -> None:
        if not ident:
            raise AllocationError("the server has no id")
        try:
            self.api.do("GET", "compute", f"/servers/{ident}")
        except ApiError as exc:
            if exc.status == 404:
                return  # gone already
            raise
        try:
            self.api.do("DELETE", "compute", f"/servers/{ident}")
        except AllocationError as exc:
            raise AllocationError(f"cannot remove openstack instance: {exc}") from None
        deadline = time.monotonic() + self.pacing.limit(REMOVE_LIMIT)
        while time.monotonic() < deadline:
            try:
                detail = self.api.do("GET", "compute", f"/servers/{ident}").get("server") or {}
            except AllocationError:
                return
            if detail.get("status") == "DELETED":
                return
            time.sleep(self.pacing.poll)
        self.log(f"cannot remove the openstack server {ident}: timeout reached")

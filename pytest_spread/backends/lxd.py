"""The lxd backend: containers of the local LXD daemon or an `lxc` remote (spec §12.1).

As Spread's `lxd.go`: the image is a cached local one whose properties match
the system's image name, else the `ubuntu:`/`images:` alias it translates to
(a name with `:` is used as given); containers are `spread-<n>-<system>` with
the counter in `~/.spread/lxd-count`, ephemeral unless reusing; the address is
the first inet address of `eth0`; root's password and sshd are set up through
exec. It talks to LXD's REST API with pylxd instead of parsing `lxc` tables.
"""

from __future__ import annotations

import fcntl
import os
import platform
import time
from pathlib import Path
from typing import Any

from pytest_spread.backends.base import AllocationError, Machine, ProviderBase
from pytest_spread.backends.lxdapi import LXD, LXDError, remotes, wait_until
from pytest_spread.interrupts import STOPPING
from pytest_spread.log import verbose
from pytest_spread.project.gocompat import go_quote
from pytest_spread.project.model import System

ADDRESS_WAIT = 30.0  # Spread's limit for a new container to get an address
ADDRESS_POLL = 0.1  # Spread polls every second; a container is usually up in two
DELETE_WAIT = 30.0  # for a container that is deleting itself (ephemeral, stopped)

DEB_ARCHES = ("amd64", "i386", "armel", "armhf", "arm64", "powerpc", "ppc64el", "s390x")
_MACHINE_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "i386": "i386",
    "i686": "i386",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "armhf",
    "ppc64le": "ppc64el",
    "s390x": "s390x",
    "ppc": "powerpc",
    "ppc64": "ppc64",
}

SSHD_SETUP = r"s/^\s*#\?\s*\(PermitRootLogin\|PasswordAuthentication\)\>.*/\1 yes/"


def deb_arch() -> str:
    """This computer's architecture in Debian's words (Spread's debArch)."""
    return _MACHINE_ARCH.get(platform.machine().lower(), "amd64")


class LXDProvider(ProviderBase):
    """Allocates LXD containers for the systems of an lxd backend."""

    reuse = False  # set by the registry under -reuse: containers are then not ephemeral

    def _prepare(self) -> None:
        self.address_wait = ADDRESS_WAIT
        self._servers: dict[str, LXD] = {}

    def server(self, remote: str) -> LXD:
        if remote not in self._servers:
            self._servers[remote] = LXD(remote)
        return self._servers[remote]

    # -- provider ------------------------------------------------------------

    def allocate(self, system: System, username: str, password: str) -> Machine:
        lxd = self.server(self.backend.location)
        try:
            source, shown = self.image_source(lxd, system)
        except LXDError as exc:
            raise AllocationError(str(exc), fatal=exc.unreachable) from None
        name = next_name(system)
        full = f"{self.backend.location}:{name}" if self.backend.location else name
        try:
            lxd.request(
                "post",
                "instances",
                {"name": name, "source": source, "ephemeral": not self.reuse, "type": "container"},
            )
            lxd.set_state(name, "start")
        except LXDError as exc:
            reason = f"{shown} not found" if exc.missing and "image" in str(exc).lower() else exc
            self._delete(lxd, name)
            raise AllocationError(f"cannot launch lxd container: {reason}", fatal=True) from None
        machine = Machine(
            self.backend.name, system.name, "", username, password, name=full, data={"name": full}
        )
        try:
            self.log(f"Waiting for lxd container {name} to have an address...")
            machine.address = self.address(lxd, name)
            self.tune_ssh(lxd, name)
        except LXDError as exc:
            self._delete(lxd, name)
            raise AllocationError(str(exc), fatal=exc.unreachable) from None
        return machine

    def discard(self, machine: Machine) -> None:
        remote, name = split_name(str(machine.data.get("name") or machine.name))
        try:
            delete(self.server(remote), name)
        except LXDError as exc:
            raise AllocationError(f"cannot discard lxd container: {exc}") from None

    def collect_garbage(self) -> None:
        """Spread's lxd backend collects nothing: ephemeral containers go when stopped."""

    # -- steps ---------------------------------------------------------------

    def image_source(self, lxd: LXD, system: System) -> tuple[dict[str, Any], str]:
        """The instance source for the system's image, and the image as Spread names it."""
        fingerprint = self.local_image(lxd, system)
        if fingerprint:
            return {"type": "image", "fingerprint": fingerprint}, fingerprint
        verbose(f"Cannot find cached LXD image for {system.label}.")
        image = remote_image_name(system.image)
        remote, _, alias = image.rpartition(":")
        if remote in ("", "local") or remote == lxd.remote:
            return {"type": "image", "alias": alias}, image
        server = remotes().get(remote)
        if server is None:
            raise LXDError(f"cannot find lxd remote {remote!r} for image {image}")
        protocol = "simplestreams" if remote in ("images", "ubuntu") else "lxd"
        source = {
            "type": "image",
            "mode": "pull",
            "server": server,
            "protocol": protocol,
            "alias": alias,
        }
        return source, image

    def local_image(self, lxd: LXD, system: System) -> str:
        """The fingerprint of a cached image matching the system (Spread's lxdLocalImage)."""
        remote, parts = image_parts(system.image)
        names = {address: name for name, address in remotes().items()}
        for image in lxd.get("images?recursion=1") or []:
            props = {k.lower(): str(v) for k, v in (image.get("properties") or {}).items()}
            server = (image.get("update_source") or {}).get("server", "")
            if server and names.get(server) != remote:
                continue
            if not server and props.get("remote", "") != remote:
                continue
            known = {props.get(k, "") for k in ("os", "label", "release", "version")}
            known.add(props.get("architecture", ""))
            aliases = props.get("aliases", "").split(",")
            if all(part in known or part in aliases for part in parts):
                fingerprint = str(image["fingerprint"])
                verbose(f"Using cached LXD image for {system.label}: {fingerprint}")
                return fingerprint
        return ""

    def address(self, lxd: LXD, name: str) -> str:
        """The container's first inet address on eth0, waited for like Spread."""
        deadline = time.monotonic() + self.address_wait
        while True:
            state = lxd.get(f"instances/{name}/state")
            if state is None:
                raise LXDError(f"cannot find lxd server {go_quote(name)}")
            eth0 = (state.get("network") or {}).get("eth0") or {}
            for addr in eth0.get("addresses") or []:
                if addr.get("family") == "inet" and addr.get("address"):
                    return str(addr["address"])
            if STOPPING.is_set():
                raise LXDError(f"lxd server {name}: interrupted while waiting for an address")
            if not wait_until(deadline, ADDRESS_POLL):
                raise LXDError(f"lxd server {name} has no address available")

    def tune_ssh(self, lxd: LXD, name: str) -> None:
        """Root login by password, as Spread's tuneSSH does through `lxc exec`."""
        steps: list[tuple[list[str], dict[str, str]]] = [
            (["sed", "-i", SSHD_SETUP, "/etc/ssh/sshd_config"], {}),
            # The password goes in the environment, never on a command line.
            (
                ["/bin/bash", "-c", 'echo "root:$SPREAD_ROOT_PASSWORD" | chpasswd'],
                {"SPREAD_ROOT_PASSWORD": self.session_password},
            ),
            (["killall", "-HUP", "sshd"], {}),
        ]
        for command, env in steps:
            result = lxd.execute(name, command, env)
            if result.status != 0 and command[0] != "killall":
                output = result.output.strip() or f"exit status {result.status}"
                raise LXDError(f"cannot prepare sshd in lxd container {go_quote(name)}: {output}")

    def _delete(self, lxd: LXD, name: str) -> None:
        try:
            delete(lxd, name)
        except LXDError as exc:
            self.log(f"Cannot discard lxd container {name}: {exc}")


def delete(lxd: LXD, name: str) -> None:
    """`lxc delete --force NAME`: stop it, then delete it (an ephemeral one goes by itself)."""
    try:
        lxd.set_state(name, "stop", force=True)
    except LXDError as exc:
        if exc.missing:
            return
        if "already stopped" not in str(exc).lower() and "not running" not in str(exc).lower():
            raise
    # An ephemeral container deletes itself once stopped, and may be doing so now:
    # try until it is gone, so that it is gone when discard returns.
    deadline = time.monotonic() + DELETE_WAIT
    while True:
        try:
            lxd.request("delete", f"instances/{name}")
            return
        except LXDError as exc:
            if exc.missing:
                return
            if exc.unreachable or not wait_until(deadline, 0.2):
                raise


def split_name(full: str) -> tuple[str, str]:
    """`remote:name` -> (remote, name); a plain name is the local daemon's."""
    remote, _, name = full.rpartition(":")
    return remote, name


def image_parts(image: str) -> tuple[str, list[str]]:
    """The remote and the words a cached image must match (Spread's lxdLocalImage)."""
    parts = image.split("/")
    remote = ""
    pair = parts[0].split(":")
    if len(pair) > 1:
        remote, parts[0] = pair[0], pair[1]
    elif len(parts) == 1:
        parts = parts[0].split("-")
    if not remote:
        if parts[0] == "ubuntu":
            parts, remote = parts[1:], "ubuntu"
        else:
            remote = "images"
    if not parts or parts[-1] not in DEB_ARCHES:
        parts.append(deb_arch())
    return remote, parts


def remote_image_name(image: str) -> str:
    """The `remote:alias` Spread launches when no cached image matches."""
    if ":" in image:
        return image
    parts = image.split("-")
    if parts[-1] not in DEB_ARCHES:
        parts.append(deb_arch())
    if parts[0] == "ubuntu":
        return "ubuntu:" + "/".join(parts[1:])
    return "images:" + "/".join(parts)


def next_name(system: System) -> str:
    """`spread-<n>-<system>`, n counted in ~/.spread/lxd-count under a lock."""
    path = Path(os.path.expanduser("~/.spread/lxd-count"))
    try:
        path.parent.mkdir(mode=0o755, exist_ok=True)
    except OSError as exc:
        raise AllocationError(f"cannot create ~/.spread/: {exc.strerror}") from None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise AllocationError(f"cannot open ~/.spread/lxd-count: {exc.strerror}") from None
    with os.fdopen(fd, "r+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        text = file.read().strip()
        try:
            count = int(text) if text else 0
        except ValueError:
            raise AllocationError(
                f"expected integer in ~/.spread/lxd-count, got {go_quote(text)}"
            ) from None
        count += 1
        file.seek(0)
        file.write(str(count))
        file.truncate()
    return f"spread-{count}-{system.name.replace('.', '-')}"

"""The reuse file: the machines a run holds, for `-reuse` and for cleaning up after a crash.

`.spread-reuse.yaml` with -reuse (or -discard), `.spread-reuse.<pid>.yaml`
with -reuse-pid, else `.spread-reuse.<own pid>.yaml`, deleted when the run
ends normally. The file is locked while the run lasts; every change is
written to `<file>.tmp`, renamed to `<file>.new`, copied into the locked file
and `.new` removed, so a crash at any point leaves a complete record.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from .backends.base import Machine


@dataclass
class ReuseFile:
    """The machines recorded in one reuse file (locked while open)."""

    path: Path
    machines: list[Machine] = field(default_factory=list)
    reserved: set[int] = field(default_factory=set)
    _stream: IO[str] | None = None

    @classmethod
    def open(cls, path: Path, log: Callable[[str], None]) -> ReuseFile:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        stream = os.fdopen(fd, "r+")
        _lock(stream, log)
        new = path.with_name(path.name + ".new")
        text = new.read_text() if new.exists() else stream.read()  # a crash left .new
        reuse = cls(path, _parse(text), _stream=stream)
        reuse._write()
        return reuse

    def add(self, machine: Machine) -> None:
        self.machines.append(machine)
        self._write()

    def remove(self, machine: Machine) -> None:
        self.machines = [m for m in self.machines if m is not machine]
        self._write()

    def reserve(self, backend: str, system: str) -> Machine | None:
        """A recorded machine of this system that no other worker took yet."""
        for machine in self.machines:
            if (machine.backend, machine.system) == (backend, system) and (
                id(machine) not in self.reserved
            ):
                self.reserved.add(id(machine))
                return machine
        return None

    def tracked(self, backend: str, system: str) -> bool:
        return any((m.backend, m.system) == (backend, system) for m in self.machines)

    def close(self, *, delete: bool) -> None:
        if self._stream is None:
            return
        if delete:
            self.path.unlink(missing_ok=True)
        self._stream.close()  # releases the lock
        self._stream = None

    def _write(self) -> None:
        assert self._stream is not None
        text = _dump(self.machines)
        tmp = self.path.with_name(self.path.name + ".tmp")
        new = self.path.with_name(self.path.name + ".new")
        with open(tmp, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, new)
        self._stream.seek(0)
        self._stream.truncate()
        self._stream.write(text)
        self._stream.flush()
        os.fsync(self._stream.fileno())
        new.unlink()


def reuse_path(project_dir: Path, *, reuse: bool, reuse_pid: int, discard: bool) -> Path:
    """Which reuse file a run uses (spec §9)."""
    if reuse_pid:
        return project_dir / f".spread-reuse.{reuse_pid}.yaml"
    if reuse or discard:
        return project_dir / ".spread-reuse.yaml"
    return project_dir / f".spread-reuse.{os.getpid()}.yaml"


def _lock(stream: IO[str], log: Callable[[str], None]) -> None:
    deadline = time.monotonic() + 3
    warned = False
    while True:
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() > deadline and not warned:
                log("Waiting for another process to release reuse lock.")
                warned = True
            time.sleep(0.1)


def _dump(machines: list[Machine]) -> str:
    if not machines:
        return ""
    backends: dict[str, Any] = {}
    for machine in machines:
        entry: dict[str, Any] = {}
        if machine.username:
            entry["username"] = machine.username
        entry["password"] = machine.password
        entry["address"] = machine.address
        if machine.data:
            entry["data"] = machine.data
        systems = backends.setdefault(machine.backend, {"systems": []})["systems"]
        systems.append({machine.system: entry})
    return yaml.safe_dump({"backends": backends}, default_flow_style=False, sort_keys=False)


def _parse(text: str) -> list[Machine]:
    data = yaml.safe_load(text) if text.strip() else None
    machines: list[Machine] = []
    for backend, body in ((data or {}).get("backends") or {}).items():
        for item in (body or {}).get("systems") or []:
            for system, entry in item.items():
                entry = entry or {}
                machines.append(
                    Machine(
                        str(backend),
                        str(system),
                        str(entry.get("address", "")),
                        str(entry.get("username", "")),
                        str(entry.get("password", "")),
                        name=str((entry.get("data") or {}).get("name", "")),
                        data=dict(entry.get("data") or {}),
                    )
                )
    return machines

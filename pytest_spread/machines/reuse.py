"""The reuse file: the machines a run holds, for `-reuse` and for cleaning up after a crash.

`.spread-reuse.yaml` with -reuse (or -discard), `.spread-reuse.<pid>.yaml`
with -reuse-pid, else `.spread-reuse.<own pid>.yaml`, deleted when the run
ends normally. Every change is written to `<file>.tmp`, renamed to
`<file>.new`, copied into the locked file and `.new` removed, so a crash at
any point leaves a complete record.

One process (the spread command, pytest without xdist) locks the file for
the whole run, as Spread does. The xdist nodes of a run share one file: each
change locks it, reads it again and writes it back, and every machine a node
holds carries the node's pid as `owner`, so that nodes never take the same
machine and the controller can tell which machines a crashed node left.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import yaml

from pytest_spread.backends.base import Machine

Key = tuple[str, str, str]
# libyaml when present: a run with many machines rewrites the file often.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def machine_key(machine: Machine) -> Key:
    return (machine.backend, machine.system, machine.address)


class ReuseFile:
    """The machines recorded in one reuse file."""

    def __init__(self, path: Path, stream: IO[str], log: Callable[[str], None], shared: bool):
        self.path = path
        self.shared = shared
        self.machines: list[Machine] = []
        self.owners: dict[Key, int] = {}  # shared files: which process holds a machine
        self._mine: set[Key] = set()  # the machines this process took or allocated
        self._stream: IO[str] | None = stream
        self._log = log
        self._thread_lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, log: Callable[[str], None], *, shared: bool = False) -> ReuseFile:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # it holds passwords
        reuse = cls(path, os.fdopen(fd, "r+"), log, shared)
        if shared:
            with reuse._update():
                pass  # recovers a .new a crash left behind
        else:
            _lock(reuse._file, log)
            reuse._read()
            reuse._write(_dump(reuse.machines, reuse.owners))
        return reuse

    @property
    def _file(self) -> IO[str]:
        assert self._stream is not None, "reuse file used after close"
        return self._stream

    def add(self, machine: Machine) -> None:
        with self._update():
            self.machines.append(machine)
            self._take(machine)

    def remove(self, machine: Machine) -> None:
        key = machine_key(machine)
        with self._update():
            self.machines = [m for m in self.machines if machine_key(m) != key]
            self.owners.pop(key, None)
            self._mine.discard(key)

    def release(self, machine: Machine) -> None:
        """Keep the machine recorded, free for the next run to reuse."""
        key = machine_key(machine)
        with self._update():
            self.owners.pop(key, None)
            self._mine.discard(key)

    def reserve(self, backend: str, system: str) -> Machine | None:
        """A recorded machine of this system that no other worker took yet."""
        with self._update():
            for machine in self.machines:
                if (machine.backend, machine.system) == (backend, system) and self._free(machine):
                    self._take(machine)
                    return machine
        return None

    def held(self) -> list[Machine]:
        """The machines this process took or allocated."""
        return [m for m in self.machines if machine_key(m) in self._mine]

    def holds(self, machine: Machine) -> bool:
        return machine_key(machine) in self._mine

    def tracked(self, backend: str, system: str) -> bool:
        return any((m.backend, m.system) == (backend, system) for m in self.machines)

    def orphans(self) -> list[Machine]:
        """Recorded machines whose owner process is gone (or that have none), now taken."""
        with self._update():
            found = [m for m in self.machines if self._free(m)]
            for machine in found:
                self._take(machine)
        return found

    def close(self, *, delete: bool) -> None:
        """Release the file; `delete` removes it, unless a shared file still lists machines."""
        if self._stream is None:
            return
        if delete and self.shared:
            with self._update():
                delete = not self.machines
        if delete:
            self.path.unlink(missing_ok=True)
        self._stream.close()  # releases the lock
        self._stream = None

    # -- internals --------------------------------------------------------------

    def _free(self, machine: Machine) -> bool:
        key = machine_key(machine)
        if key in self._mine:
            return False
        owner = self.owners.get(key)
        return owner is None or not _alive(owner)

    def _take(self, machine: Machine) -> None:
        key = machine_key(machine)
        self._mine.add(key)
        if self.shared:
            self.owners[key] = os.getpid()

    @contextmanager
    def _update(self) -> Iterator[None]:
        """Change the record under the thread lock; shared files are locked and read first."""
        with self._thread_lock:
            if not self.shared:
                yield
                self._write(_dump(self.machines, self.owners))
                return
            _lock(self._file, self._log)
            try:
                self._read()
                yield
                self._write(_dump(self.machines, self.owners))
            finally:
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)

    def _read(self) -> None:
        new = self.path.with_name(self.path.name + ".new")
        stream = self._file
        stream.seek(0)
        text = new.read_text() if new.exists() else stream.read()  # a crash left .new
        self.machines, self.owners = _parse(text)

    def _write(self, text: str) -> None:
        stream = self._file
        tmp = self.path.with_name(self.path.name + ".tmp")
        new = self.path.with_name(self.path.name + ".new")
        # It holds passwords: created private, as the file itself (0600).
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            os.fchmod(out.fileno(), 0o600)  # a .tmp left by an older run keeps its mode
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, new)
        stream.seek(0)
        stream.truncate()
        stream.write(text)
        stream.flush()
        os.fsync(stream.fileno())
        new.unlink()


def reuse_path(
    project_dir: Path, *, reuse: bool, reuse_pid: int, discard: bool, run_pid: int = 0
) -> Path:
    """Which reuse file a run uses (spec §9); `run_pid`: the run's main process."""
    if reuse_pid:
        return project_dir / f".spread-reuse.{reuse_pid}.yaml"
    if reuse or discard:
        return project_dir / ".spread-reuse.yaml"
    return project_dir / f".spread-reuse.{run_pid or os.getpid()}.yaml"


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie nobody reaped yet does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


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
            time.sleep(0.01)


def _dump(machines: list[Machine], owners: dict[Key, int]) -> str:
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
        owner = owners.get(machine_key(machine))
        if owner is not None:
            entry["owner"] = owner
        systems = backends.setdefault(machine.backend, {"systems": []})["systems"]
        systems.append({machine.system: entry})
    return yaml.dump(
        {"backends": backends}, Dumper=_DUMPER, default_flow_style=False, sort_keys=False
    )


def _parse(text: str) -> tuple[list[Machine], dict[Key, int]]:
    data = yaml.load(text, Loader=_LOADER) if text.strip() else None
    machines: list[Machine] = []
    owners: dict[Key, int] = {}
    for backend, body in ((data or {}).get("backends") or {}).items():
        for item in (body or {}).get("systems") or []:
            for system, entry in item.items():
                entry = entry or {}
                machine = Machine(
                    str(backend),
                    str(system),
                    str(entry.get("address", "")),
                    str(entry.get("username", "")),
                    str(entry.get("password", "")),
                    name=str((entry.get("data") or {}).get("name", "")),
                    data=dict(entry.get("data") or {}),
                )
                machines.append(machine)
                if isinstance(entry.get("owner"), int):
                    owners[machine_key(machine)] = entry["owner"]
    return machines, owners

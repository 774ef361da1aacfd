"""Where the command line keeps its machines: a root-only directory, records read without trust.

The directory must be a real directory (not a symlink), owned by the user that
runs the sandbox (root) and closed to everyone else (mode 0700); a directory
someone else prepared is refused, never used or repaired. Every record is
opened relative to it with O_NOFOLLOW, and a process named in a record is
signalled only through a pidfd, after its start time was checked.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import stat
from pathlib import Path
from typing import Any

DEFAULT_STATE_DIR = "/run/spread-sandbox"


def state_dir() -> Path:
    """The command line's state directory: $SPREAD_SANDBOX_DIR, or /run/spread-sandbox."""
    return Path(os.environ.get("SPREAD_SANDBOX_DIR") or DEFAULT_STATE_DIR)


STATE_DIR = state_dir()  # as this process started
RECORD = re.compile(r"^(\d+)\.json$")
WORKDIR = re.compile(r"^machine-[A-Za-z0-9_]+$")


class UnsafeStateError(Exception):
    """The state directory or a record in it cannot be trusted."""


def open_state_dir(path: Path, *, create: bool = True) -> int:
    """An fd of the state directory, made if missing; UnsafeStateError if it is not ours alone."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if os.path.islink(path):
            raise UnsafeStateError(f"{path} is a symbolic link") from None
        raise UnsafeStateError(f"cannot open {path}: {exc.strerror}") from None
    info = os.fstat(fd)
    problems = []
    if info.st_uid != os.geteuid():
        problems.append(f"owned by uid {info.st_uid}, not {os.geteuid()}")
    if stat.S_IMODE(info.st_mode) & 0o077:
        problems.append(f"mode {stat.S_IMODE(info.st_mode):04o}, not 0700")
    if problems:
        os.close(fd)
        raise UnsafeStateError(f"{path} is not safe to use: {', '.join(problems)}")
    return fd


def write_record(dir_fd: int, port: int, record: dict[str, Any]) -> None:
    """Create `<port>.json` (atomically, never through a symlink)."""
    temporary = f".{port}.json.new"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o600, dir_fd=dir_fd)
    with os.fdopen(fd, "w") as handle:
        json.dump(record, handle)
    os.rename(temporary, f"{port}.json", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


def read_record(dir_fd: int, name: str) -> dict[str, Any]:
    """A record, refused unless it is a regular file of ours."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    with os.fdopen(fd) as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise UnsafeStateError(f"record {name} is not a regular file of ours")
        record: dict[str, Any] = json.load(handle)
    if not WORKDIR.match(Path(record["workdir"]).name):
        raise UnsafeStateError(f"record {name} names a strange machine directory")
    return record


def remove_record(dir_fd: int, port: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(f"{port}.json", dir_fd=dir_fd)


def records(dir_fd: int) -> list[int]:
    """The ports of the recorded machines, in order."""
    return sorted(int(m.group(1)) for m in map(RECORD.match, os.listdir(dir_fd)) if m)


def start_time(pid: int) -> int:
    """A process's start time (clock ticks after boot): with its pid, it names the process."""
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rpartition(b")")[2].split()
    return int(fields[19])


def kill_verified(pid: int, started: int) -> bool:
    """SIGKILL the process `pid` only if it is the one that started at `started`."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        # The pidfd holds this very process: checking its start time now is final.
        if start_time(pid) != started:
            return False
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        return True
    except (FileNotFoundError, ProcessLookupError):
        return False
    finally:
        os.close(pidfd)

"""What the cloud backends share: names, image terms, timestamps, allocations in flight.

A machine being allocated is not yet in the reuse file, so nothing else
knows about it; `InFlight` does, and `interrupt()` (called when a run is
abandoned, a second Ctrl-C) deletes each of them at once and makes the
allocating threads give up at their next wait.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_spread.backends.base import AllocationError
from pytest_spread.interrupts import STOPPING
from pytest_spread.project.gocompat import go_quote, parse_duration

MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
NAME_RE = re.compile(r"^([a-z]{3})(\d\d)(\d\d)(\d\d)-(\d{6})$")
TERM_RE = re.compile(r"[a-z]+|[0-9](?:[0-9.]*[0-9])?")


def instance_name(now: datetime) -> str:
    """Spread's name for an instance created at `now` (UTC): `nov241834-123456`."""
    return f"{MONTHS[now.month - 1]}{now:%d%H%M}-{now.microsecond:06d}"


def is_spread_name(name: str) -> bool:
    """Whether the name parses back as one of Spread's (only those are ever deleted)."""
    match = NAME_RE.match(name)
    if not match or match.group(1) not in MONTHS:
        return False
    day, hour, minute = (int(match.group(i)) for i in (2, 3, 4))
    return 1 <= day <= 31 and hour < 24 and minute < 60


class Names:
    """Spread's instance names, never the same one twice in a process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = ""

    def new(self) -> str:
        with self._lock:
            while (name := instance_name(datetime.now(timezone.utc))) == self._last:
                time.sleep(0.000_01)
            self._last = name
        return name


def terms(text: str) -> list[str]:
    """Spread's search terms of an image name or description: words and numbers."""
    return TERM_RE.findall(text.lower())


def contains_terms(superset: list[str], subset: list[str]) -> bool:
    """Whether `subset` appears in `superset` in order (not necessarily adjacent)."""
    rest = iter(superset)
    return all(term in rest for term in subset)


def timestamp(text: str) -> datetime | None:
    """An API's ISO 8601 time (`Z`, an offset, or none for UTC); None when unreadable."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def older_than(created: str, limit_ns: int, now: datetime) -> bool:
    """Whether an instance created at `created` is older than `limit_ns` (Spread's -gc)."""
    moment = timestamp(created)
    return moment is not None and (now - moment).total_seconds() * 1e9 > limit_ns


@dataclass(frozen=True)
class GarbageWords:
    """How a backend's -gc words its messages (each of Spread's backends has its own)."""

    kind: str  # "Google server": "Ignoring bad Google server NAME halt-timeout label"
    checking: str | None = None  # "openstack instance ": "Checking openstack instance NAME..."
    cannot: str = ""  # "server ": "Cannot garbage collect server NAME"


@dataclass(frozen=True)
class Collector:
    """Spread's -gc of one backend's instances, at one moment, in the backend's words."""

    halt_timeout: int  # the backend's, in nanoseconds; a tag on an instance replaces it
    log: Callable[[str], None]
    words: GarbageWords
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def collect(
        self, name: str, tags: Mapping[str, Any], created: str, delete: Callable[[], None]
    ) -> None:
        """Delete one instance once older than its halt-timeout (zero keeps it).

        A failed deletion is a warning.
        """
        words, log = self.words, self.log
        timeout = self.halt_timeout
        if "halt-timeout" in tags:
            try:
                timeout = parse_duration(str(tags["halt-timeout"]).strip())
            except ValueError:
                log(
                    f"WARNING: Ignoring bad {words.kind} {name} halt-timeout label: "
                    f"{go_quote(str(tags['halt-timeout']))}"
                )
        if timeout == 0:
            return
        if words.checking is not None:
            log(f"Checking {words.checking}{name}...")
        if not older_than(created, timeout, self.now):
            return
        log(f"Server {name} exceeds halt-timeout. Shutting it down...")
        try:
            delete()
        except AllocationError as exc:
            log(f"WARNING: Cannot garbage collect {words.cannot}{name}: {exc}")


def local_user() -> str:
    """The user running Spread, as Spread finds it ($USER, $LOGNAME, then $HOME's name)."""
    for name in ("USER", "LOGNAME"):
        if os.environ.get(name):
            return os.environ[name]
    home = os.environ.get("HOME", "")
    return Path(home).name if home else ""


class InFlight:
    """Instances created but not yet handed out, each with how to delete it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, Callable[[], None]] = {}
        self._interrupted = threading.Event()

    def add(self, key: str, delete: Callable[[], None]) -> None:
        with self._lock:
            if self._interrupted.is_set():
                delete()
                raise AllocationError("interrupted", fatal=True)
            self._pending[key] = delete

    def done(self, key: str) -> None:
        """The instance is handed out (or being deleted): no longer ours to clean up."""
        with self._lock:
            self._pending.pop(key, None)

    def give_up(
        self,
        key: str,
        delete: Callable[[], None],
        error: AllocationError,
        *,
        what: str,
        failed: str | None,
    ) -> AllocationError:
        """The allocation of `key` failed with `error`: delete the instance; the error to raise.

        `what` names the instance ("Google server NAME") when deleting fails too;
        `failed` prefixes the error otherwise (None: the error as it is).
        """
        self.done(key)
        try:
            delete()
        except AllocationError:
            return AllocationError(
                f"cannot allocate or deallocate (!) new {what}: {error}", fatal=True
            )
        return AllocationError(f"{failed}: {error}" if failed else str(error), fatal=True)

    def check(self) -> None:
        """AllocationError when the run was interrupted (Ctrl-C) or abandoned."""
        if self._interrupted.is_set() or STOPPING.is_set():
            raise AllocationError("interrupted", fatal=True)

    def sleep(self, seconds: float) -> None:
        """Wait, or stop waiting with AllocationError when the run is interrupted.

        As in Spread, the first Ctrl-C ends the waits of allocations: the
        allocating thread then deletes its instance itself.
        """
        deadline = time.monotonic() + seconds
        while True:
            self.check()
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self._interrupted.wait(min(left, 0.05))

    def interrupt(self) -> None:
        """Delete every instance in flight; later waits of the allocating threads fail."""
        self._interrupted.set()
        with self._lock:
            pending = list(self._pending.values())
            self._pending.clear()
        for delete in pending:
            try:
                delete()
            except AllocationError:
                pass  # the allocating thread tries again when it fails

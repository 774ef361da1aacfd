"""What the cloud backends share: the local user's name, and allocations in flight.

A machine being allocated is not yet in the reuse file, so nothing else
knows about it; `InFlight` does, and `interrupt()` (called when a run is
abandoned, a second Ctrl-C) deletes each of them at once and makes the
allocating threads give up at their next wait.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

from pytest_spread.backends.base import AllocationError


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
        """The instance is handed out (or deleted): no longer ours to clean up."""
        with self._lock:
            self._pending.pop(key, None)
        self.check()

    def check(self) -> None:
        """AllocationError when the run was abandoned."""
        if self._interrupted.is_set():
            raise AllocationError("interrupted", fatal=True)

    def sleep(self, seconds: float) -> None:
        """Wait, or stop waiting with AllocationError when the run is abandoned."""
        if self._interrupted.wait(seconds):
            raise AllocationError("interrupted", fatal=True)

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

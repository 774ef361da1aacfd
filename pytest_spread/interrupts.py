"""Ctrl-C during a run: the first lets running jobs finish, the second discards at once.

First SIGINT (as Spread): no new job starts, the running script is not
interrupted, restores still run and the machines are discarded. Second
SIGINT: the running scripts are abandoned and the machines discarded without
restoring them. While machines are being discarded SIGINT only asks for that
hurry, so that no machine is left behind. SIGTERM (what a cancelled CI job
sends) counts as a Ctrl-C.

`STOPPING` is set by the first one: waits that are not part of a running job
(allocation retries, SSH waits) stop at once when it is set.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

FIRST_MESSAGE = (
    "Interrupted: finishing the running jobs, then restoring and discarding the machines "
    "(interrupt again to discard them at once)."
)
SIGNALS = (signal.SIGINT, signal.SIGTERM)

STOPPING = threading.Event()  # the run was interrupted: no new machine, no more waiting
_shield = threading.local()


class Interrupts:
    """Counts SIGINTs (and SIGTERMs) in the main thread; calls back on the first and second."""

    def __init__(
        self,
        on_first: Callable[[], None] = lambda: None,
        on_second: Callable[[], None] = lambda: None,
    ) -> None:
        self.count = 0
        self._on_first = on_first
        self._on_second = on_second
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        """No new job may start."""
        return self.count >= 1

    @property
    def hurried(self) -> bool:
        """Discard at once, skipping restores."""
        return self.count >= 2

    def hurry(self) -> None:
        """From now on, discard without restoring."""
        self.count = max(self.count, 2)

    def __enter__(self) -> Interrupts:
        STOPPING.clear()
        if threading.current_thread() is threading.main_thread():
            for number in SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        previous, self._previous = self._previous, {}
        for number, handler in previous.items():
            signal.signal(number, handler)
        if previous:
            STOPPING.clear()

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        STOPPING.set()
        if self.count == 1:
            self._on_first()
        elif self.count == 2:
            if getattr(_shield, "depth", 0):
                _shield.pending = self._on_second  # once the machine is recorded
            else:
                self._on_second()


@contextmanager
def shielded() -> Iterator[None]:
    """A second interrupt waits until the block ends (a machine is being allocated and
    recorded: interrupting it halfway would leave a machine nobody knows of)."""
    _shield.depth = getattr(_shield, "depth", 0) + 1
    try:
        yield
    finally:
        _shield.depth -= 1
        pending = getattr(_shield, "pending", None)
        if not _shield.depth and pending is not None:
            _shield.pending = None
            pending()


@contextmanager
def discarding(hurry: Callable[[], None]) -> Iterator[None]:
    """Discarding machines: SIGINT and SIGTERM call `hurry` (skip restores), not interrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        STOPPING.set()
        hurry()

    previous = {number: signal.signal(number, handle) for number in SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)

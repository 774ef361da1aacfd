"""Ctrl-C during a run: the first lets running jobs finish, the second discards at once.

First SIGINT (as Spread): no new job starts, the running script is not
interrupted, restores still run and the machines are discarded. Second
SIGINT: the running scripts are abandoned and the machines discarded without
restoring them. While machines are being discarded SIGINT only asks for that
hurry, so that no machine is left behind.
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


class Interrupts:
    """Counts SIGINTs in the main thread and calls back on the first and the second."""

    def __init__(
        self,
        on_first: Callable[[], None] = lambda: None,
        on_second: Callable[[], None] = lambda: None,
    ) -> None:
        self.count = 0
        self._on_first = on_first
        self._on_second = on_second
        self._previous: Any = None

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
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handle(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.count == 1:
            self._on_first()
        elif self.count == 2:
            self._on_second()


@contextmanager
def discarding(hurry: Callable[[], None]) -> Iterator[None]:
    """Discarding machines: SIGINT calls `hurry` (skip restores) instead of interrupting."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: hurry())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)

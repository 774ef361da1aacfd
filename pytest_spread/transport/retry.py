"""One way to wait for something that fails until it works: a deadline, a pause, a give-up rule.

Used for connecting to new and rebooted machines, waiting for ports and
retrying allocations, so that each wait counts time the same way. A wait
that is not part of a running job stops at once when the run is interrupted
(`interrupts.STOPPING`), instead of sleeping on until its deadline.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from pytest_spread.interrupts import STOPPING

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


def retry(
    attempt: Callable[[], T],
    *,
    errors: type[E] | tuple[type[E], ...],
    timeout: float,
    interval: float,
    on_error: Callable[[E], None] | None = None,
    give_up: Callable[[E], bool] | None = None,
    stop: threading.Event | None = STOPPING,
) -> T:
    """`attempt()` again every `interval` seconds until it returns or `timeout` has passed.

    Only `errors` are retried; the last one is raised once the deadline is
    reached, at once when `give_up(error)` says so, and as soon as `stop` is
    set (by default: the run was interrupted; None waits regardless).
    `on_error(error)` sees every retried failure (for progress messages). The
    pause never overshoots the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except errors as exc:
            left = deadline - time.monotonic()
            stopped = stop is not None and stop.is_set()
            if left <= 0 or stopped or (give_up is not None and give_up(exc)):
                raise
            if on_error is not None:
                on_error(exc)
            pause = min(interval, max(deadline - time.monotonic(), 0))
            if stop is None:
                time.sleep(pause)
            elif stop.wait(pause):
                raise


def stopped() -> bool:
    """True once the run was interrupted: waits give up, no new machine is allocated."""
    return STOPPING.is_set()

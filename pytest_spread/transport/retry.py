"""One way to wait for something that fails until it works: a deadline, a pause, a give-up rule.

Used for connecting to new and rebooted machines, waiting for ports and
retrying allocations, so that each wait counts time the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

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
) -> T:
    """`attempt()` again every `interval` seconds until it returns or `timeout` has passed.

    Only `errors` are retried; the last one is raised once the deadline is
    reached, or at once when `give_up(error)` says so. `on_error(error)` sees
    every retried failure (for progress messages). The pause never overshoots
    the deadline.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except errors as exc:
            left = deadline - time.monotonic()
            if left <= 0 or (give_up is not None and give_up(exc)):
                raise
            if on_error is not None:
                on_error(exc)
            time.sleep(min(interval, max(deadline - time.monotonic(), 0)))

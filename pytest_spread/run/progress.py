"""Live progress: what a run's machines did, counted for the summary line."""

from __future__ import annotations

import threading

from pytest_spread.backends.base import Machine
from pytest_spread.run.observers import RunObserver

EVENTS = ("allocated", "reused", "discarded", "kept")


class MachineCounts(RunObserver):
    """How many machines were allocated, reused, discarded and kept (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts = dict.fromkeys(EVENTS, 0)

    def machine_event(self, event: str, machine: Machine) -> None:
        with self._lock:
            self.counts[event] = self.counts.get(event, 0) + 1

    def to_dict(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def merge(self, counts: dict[str, int]) -> None:
        """Add another process's counts (an xdist node's)."""
        with self._lock:
            for event, count in counts.items():
                self.counts[event] = self.counts.get(event, 0) + count

    def summary(self) -> str:
        """`Machines: 2 allocated, 1 reused, 3 discarded` (and `, 1 kept` with -reuse)."""
        counts = self.to_dict()
        parts = [f"{counts[event]} {event}" for event in EVENTS[:3]]
        if counts["kept"]:
            parts.append(f"{counts['kept']} kept")
        return "Machines: " + ", ".join(parts)

"""The order in which machines take the jobs of their lane (spec §6.3, §6.4).

Higher priority first; the next job of the machine's current suite before
another suite (preferring suites no other machine is in); the samples of a
task in a row, lowest first; ties broken by a permutation of the lane's jobs
that the seed determines (seed 0: Spread's sorted order).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from .matrix import Job


class LaneQueue:
    """The pending jobs of one lane; `take` applies Spread's selection rules."""

    def __init__(self, jobs: Sequence[Job], seed: int = 0) -> None:
        queue = list(jobs)
        if seed:
            random.Random(seed).shuffle(queue)
        self._levels: dict[int, deque[Job]] = {}
        self._by_suite: dict[tuple[int, str], deque[Job]] = {}
        self._samples: dict[int, list[Job]] = {}  # id(task) -> pending, lowest sample last
        for job in queue:
            self._levels.setdefault(job.priority, deque()).append(job)
            self._by_suite.setdefault((job.priority, job.suite.name), deque()).append(job)
            if job.task.samples > 1:
                self._samples.setdefault(id(job.task), []).append(job)
        for pending in self._samples.values():
            pending.sort(key=lambda job: job.sample, reverse=True)
        self._priorities = sorted(self._levels, reverse=True)
        self._taken: set[int] = set()
        self.pending = len(queue)

    def remaining(self) -> list[Job]:
        """The jobs not taken yet."""
        return [
            job for level in self._levels.values() for job in level if id(job) not in self._taken
        ]

    def take(
        self, previous: Job | None, crowded: Callable[[str], bool] = lambda suite: False
    ) -> Job | None:
        """The next job for a machine whose last job was `previous` (None when empty).

        `crowded(suite)` tells whether other machines are in that suite already.
        """
        job = self._next_sample(previous) if previous is not None else None
        if job is None:
            job = self._choose(previous, crowded)
            if job is None:
                return None
            job = self._next_sample(job) or job
        self._taken.add(id(job))
        self.pending -= 1
        return job

    def _choose(self, previous: Job | None, crowded: Callable[[str], bool]) -> Job | None:
        while self._priorities:
            top = self._priorities[0]
            level = self._levels[top]
            if self._first(level) is None:
                self._priorities.pop(0)
                continue
            if previous is not None:
                same = self._first(self._by_suite.get((top, previous.suite.name)))
                if same is not None:
                    return same
            for job in level:
                if id(job) not in self._taken and not crowded(job.suite.name):
                    return job
            return self._first(level)
        return None

    def _first(self, jobs: deque[Job] | None) -> Job | None:
        while jobs:
            if id(jobs[0]) not in self._taken:
                return jobs[0]
            jobs.popleft()
        return None

    def _next_sample(self, job: Job) -> Job | None:
        pending = self._samples.get(id(job.task))
        while pending:
            if id(pending[-1]) not in self._taken:
                return pending[-1]
            pending.pop()
        return None


def lane_sequence(jobs: Sequence[Job], seed: int = 0) -> list[Job]:
    """The jobs of one lane in the order one machine would take them."""
    queue = LaneQueue(jobs, seed)
    order: list[Job] = []
    while (job := queue.take(order[-1] if order else None)) is not None:
        order.append(job)
    return order


def run_order(jobs: Iterable[Job], seed: int = 0) -> list[Job]:
    """All jobs, lane after lane (lanes in order of first appearance)."""
    lanes: dict[str, list[Job]] = {}
    for job in jobs:
        lanes.setdefault(job.lane, []).append(job)
    return [job for lane_jobs in lanes.values() for job in lane_sequence(lane_jobs, seed)]

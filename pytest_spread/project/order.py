"""The order in which machines take the jobs of their lane (spec §6.3, §6.4).

Higher priority first; the next job of the machine's current suite before
another suite (preferring suites no other machine is in); the samples of a
task in a row, lowest first; ties broken by a permutation of the lane's jobs
that the seed determines (seed 0: Spread's sorted order). When a previous
run's durations are known, longer jobs come first within those rules, which
keeps the lane's machines busy until close to the end (longest processing
time first). Jobs named in `first` (pytest's --ff: those that failed last
time) come before all others. With spread-plus' -order (`Hints.order`), the
order of the filter arguments replaces priority, seed and durations.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pytest_spread.project.filters import filter_order
from pytest_spread.project.matrix import Job


@dataclass(frozen=True)
class Hints:
    """What a previous run tells about the jobs: durations, and which to run first."""

    durations: Mapping[str, float] = field(default_factory=dict)
    first: frozenset[str] = frozenset()
    order: tuple[str, ...] | None = None
    """spread-plus' -order: the filter arguments the jobs are taken in the order of.

    Priorities, seeds and durations are left aside then; a machine still finishes
    its suite and a task's samples first, as in spread-plus.
    """


NO_HINTS = Hints()


class LaneQueue:
    """The pending jobs of one lane; `take` applies Spread's selection rules."""

    def __init__(self, jobs: Sequence[Job], seed: int = 0, hints: Hints = NO_HINTS) -> None:
        ordered = hints.order is not None
        queue = filter_order(jobs, hints.order or ()) if ordered else list(jobs)
        if seed and not ordered:
            random.Random(seed).shuffle(queue)
        self._estimate = estimator(queue, hints.durations)
        if hints.durations and not ordered:
            queue.sort(key=lambda job: -self._estimate(job))  # longest first (stable)
        self.work = sum(map(self._estimate, queue))  # estimated seconds left (or jobs)
        self._levels: dict[tuple[bool, int], deque[Job]] = {}
        self._by_suite: dict[tuple[tuple[bool, int], str], deque[Job]] = {}
        self._samples: dict[int, list[Job]] = {}  # id(task) -> pending, lowest sample last
        for job in queue:
            rank = (job.name in hints.first, 0 if ordered else job.priority)
            self._levels.setdefault(rank, deque()).append(job)
            self._by_suite.setdefault((rank, job.suite.name), deque()).append(job)
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
        self.work -= self._estimate(job)
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


def estimator(jobs: Sequence[Job], durations: Mapping[str, float]) -> Callable[[Job], float]:
    """A job's expected seconds: known, else the average of the known ones (else 1)."""
    known = [durations[job.name] for job in jobs if job.name in durations]
    average = sum(known) / len(known) if known else 1.0
    return lambda job: durations.get(job.name, average)


class LaneBoard:
    """The lanes' queues and the workers on them: who takes which job next (spec §6.3).

    A worker is anything hashable (a thread's index, an xdist node). Suites
    other workers of the lane are in count as crowded, so that a worker
    entering a new suite picks one nobody is in if it can.
    """

    def __init__(self, jobs: Iterable[Job], seed: int = 0, hints: Hints = NO_HINTS) -> None:
        self.seed = seed
        self.hints = hints
        self.queues: dict[str, LaneQueue] = {
            lane: LaneQueue(lane_jobs, seed, hints) for lane, lane_jobs in by_lane(jobs).items()
        }
        self.lane_of: dict[Hashable, str] = {}
        self.last: dict[Hashable, Job] = {}
        self._on_lane: dict[str, set[Hashable]] = {lane: set() for lane in self.queues}
        self.pending = sum(queue.pending for queue in self.queues.values())

    def join(self, worker: Hashable, lane: str) -> None:
        """The worker works on `lane` from now on."""
        self.leave(worker)
        self.lane_of[worker] = lane
        self._on_lane[lane].add(worker)

    def leave(self, worker: Hashable) -> None:
        lane = self.lane_of.pop(worker, None)
        if lane is not None:
            self._on_lane[lane].discard(worker)
        self.last.pop(worker, None)

    def workers_on(self, lane: str) -> int:
        return len(self._on_lane[lane])

    def take(self, worker: Hashable) -> Job | None:
        """The next job of the worker's lane for it, or None when the lane is done."""
        lane = self.lane_of[worker]
        crowded = {
            self.last[other].suite.name
            for other in self._on_lane[lane]
            if other != worker and other in self.last
        }
        job = self.queues[lane].take(self.last.get(worker), crowded.__contains__)
        if job is not None:
            self.last[worker] = job
            self.pending -= 1
        return job

    def requeue(self, lane: str, jobs: Sequence[Job]) -> None:
        """Jobs a lost worker had taken go back to their lane."""
        if jobs:
            remaining = self.queues[lane].remaining()
            self.queues[lane] = LaneQueue([*jobs, *remaining], self.seed, self.hints)
            self.pending += len(jobs)


def by_lane(jobs: Iterable[Job]) -> dict[str, list[Job]]:
    """The jobs grouped by lane, lanes in order of first appearance."""
    lanes: dict[str, list[Job]] = {}
    for job in jobs:
        lanes.setdefault(job.lane, []).append(job)
    return lanes


def workers_per_lane(jobs: Iterable[Job]) -> dict[str, int]:
    """How many machines each lane gets: min(the system's workers, its jobs) (spec §6.2)."""
    return {
        lane: min(lane_jobs[0].system.workers, len(lane_jobs))
        for lane, lane_jobs in by_lane(jobs).items()
    }


def lane_sequence(jobs: Sequence[Job], seed: int = 0, hints: Hints = NO_HINTS) -> list[Job]:
    """The jobs of one lane in the order one machine would take them."""
    queue = LaneQueue(jobs, seed, hints)
    order: list[Job] = []
    while (job := queue.take(order[-1] if order else None)) is not None:
        order.append(job)
    return order


def run_order(jobs: Iterable[Job], seed: int = 0, hints: Hints = NO_HINTS) -> list[Job]:
    """All jobs, lane after lane (lanes in order of first appearance)."""
    return [
        job for lane_jobs in by_lane(jobs).values() for job in lane_sequence(lane_jobs, seed, hints)
    ]

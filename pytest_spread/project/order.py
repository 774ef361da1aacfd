"""The order in which one machine takes the jobs of its lane (spec §6.3, §6.4).

Higher priority first; the next job of the current suite before another
suite; the samples of a task in a row, lowest first; ties broken by a
permutation of the lane's jobs that the seed determines (seed 0: Spread's
sorted order, which pytest users see at collection).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterable, Sequence

from .matrix import Job


def lane_sequence(jobs: Sequence[Job], seed: int = 0) -> list[Job]:
    """The jobs of one lane in the order one machine would take them (linear time)."""
    queue = list(jobs)
    if seed:
        random.Random(seed).shuffle(queue)
    order: list[Job] = []
    for priority in sorted({job.priority for job in queue}, reverse=True):
        _take_level([job for job in queue if job.priority == priority], order)
    return order


def _take_level(level: list[Job], order: list[Job]) -> None:
    """Append the jobs of one priority level: suite affinity first, samples in a row."""
    by_suite: dict[str, deque[Job]] = {}
    samples: dict[int, list[Job]] = {}  # id(task) -> pending samples, lowest last
    for job in level:
        by_suite.setdefault(job.suite.name, deque()).append(job)
        if job.task.samples > 1:
            samples.setdefault(id(job.task), []).append(job)
    for pending in samples.values():
        pending.sort(key=lambda job: job.sample, reverse=True)
    taken: set[int] = set()
    everything = deque(level)
    for _ in range(len(level)):
        previous = order[-1] if order else None
        chosen = _next_sample(samples, taken, previous) if previous is not None else None
        if chosen is None:
            same_suite = by_suite.get(previous.suite.name) if previous is not None else None
            first = _first_pending(same_suite, taken) or _first_pending(everything, taken)
            assert first is not None
            chosen = _next_sample(samples, taken, first) or first
        taken.add(id(chosen))
        order.append(chosen)


def _first_pending(jobs: deque[Job] | None, taken: set[int]) -> Job | None:
    while jobs:
        if id(jobs[0]) not in taken:
            return jobs[0]
        jobs.popleft()
    return None


def _next_sample(samples: dict[int, list[Job]], taken: set[int], job: Job) -> Job | None:
    """The lowest pending sample of `job`'s task, when it has samples."""
    pending = samples.get(id(job.task))
    while pending:
        if id(pending[-1]) not in taken:
            return pending[-1]
        pending.pop()
    return None


def run_order(jobs: Iterable[Job], seed: int = 0) -> list[Job]:
    """All jobs, lane after lane (lanes in order of first appearance)."""
    lanes: dict[str, list[Job]] = {}
    for job in jobs:
        lanes.setdefault(job.lane, []).append(job)
    return [job for lane_jobs in lanes.values() for job in lane_sequence(lane_jobs, seed)]

"""The order in which one machine takes the jobs of its lane (spec §6.3, §6.4).

Higher priority first; the next job of the current suite before another
suite; the samples of a task in a row, lowest first; ties broken by a
permutation of the lane's jobs that the seed determines (seed 0: Spread's
sorted order, which pytest users see at collection).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence

from .matrix import Job


def lane_sequence(jobs: Sequence[Job], seed: int = 0) -> list[Job]:
    """The jobs of one lane in the order one machine would take them."""
    queue = list(jobs)
    if seed:
        random.Random(seed).shuffle(queue)
    order: list[Job] = []
    suite = ""
    while queue:
        previous = order[-1] if order else None
        job = _next_sample(queue, previous) if previous else None
        if job is None:
            job = _choose(queue, suite)
            job = _next_sample(queue, job) or job
        queue.remove(job)
        order.append(job)
        suite = job.suite.name
    return order


def run_order(jobs: Iterable[Job], seed: int = 0) -> list[Job]:
    """All jobs, lane after lane (lanes in order of first appearance)."""
    lanes: dict[str, list[Job]] = {}
    for job in jobs:
        lanes.setdefault(job.lane, []).append(job)
    return [job for lane_jobs in lanes.values() for job in lane_sequence(lane_jobs, seed)]


def _choose(queue: list[Job], suite: str) -> Job:
    top = max(job.priority for job in queue)
    eligible = [job for job in queue if job.priority == top]
    return next((job for job in eligible if job.suite.name == suite), eligible[0])


def _next_sample(queue: list[Job], previous: Job) -> Job | None:
    """After (or instead of) a job of a sampled task: its lowest pending sample."""
    if previous.task.samples <= 1:
        return None
    same = [job for job in queue if job.task is previous.task]
    return min(same, key=lambda job: job.sample) if same else None

"""Run jobs without pytest, as the `spread` command does: the same pool and lifecycle.

Each job goes through the phases a pytest item does (prepare = setup,
execute = call, restore = teardown), so both front ends give the same outcomes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import SpreadError
from ..pool import MachinePool, PoolOptions, discard_machine, make_provider
from ..project.matrix import Job, Matrix
from ..project.order import run_order
from ..reuse import ReuseFile, reuse_path
from .outcomes import LIFECYCLE_OUTCOMES
from .report import Report


def run_jobs(
    matrix: Matrix, jobs: Sequence[Job], options: PoolOptions, seed: int, log: Callable[[str], None]
) -> Report:
    """Run `jobs` lane after lane on one machine per lane; every machine is discarded."""
    report = Report()
    order = run_order(jobs, seed)
    last = {job.lane: job for job in order}
    backends = sorted({job.backend.name for job in order})
    pool = MachinePool(matrix, backends, options, log, report)
    with _Interruptible() as interrupt:
        try:
            for index, job in enumerate(order):
                if interrupt.requested:
                    report.aborted += len(order) - index  # left in the queue, as in Spread
                    break
                _run_one(pool, job)
                if last[job.lane] is job:
                    pool.close_lane(job.lane)
        finally:
            pool.close()
    return report


class _Interruptible:
    """Spread's SIGINT: the running script goes on, no new job starts, restores still run.

    Later interrupts are ignored (spec §6.7); the machines are always discarded.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> _Interruptible:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: object) -> None:
        self.requested = True


def _run_one(pool: MachinePool, job: Job) -> None:
    try:
        worker = pool.worker_for(job)
    except LIFECYCLE_OUTCOMES:
        return  # recorded in the report and logged by the pool
    try:
        worker.prepare(job)
        worker.execute(job)
    except LIFECYCLE_OUTCOMES:
        pass  # recorded in the report and logged by the runner
    finally:
        try:
            worker.restore(job)
        except LIFECYCLE_OUTCOMES:
            pass


def discard_tracked(
    matrix: Matrix, jobs: Sequence[Job], options: PoolOptions, log: Callable[[str], None]
) -> None:
    """Spread's -discard: each worker of a selected system discards one tracked machine."""
    path = reuse_path(
        matrix.project.dir, reuse=options.reuse, reuse_pid=options.reuse_pid, discard=True
    )
    reuse = ReuseFile.open(path, log)
    try:
        lanes: dict[str, list[Job]] = {}
        for job in jobs:
            lanes.setdefault(job.lane, []).append(job)
        for lane_jobs in lanes.values():
            backend, system = lane_jobs[0].backend, lane_jobs[0].system
            for _ in range(min(system.workers, len(lane_jobs))):
                machine = reuse.reserve(backend.name, system.name)
                if machine is None:
                    break
                provider = make_provider(
                    backend, matrix.project.dir, machine.password, log, options.allocate_timeout
                )
                discard_machine(provider, machine, log)
                reuse.remove(machine)
    finally:
        reuse.close(delete=not options.reuse)


def collect_garbage(matrix: Matrix, options: PoolOptions, log: Callable[[str], None]) -> None:
    """Spread's -gc: every backend releases what earlier runs left behind; nothing runs."""
    for backend in matrix.project.backends.values():
        try:
            provider = make_provider(
                backend, matrix.project.dir, options.password, log, options.allocate_timeout
            )
            provider.collect_garbage()
        except SpreadError as exc:
            log(f'Error collecting garbage from "{backend.name}": {exc}')

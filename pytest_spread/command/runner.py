"""Run jobs without pytest, as the `spread` command does: the same pool and lifecycle.

Each job goes through the phases a pytest item does (prepare = setup,
execute = call, restore = teardown), so both front ends give the same outcomes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from pytest_spread.backends.registry import discard_machine, make_provider
from pytest_spread.errors import SpreadError
from pytest_spread.interrupts import FIRST_MESSAGE, Interrupts, discarding
from pytest_spread.log import add_secret
from pytest_spread.machines.jobs import JobRun
from pytest_spread.machines.pool import MachinePool, NoMachine
from pytest_spread.machines.reuse import ReuseFile
from pytest_spread.machines.source import MachineSource, PoolOptions
from pytest_spread.project.matrix import Job, Matrix
from pytest_spread.project.order import NO_HINTS, Hints, LaneBoard, workers_per_lane
from pytest_spread.run.report import Report


def run_jobs(
    matrix: Matrix,
    jobs: Sequence[Job],
    options: PoolOptions,
    seed: int,
    log: Callable[[str], None],
    hints: Hints = NO_HINTS,
    timings: dict[str, tuple[float, float]] | None = None,
) -> Report:
    """Run `jobs` as Spread does: min(workers, jobs) workers per system, all at once.

    Each worker is a thread with its own machine, bound to its lane; they take
    the lane's jobs by Spread's rules (LaneBoard). Every machine is discarded
    at the end unless reuse was asked, also after Ctrl-C (see interrupts.py).
    Each job's start and end (time.monotonic) go into `timings`, when given.
    """
    board = LaneBoard(jobs, seed, hints)
    source = MachineSource(matrix, sorted({job.backend.name for job in jobs}), options, log)
    report = Report()
    lock = threading.Lock()
    interrupts = Interrupts(on_first=lambda: log(FIRST_MESSAGE))

    def work(worker: tuple[str, int]) -> None:
        pool = MachinePool(source, Report())
        try:
            while not interrupts.requested:
                with lock:
                    job = board.take(worker)
                if job is None:
                    break
                run = JobRun(pool, job)
                try:
                    run.start(abort=False)
                except NoMachine:
                    # As in Spread, a worker without a machine stops (the error is
                    # logged); its job stays queued for the lane's other workers.
                    with lock:
                        board.requeue(worker[0], [job])
                    break
                start = time.monotonic()
                run.run()
                if timings is not None:
                    timings[job.name] = (start, time.monotonic())
        finally:
            pool.close(restore=not interrupts.hurried)
            with lock:
                board.leave(worker)
                report.merge(pool.report)

    threads = []
    for lane, count in workers_per_lane(jobs).items():
        for index in range(count):
            board.join((lane, index), lane)
            threads.append(threading.Thread(target=work, args=((lane, index),), daemon=True))
    with interrupts:
        try:
            for thread in threads:
                thread.start()
            for thread in threads:  # join() returns as the thread ends; Ctrl-C checked meanwhile
                while not interrupts.hurried and thread.is_alive():
                    thread.join(0.05)
        finally:
            with discarding(hurry=lambda: None):
                if interrupts.hurried:
                    source.abandon()  # the workers' scripts die with their machines
                source.close()
    report.aborted += board.pending  # left in the queue, as in Spread
    for queue in board.queues.values():
        for job in queue.remaining():
            options.run.observer.job_aborted(job, "left in the queue")
    return report


def discard_tracked(
    matrix: Matrix, jobs: Sequence[Job], options: PoolOptions, log: Callable[[str], None]
) -> None:
    """Spread's -discard: each worker of a selected system discards one tracked machine."""
    add_secret(options.password)  # the discard scripts see it as $SPREAD_PASSWORD
    path = options.reuse_path(matrix.project.dir, discard=True)
    reuse = ReuseFile.open(path, log)
    try:
        any_job = {job.lane: job for job in jobs}  # a lane's jobs share backend and system
        for lane, count in workers_per_lane(jobs).items():
            backend, system = any_job[lane].backend, any_job[lane].system
            for _ in range(count):
                machine = reuse.reserve(backend.name, system.name)
                if machine is None:
                    break
                provider = make_provider(
                    matrix.project.backends[backend.name],  # with its key evaluated
                    matrix.project.dir,
                    machine.password,
                    log,
                    options.allocate_timeout,
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

"""One job through its phases on a worker's machines: the phase driver both front ends share.

prepare, execute and restore are a pytest item's setup, call and teardown,
and the `spread` command runs them in a row. Spread's outcomes
(`LIFECYCLE_OUTCOMES`) reach the caller already recorded in the report.
"""

from __future__ import annotations

import time

from pytest_spread.machines.pool import MachinePool, NoMachine
from pytest_spread.project.matrix import Job
from pytest_spread.run.outcomes import LIFECYCLE_OUTCOMES, JobAborted, LevelRestoreFailed
from pytest_spread.run.worker import MachineWorker


class JobRun:
    """A job on the machine of its lane, in a worker's pool."""

    def __init__(self, pool: MachinePool, job: Job) -> None:
        self.pool = pool
        self.job = job
        self.worker: MachineWorker | None = None
        # Getting the machine ready (allocating it, or leaving another lane) is not
        # the job's own time: it is left out of the durations that order later runs.
        self.machine_seconds = 0.0

    @property
    def address(self) -> str:
        return self.worker.runner.machine.address if self.worker is not None else ""

    def start(self, *, abort: bool = True) -> None:
        """Get the lane's machine (allocating it first if needed).

        Without one, the job is aborted (JobAborted, counted in the report), or
        with `abort=False` NoMachine is raised: the `spread` command leaves the
        job to the lane's other workers, as Spread does.
        """
        started = time.perf_counter()
        try:
            self.worker = self.pool.machine_for(self.job)
        except NoMachine as exc:
            if not abort:
                raise
            self.pool.report.aborted += 1
            self.pool.source.options.run.observer.job_aborted(self.job, str(exc))
            raise JobAborted(str(exc)) from None
        self.machine_seconds = time.perf_counter() - started

    def prepare(self) -> None:
        """Every level up to and including the task prepare, on the started machine."""
        assert self.worker is not None, "start() first"
        try:
            self.worker.prepare(self.job)
        except JobAborted as exc:
            self.pool.source.options.run.observer.job_aborted(self.job, str(exc))
            raise

    def execute(self) -> str:
        """The task's execute; its output when it passed."""
        return self.worker.execute(self.job) if self.worker is not None else ""

    def restore(self, *, last_of_lane: bool = False) -> None:
        """Artifacts and the task restore; after the lane's last job its machine goes too."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        try:
            worker.restore(self.job)
        finally:
            failures = self.pool.close_lane(self.job.lane) if last_of_lane else []
        if failures:  # Spread fails the run; under pytest, this teardown
            raise LevelRestoreFailed("\n".join(failures))

    def run(self) -> None:
        """Every phase in a row on the started machine, as the `spread` command runs a job.

        Outcomes are not raised: the worker has reported and logged them.
        """
        try:
            self.prepare()
            self.execute()
        except LIFECYCLE_OUTCOMES:
            pass  # recorded in the report and logged by the worker
        finally:
            try:
                self.restore()
            except LIFECYCLE_OUTCOMES:
                pass

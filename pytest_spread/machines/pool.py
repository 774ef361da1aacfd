"""One worker's machines: one lane (backend:system) at a time, replaced when broken.

The machines come from the run's MachineSource (machines.py).
"""

from __future__ import annotations

from pytest_spread.errors import SpreadError
from pytest_spread.machines.source import Lane, MachineSource
from pytest_spread.project.matrix import Job
from pytest_spread.run.report import Report
from pytest_spread.run.worker import MachineWorker

MAX_REPLACEMENTS = 2  # new machines a lane may get after breaking one


class NoMachine(SpreadError):
    """The worker has no machine for the lane, and will get none."""


class MachinePool:
    """One worker's machines: one lane (backend:system) at a time, allocated on first need.

    `close()` restores and discards everything this worker allocated, whatever
    happened before.
    """

    def __init__(self, source: MachineSource, report: Report | None = None) -> None:
        self.source = source
        self.log = source.log
        self.report = report if report is not None else Report()
        self._lanes: dict[str, Lane] = {}
        self._failed_lanes: dict[str, str] = {}
        self._replacements: dict[str, int] = {}

    def machine_for(self, job: Job) -> MachineWorker:
        """The worker of the job's lane, allocating its machine first if needed.

        A job of another lane means the previous lane is done for this worker
        (one lane at a time, see scheduling.py): its machine goes first.
        NoMachine when the lane has none and will get none.
        """
        lane = self._lanes.get(job.lane)
        if lane is not None:
            if not lane.worker.broken or lane.worker.abend:
                return lane.worker
            self._replace(job.lane, lane)
        for other in list(self._lanes):
            self.close_lane(other)
        if job.lane in self._failed_lanes:
            raise NoMachine(self._failed_lanes[job.lane])
        try:
            lane = self.source.start(job, self.report)
        except SpreadError as exc:
            self._failed_lanes[job.lane] = str(exc)
            raise NoMachine(str(exc)) from None
        self._lanes[job.lane] = lane
        return lane.worker

    def _replace(self, name: str, lane: Lane) -> None:
        """A broken machine: restore and discard it; the lane gets a new one, a few times.

        Spread leaves the lane's remaining jobs to its other workers or aborts
        them (docs/deviations.md).
        """
        reason = lane.worker.broken
        self.close_lane(name)
        self._replacements[name] = self._replacements.get(name, 0) + 1
        if self._replacements[name] > MAX_REPLACEMENTS:
            self._failed_lanes[name] = (
                f"{reason} (no more machines for {name} after {MAX_REPLACEMENTS} replacements)"
            )
            self.log(f"Giving up on {name}: {self._failed_lanes[name]}")
        else:
            self.log(f"Replacing {lane.machine}: {reason}")

    def close_lane(self, name: str, *, restore: bool = True) -> list[str]:
        """The lane has no more jobs: restore its levels and discard its machine.

        Returns why outer restores failed (they are in the report too).
        """
        lane = self._lanes.pop(name, None)
        if lane is None:
            return []
        failures: list[str] = []
        try:
            if restore:
                failures = lane.worker.finish()
        except SpreadError as exc:
            self.log(f"Error restoring {lane.machine}: {exc}")
        finally:
            self._discard(lane)
        return failures

    def _discard(self, lane: Lane) -> None:
        """Close the lane's connections and discard its machine; errors are logged."""
        try:
            # After a reboot the runner holds a newer connection than the lane's first.
            lane.worker.runner.connection.close()
            lane.connection.close()
            self.source.discard(lane.machine)
        except Exception as exc:  # whatever it is, the run and the other lanes go on
            self.log(f"Error discarding {lane.machine}: {exc}")

    def close(self, *, restore: bool = True) -> None:
        """Restore (unless told not to) and discard every machine; never raises.

        Every lane is tried, whatever went wrong with the one before.
        """
        for name in list(self._lanes):
            machine = self._lanes[name].machine
            try:
                self.close_lane(name, restore=restore)
            except Exception as exc:  # a restore that broke unexpectedly: the others still go
                self.log(f"Error restoring {machine}: {exc}")

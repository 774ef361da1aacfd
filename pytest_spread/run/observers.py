"""Who hears what a run's machines do: JSON results, per-job logs and live progress.

A `RunObserver` is told about every script a machine runs (its verb,
context, job and machine), every message Spread logs for that machine, jobs
that are aborted or skipped, and machines allocated, reused and discarded.
The base class hears nothing; `Observers` passes everything to several.
Observers may be called from several threads (the `spread` command's
workers) and must not raise.
"""

from __future__ import annotations

from pytest_spread.backends.base import Machine
from pytest_spread.project.matrix import Job


class RunObserver:
    """Hears a run's scripts and jobs; this base ignores them."""

    def script_started(self, verb: str, context: str, job: Job, machine: Machine) -> None:
        """A script (prepare, execute, restore) of `context` started on `machine`."""

    def script_ended(
        self, verb: str, context: str, job: Job, machine: Machine, output: str, ok: bool
    ) -> None:
        """It ended: its output (Spread's error text when it failed) and whether it passed."""

    def message(self, machine: Machine, text: str, job: Job | None = None) -> None:
        """Spread logged `text` for the script running on `machine` (or for `job` there)."""

    def job_aborted(self, job: Job, reason: str) -> None:
        """The job did not run (an outer level failed, no machine, the run stopped)."""

    def job_skipped(self, job: Job, reason: str) -> None:
        """The job was skipped by a task `skip:` condition."""

    def machine_event(self, event: str, machine: Machine) -> None:
        """A machine was `allocated`, `reused`, `discarded` or `kept` (for reuse)."""


NO_OBSERVER = RunObserver()


class Observers(RunObserver):
    """Several observers heard as one."""

    def __init__(self, *observers: RunObserver) -> None:
        self.observers = [observer for observer in observers if observer is not NO_OBSERVER]

    def script_started(self, verb: str, context: str, job: Job, machine: Machine) -> None:
        for observer in self.observers:
            observer.script_started(verb, context, job, machine)

    def script_ended(
        self, verb: str, context: str, job: Job, machine: Machine, output: str, ok: bool
    ) -> None:
        for observer in self.observers:
            observer.script_ended(verb, context, job, machine, output, ok)

    def message(self, machine: Machine, text: str, job: Job | None = None) -> None:
        for observer in self.observers:
            observer.message(machine, text, job)

    def job_aborted(self, job: Job, reason: str) -> None:
        for observer in self.observers:
            observer.job_aborted(job, reason)

    def job_skipped(self, job: Job, reason: str) -> None:
        for observer in self.observers:
            observer.job_skipped(job, reason)

    def machine_event(self, event: str, machine: Machine) -> None:
        for observer in self.observers:
            observer.machine_event(event, machine)


def level_of(context: str, job: Job) -> str:
    """The level of a step, `project`, `suite` or `task`, from its context as spread-plus tells.

    A backend's scripts run in the lane's context, like the project's, so they
    count as the project level (spread-plus' report.go does the same).
    """
    if context.endswith("/"):
        return "suite"
    if context == job.lane:
        return "project"
    return "task"

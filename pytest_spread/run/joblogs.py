"""Per-job log files (`-logs DIR`): everything that ran for a job on its machine.

A job's file, `DIR/<job name, / as _>.log`, holds Spread's messages for it
with their times and the full output of each of its scripts: its task
prepare, execute and restore, the suite and project scripts its machine ran
for it, and, copied in first, the project, backend and suite prepares that
ran on that machine for earlier jobs and that this job relies on. A suite or
project restore goes into the file of the job it ran after. Under xdist
every node writes the files of its own jobs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pytest_spread.backends.base import Machine
from pytest_spread.project.matrix import Job
from pytest_spread.run.observers import RunObserver, level_of


def log_name(job: Job) -> str:
    """The file name of a job's log."""
    return job.name.replace("/", "_") + ".log"


def _stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class _Machine:
    """What one machine ran: the job it runs for, and the outer prepares still in effect."""

    machine: Machine
    job: Job | None = None
    level: str = ""  # the level of the script running now
    outer: list[str] = field(default_factory=list)  # project and backend prepares
    suite: list[str] = field(default_factory=list)  # the current suite's prepare
    suite_name: str = ""


class JobLogs(RunObserver):
    """Writes one log file per job into `directory` (thread-safe)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self._lock = threading.Lock()
        self._machines: dict[int, _Machine] = {}
        self._started: set[str] = set()  # jobs whose file this run has begun

    def path(self, job: Job) -> Path:
        return self.directory / log_name(job)

    def script_started(self, verb: str, context: str, job: Job, machine: Machine) -> None:
        level = level_of(context, job)
        with self._lock:
            state = self._machine(machine)
            if state.job is not job:
                self._switch(state, job, entering_suite=level == "suite" and verb == "prepare")
            state.level = level if verb == "prepare" else ""
            if state.level == "suite":
                state.suite, state.suite_name = [], job.suite.name

    def script_ended(
        self, verb: str, context: str, job: Job, machine: Machine, output: str, ok: bool
    ) -> None:
        with self._lock:
            state = self._machine(machine)
            if ok and output.strip():
                self._write(state, f"-----\n{output.strip()}\n-----\n")
            state.level = ""

    def message(self, machine: Machine, text: str, job: Job | None = None) -> None:
        with self._lock:
            state = self._machines.get(id(machine))
            if job is not None:  # a Python test's commands, also before its first script
                state = self._machine(machine)
                if state.job is not job:
                    self._switch(state, job, entering_suite=False)
            if state is not None and state.job is not None:
                self._write(state, f"{_stamp()} {text.strip()}\n")

    def job_aborted(self, job: Job, reason: str) -> None:
        with self._lock:
            self._append(job, f"{_stamp()} Aborted {job.name}: {reason}\n")

    def job_skipped(self, job: Job, reason: str) -> None:
        with self._lock:
            self._append(job, f"{_stamp()} Skipped {job.name}: {reason}\n")

    # -- internals (with the lock held) -----------------------------------------

    def _machine(self, machine: Machine) -> _Machine:
        state = self._machines.get(id(machine))
        if state is None or state.machine is not machine:
            state = self._machines[id(machine)] = _Machine(machine)
        return state

    def _switch(self, state: _Machine, job: Job, *, entering_suite: bool) -> None:
        """The machine runs for `job` now: its file starts with what it relies on."""
        state.job = job
        inherited = list(state.outer)
        if not entering_suite and state.suite_name == job.suite.name:
            inherited += state.suite
        text = f"{_stamp()} Running {job.name} on {state.machine} at {state.machine.address}\n"
        if inherited:
            text += "----- ran on this machine before, for earlier jobs -----\n"
            text += "".join(inherited)
            text += "----- this job -----\n"
        self._append(job, text)

    def _write(self, state: _Machine, text: str) -> None:
        if state.job is not None:
            self._append(state.job, text)
        if state.level == "project":
            state.outer.append(text)
        elif state.level == "suite":
            state.suite.append(text)

    def _append(self, job: Job, text: str) -> None:
        mode = "a" if job.name in self._started else "w"
        self._started.add(job.name)
        with self.path(job).open(mode, encoding="utf-8") as file:
            file.write(text)

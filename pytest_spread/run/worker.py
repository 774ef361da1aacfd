"""Spread's per-machine lifecycle (spec §4.5), driven one job at a time.

For each job: `prepare(job)` (suite switch, project/backend/suite prepare on
first need, then the task prepare), `execute(job)`, `restore(job)` (artifacts,
task restore); `finish()` runs the outer restores. Under pytest these are an
item's setup, call and teardown, and the end of the session. Example on one
machine, jobs a1, a2 of suite a/ then b1 of b/:

    prepare(a1): project prepare, backend prepare, suite a/ prepare, task prepare
    prepare(a2): task prepare            (same suite: nothing else)
    prepare(b1): suite a/ restore, suite b/ prepare, task prepare
    finish():    suite b/ restore, backend restore, project restore
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

from pytest_spread.project.matrix import Job
from pytest_spread.project.model import Project, Skip, Suite, Timeouts
from pytest_spread.run import artifacts
from pytest_spread.run.execute import ScriptFailed, ScriptRunner, Step
from pytest_spread.run.observers import NO_OBSERVER, RunObserver
from pytest_spread.run.outcomes import (
    ArtifactsFailed,
    JobAborted,
    JobSkipped,
    TaskFailed,
    TaskPrepareFailed,
    TaskRestoreFailed,
)
from pytest_spread.run.report import Report
from pytest_spread.run.shell import ShellModes
from pytest_spread.transport import scripts
from pytest_spread.transport.ssh import RemoteError
from pytest_spread.transport.timeouts import limits


@dataclass
class RunOptions:
    """The parts of a run's options the lifecycle looks at."""

    restore_only: bool = False
    abend: bool = False
    repeat: int = 0
    total: int = 0  # selected jobs, for "(n/total)"
    artifacts: Path | None = None  # where to fetch task artifacts (Spread's -artifacts)
    shells: ShellModes = field(default_factory=ShellModes)  # -debug, -shell...
    observer: RunObserver = NO_OBSERVER  # JSON results, per-job logs, progress


@dataclass
class _Current:
    job: Job
    debug: str  # the composite task debug, cleared once it has run


_sequence = itertools.count(1)


def progress(total: int) -> str:
    """The ` (n/total)` of an execute's message; one sequence per process."""
    return f" ({next(_sequence)}/{total})"


class MachineWorker:
    """The state of one machine as jobs come and go (Spread's worker loop)."""

    def __init__(self, runner: ScriptRunner, report: Report, options: RunOptions) -> None:
        self.runner = runner
        self.report = report
        self.options = options
        if options.observer is not NO_OBSERVER:
            runner.observe(options.observer)
        self.inside_project = False
        self.inside_backend = False
        self.inside_suite: Suite | None = None
        self.broken = ""  # why this machine takes no more jobs (Spread's badProject)
        self.bad_suites: dict[str, str] = {}
        self.skipped_suites: dict[str, str] = {}  # suite name -> reason (spread-plus skip:)
        self.abend = False
        self.last: Job | None = None
        self.current: _Current | None = None

    # -- a job's phases ------------------------------------------------------

    def prepare(self, job: Job) -> None:
        """Everything up to and including the task prepare (pytest setup)."""
        self.current = None
        if self.broken or self.abend:
            self._abort(self.broken or "stopped at the first failure (-abend)")
        if job.suite.name in self.bad_suites:
            self._abort(self.bad_suites[job.suite.name])
        if job.suite.name in self.skipped_suites:
            self._skip(job, self.skipped_suites[job.suite.name], announce=False)
        self._leave_suite_for(job)
        self.last = job
        self._enter_outer_levels(job)
        reason = self._skip_reason(job, job.task.skip, job.name, self._task_levels(job))
        if reason:
            self._skip(job, reason)
        debug = task_script("debug", job, self.runner.matrix.project)
        self.current = _Current(job, debug)
        if self.options.restore_only:
            return
        self._task_prepare(job)

    def execute(self, job: Job) -> str:
        """The execute, repeated `repeat` more times with restore and prepare between (call).

        Returns the successful executes' output (Spread shows it only with -vv).
        """
        outputs: list[str] = []
        if self.options.restore_only or self.current is None:
            return ""
        for iteration in range(self.options.repeat + 1):
            if iteration:
                self._task_restore(job)
                self._task_prepare(job)
            step = self._task_step("execute", job, job.task.execute)
            step.progress = f" ({next(_sequence)}/{self.options.total})"
            try:
                outputs.append(self.runner.run(step))
            except ScriptFailed as failure:
                self.current.debug = ""
                self.report.failed_tasks.append(job.report_name)
                self._failed()
                raise TaskFailed(failure.line) from None
            self.report.successful += 1
        return "\n".join(output for output in outputs if output)

    def restore(self, job: Job) -> None:
        """The task restore after any outcome of prepare or execute (teardown)."""
        current, self.current = self.current, None
        if current is None or self.abend:
            return
        self.current = current
        fetch_failure: ArtifactsFailed | None = None
        try:
            if self.options.artifacts and job.task.artifacts and not self.options.restore_only:
                try:
                    self._fetch_artifacts(job, self.options.artifacts)
                except ArtifactsFailed as exc:
                    fetch_failure = exc
                    self.broken = str(exc)  # Spread stops after this job
            self._task_restore(job)
        finally:
            self.current = None
        if fetch_failure is not None:
            raise fetch_failure

    def finish(self) -> list[str]:
        """Restore the suite, backend and project levels this machine entered.

        Returns why each failed restore failed (also recorded in the report).
        """
        last = self.last
        if self.abend or last is None:
            return []
        failures = []
        for level, entered in (
            ("suite", self.inside_suite is not None),
            ("backend", self.inside_backend),
            ("project", self.inside_project),
        ):
            if entered:
                self._level_artifacts(level, last)
            failure = entered and self._level(level, "restore", last)
            if failure:
                failures.append(f"{level} restore failed on {self.runner.machine}: {failure}")
        return failures

    # -- levels -------------------------------------------------------------

    def _leave_suite_for(self, job: Job) -> None:
        suite, last = self.inside_suite, self.last
        if suite is None or suite.name == job.suite.name or last is None:
            return
        self._level_artifacts("suite", last)
        failure = self._level("suite", "restore", last)
        if failure:
            self.broken = f"suite restore failed on {self.runner.machine}: {failure}"
            self._abort(self.broken)
        self.inside_suite = None

    def _enter_outer_levels(self, job: Job) -> None:
        prepare = not self.options.restore_only
        if not self.inside_project:
            self.inside_project = True
            failure = prepare and self._level("project", "prepare", job)
            if failure:
                self.broken = f"project prepare failed on {self.runner.machine}: {failure}"
                self._abort(self.broken)
            self.inside_backend = True
            failure = prepare and self._level("backend", "prepare", job)
            if failure:
                self.broken = f"backend prepare failed on {self.runner.machine}: {failure}"
                self._abort(self.broken)
        if self.inside_suite is None or self.inside_suite.name != job.suite.name:
            suite, context = job.suite, f"{job.lane}:{job.suite.name}"
            reason = self._skip_reason(job, suite.skip, context, self._suite_levels(job))
            if reason:
                self.skipped_suites[suite.name] = reason
                self.report.skipped_suites.append(f"{context} - {reason}")
                self._skip(job, reason)  # the suite is neither prepared nor restored
            self.inside_suite = job.suite
            failure = prepare and self._level("suite", "prepare", job)
            if failure:
                reason = f"suite prepare failed on {self.runner.machine}: {failure}"
                self.bad_suites[job.suite.name] = reason
                self._abort(reason)

    def _level(self, level: str, verb: str, job: Job) -> str:
        """Run the project, backend or suite prepare/restore for `job`.

        Returns "" on success, else the error, recorded in the report. Suite
        scripts run in the job's task directory, as Spread runs them.
        """
        project, backend, suite = self.runner.matrix.project, job.backend, job.suite
        lane = job.lane
        if level == "project":
            scripts, context, entry = project.scripts, lane, f"{lane}:project"
            directory, levels = self._root(), [project.timeouts]
        elif level == "backend":
            scripts, context, entry = backend.scripts, lane, f"{lane}:{backend.name}"
            directory, levels = self._root(), [backend.timeouts, project.timeouts]
        else:
            scripts, context = suite.scripts, f"{lane}:{suite.name}"
            entry, directory = context, self._task_dir(job)
            levels = self._suite_levels(job)
        step = Step(
            verb,
            context,
            job,
            getattr(scripts, verb),
            directory,
            limits(levels),
            debug=scripts.debug,
        )
        try:
            self.runner.run(step)
        except ScriptFailed as failure:
            getattr(self.report, f"failed_{level}_{verb}").append(entry)
            self._failed()
            return str(failure)
        return ""

    # -- the task's own scripts -----------------------------------------------

    def _task_prepare(self, job: Job) -> None:
        assert self.current is not None
        script = task_script("prepare", job, self.runner.matrix.project)
        try:
            self.runner.run(self._task_step("prepare", job, script))
        except ScriptFailed as failure:
            self.current.debug = ""
            self.report.failed_task_prepare.append(job.report_name)
            self.report.aborted += 1
            self.options.observer.job_aborted(job, failure.line)
            self._failed()
            raise TaskPrepareFailed(failure.line) from None

    def _task_restore(self, job: Job) -> None:
        assert self.current is not None
        script = task_script("restore", job, self.runner.matrix.project)
        try:
            self.runner.run(self._task_step("restore", job, script))
        except ScriptFailed as failure:
            self.report.failed_task_restore.append(job.report_name)
            self.broken = f"task restore failed on {self.runner.machine}: {failure}"
            self._failed()
            raise TaskRestoreFailed(failure.line) from None

    def _task_step(self, verb: str, job: Job, script: str) -> Step:
        assert self.current is not None
        return Step(
            verb,
            job.name,
            job,
            script,
            self._task_dir(job),
            limits(self._task_levels(job)),
            debug=self.current.debug,
        )

    # -- spread-plus skip conditions and suite/project artifacts ----------------

    def _skip_reason(
        self, job: Job, skips: tuple[Skip, ...], context: str, levels: list[Timeouts]
    ) -> str:
        """The reason of the first `skip:` condition that succeeds on the machine, or ""."""
        for skip in skips:
            step = Step("check", context, job, skip.condition, self._task_dir(job), limits(levels))
            if self.runner.check(step):
                return skip.reason
        return ""

    def _skip(self, job: Job, reason: str, *, announce: bool = True) -> None:
        self.report.skipped_tasks.append(f"{job.report_name} - {reason}")
        self.options.observer.job_skipped(job, reason)
        if announce:
            self.runner.log(f"Skipping {job.name} ({self.runner.machine.label})...")
        raise JobSkipped(reason)

    def _level_artifacts(self, level: str, job: Job) -> None:
        """Fetch the suite's or project's artifacts before its restore (failures are logged)."""
        target, root, runner = self.options.artifacts, self._root(), self.runner
        if level == "suite":
            paths, name = job.suite.artifacts, job.suite.name.rstrip("/")
            remote, local, context = f"{root}/{name}", f"{job.lane}:{name}", f"{job.lane}:{name}/"
        elif level == "project":
            paths = runner.matrix.project.artifacts
            remote, local, context = root, ".", job.lane
        else:
            return
        if target is None or not paths:
            return
        runner.log(f"Fetching artifacts of {context}...")
        try:
            artifacts.fetch_paths(runner.connection, paths, remote, target / local, runner.sudo)
        except (artifacts.ArtifactsError, RemoteError) as exc:
            runner.log(f"Cannot fetch artifacts of {context}: {exc}")

    # -- helpers --------------------------------------------------------------

    def _fetch_artifacts(self, job: Job, target: Path) -> None:
        runner = self.runner
        runner.log(f"Fetching artifacts of {job.name}...")
        try:
            artifacts.fetch(runner.connection, job, self._root(), target, runner.sudo)
        except (artifacts.ArtifactsError, RemoteError) as exc:
            runner.log(f"Cannot fetch artifacts of {job.name}: {exc}")
            raise ArtifactsFailed(f"cannot fetch artifacts of {job.name}: {exc}") from None

    def _abort(self, reason: str) -> None:
        self.report.aborted += 1
        raise JobAborted(reason)

    def _failed(self) -> None:
        if self.options.abend:
            self.abend = True

    def _suite_levels(self, job: Job) -> list[Timeouts]:
        return [job.suite.timeouts, job.backend.timeouts, self.runner.matrix.project.timeouts]

    def _task_levels(self, job: Job) -> list[Timeouts]:
        return [job.task.timeouts, *self._suite_levels(job)]

    def _root(self) -> str:
        return self.runner.matrix.remote_path

    def _task_dir(self, job: Job) -> str:
        if "::" in job.task.name:  # a Python test (plugin/pytests.py): in its suite's directory
            return f"{self._root()}/{job.suite.name.rstrip('/')}"
        return f"{self._root()}/{job.task.name}"


def task_script(verb: str, job: Job, project: Project) -> str:
    """A task's composite prepare, restore or debug script (spec §4.4).

    prepare: project, backend and suite `prepare-each`, then the task's own;
    restore and debug: the task's own, then suite, backend and project `*-each`.
    """
    levels = (project.scripts, job.backend.scripts, job.suite.scripts)
    own = {"prepare": job.task.prepare, "restore": job.task.restore, "debug": job.task.debug}
    each = [getattr(level, f"{verb}_each") for level in levels]
    parts = [*each, own[verb]] if verb == "prepare" else [own[verb], *reversed(each)]
    return scripts.composite(parts)

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
from dataclasses import dataclass
from pathlib import Path

from ..project.matrix import Job
from ..project.model import Project, Suite, Timeouts
from ..remote import RemoteError
from . import artifacts, scripts
from .execute import ScriptFailed, ScriptRunner, Step
from .outcomes import (
    ArtifactsFailed,
    JobAborted,
    TaskFailed,
    TaskPrepareFailed,
    TaskRestoreFailed,
)
from .report import Report
from .timeouts import limits


@dataclass
class RunOptions:
    """The parts of a run's options the lifecycle looks at."""

    restore_only: bool = False
    abend: bool = False
    repeat: int = 0
    total: int = 0  # selected jobs, for "(n/total)"
    artifacts: Path | None = None  # where to fetch task artifacts (Spread's -artifacts)


@dataclass
class _Current:
    job: Job
    debug: str  # the composite task debug, cleared once it has run


_sequence = itertools.count(1)


class MachineWorker:
    """The state of one machine as jobs come and go (Spread's worker loop)."""

    def __init__(self, runner: ScriptRunner, report: Report, options: RunOptions) -> None:
        self.runner = runner
        self.report = report
        self.options = options
        self.inside_project = False
        self.inside_backend = False
        self.inside_suite: Suite | None = None
        self.broken = ""  # why this machine takes no more jobs (Spread's badProject)
        self.bad_suites: dict[str, str] = {}
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
        self._leave_suite_for(job)
        self.last = job
        self._enter_outer_levels(job)
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

    def finish(self) -> None:
        """Restore the suite, backend and project levels this machine entered."""
        last = self.last
        if self.abend or last is None:
            return
        lane = last.lane
        if self.inside_suite is not None:
            suite = self.inside_suite
            self._outer(
                "restore",
                f"{lane}:{suite.name}",
                last,
                suite.scripts.restore,
                suite.scripts.debug,
                self._suite_dir(last),
                [suite.timeouts, last.backend.timeouts, self._project_timeouts],
                self.report.failed_suite_restore,
                f"{lane}:{suite.name}",
            )
        if self.inside_backend:
            self._outer(
                "restore",
                lane,
                last,
                last.backend.scripts.restore,
                last.backend.scripts.debug,
                self._root(),
                [last.backend.timeouts, self._project_timeouts],
                self.report.failed_backend_restore,
                f"{lane}:{last.backend.name}",
            )
        if self.inside_project:
            project = self.runner.matrix.project
            self._outer(
                "restore",
                lane,
                last,
                project.scripts.restore,
                project.scripts.debug,
                self._root(),
                [project.timeouts],
                self.report.failed_project_restore,
                f"{lane}:project",
            )

    # -- levels -------------------------------------------------------------

    def _leave_suite_for(self, job: Job) -> None:
        suite, last = self.inside_suite, self.last
        if suite is None or suite.name == job.suite.name or last is None:
            return
        failure = self._outer(
            "restore",
            f"{last.lane}:{suite.name}",
            last,
            suite.scripts.restore,
            suite.scripts.debug,
            self._suite_dir(last),
            [suite.timeouts, last.backend.timeouts, self._project_timeouts],
            self.report.failed_suite_restore,
            f"{last.lane}:{suite.name}",
        )
        if failure:
            self.broken = f"suite restore failed on {self.runner.machine}: {failure}"
            self._abort(self.broken)
        self.inside_suite = None

    def _enter_outer_levels(self, job: Job) -> None:
        project = self.runner.matrix.project
        lane = job.lane
        if not self.inside_project:
            self.inside_project = True
            if not self.options.restore_only:
                failure = self._outer(
                    "prepare",
                    lane,
                    job,
                    project.scripts.prepare,
                    project.scripts.debug,
                    self._root(),
                    [project.timeouts],
                    self.report.failed_project_prepare,
                    f"{lane}:project",
                )
                if failure:
                    self.broken = f"project prepare failed on {self.runner.machine}: {failure}"
                    self._abort(self.broken)
            self.inside_backend = True
            if not self.options.restore_only:
                backend = job.backend
                failure = self._outer(
                    "prepare",
                    lane,
                    job,
                    backend.scripts.prepare,
                    backend.scripts.debug,
                    self._root(),
                    [backend.timeouts, project.timeouts],
                    self.report.failed_backend_prepare,
                    f"{lane}:{backend.name}",
                )
                if failure:
                    self.broken = f"backend prepare failed on {self.runner.machine}: {failure}"
                    self._abort(self.broken)
        if self.inside_suite is None or self.inside_suite.name != job.suite.name:
            suite = self.inside_suite = job.suite
            if not self.options.restore_only:
                failure = self._outer(
                    "prepare",
                    f"{lane}:{suite.name}",
                    job,
                    suite.scripts.prepare,
                    suite.scripts.debug,
                    self._suite_dir(job),
                    [suite.timeouts, job.backend.timeouts, project.timeouts],
                    self.report.failed_suite_prepare,
                    f"{lane}:{suite.name}",
                )
                if failure:
                    reason = f"suite prepare failed on {self.runner.machine}: {failure}"
                    self.bad_suites[suite.name] = reason
                    self._abort(reason)

    def _outer(
        self,
        verb: str,
        context: str,
        job: Job,
        script: str,
        debug: str,
        directory: str,
        levels: list[Timeouts],
        failures: list[str],
        entry: str,
    ) -> str:
        """Run a project/backend/suite script; "" on success, else the error (recorded)."""
        step = Step(verb, context, job, script, directory, limits(levels), debug=debug)
        try:
            self.runner.run(step)
        except ScriptFailed as failure:
            failures.append(entry)
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
        levels = [
            job.task.timeouts,
            job.suite.timeouts,
            job.backend.timeouts,
            self._project_timeouts,
        ]
        return Step(
            verb,
            job.name,
            job,
            script,
            self._task_dir(job),
            limits(levels),
            debug=self.current.debug,
        )

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

    def _root(self) -> str:
        return self.runner.matrix.remote_path

    def _task_dir(self, job: Job) -> str:
        return f"{self._root()}/{job.task.name}"

    _suite_dir = _task_dir  # Spread runs suite scripts in the triggering job's task dir

    @property
    def _project_timeouts(self) -> Timeouts:
        return self.runner.matrix.project.timeouts


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

"""The `spread` command: Spread's own flags, for users switching from the Go tool."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from .errors import SpreadError
from .project.filters import select_jobs
from .project.loader import load_project
from .project.matrix import Matrix, build_matrix
from .project.model import summarize_warnings
from .run.report import Report
from .spread_flags import FlagError, OptionsError, SpreadOptions, parse_spread_args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `spread` command; returns the exit status (0, 1 on errors, 2 on bad flags)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        options = parse_spread_args(args)
    except FlagError as exc:
        if exc.message:
            print(exc.message, file=sys.stderr)
        if exc.usage:
            print(exc.usage, end="", file=sys.stderr)
        return exc.exit_code
    except OptionsError as exc:
        return _fail(str(exc))
    try:
        if options.list:
            return list_jobs(options)
        return run_jobs(options)
    except SpreadError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")


def list_jobs(options: SpreadOptions) -> int:
    """Print the selected job names, one per line, in Spread's order."""
    project = load_project()
    for warning in summarize_warnings(project.warnings):
        print(f"warning: {warning}", file=sys.stderr)
    jobs = select_jobs(build_matrix(project).jobs, options.filters)
    out = sys.stdout
    out.write("\n".join(job.name for job in jobs))
    out.write("\n")
    out.flush()
    return 0


UNSUPPORTED = (
    ("debug", "-debug"),
    ("shell", "-shell"),
    ("shell_before", "-shell-before"),
    ("shell_after", "-shell-after"),
    ("discard", "-discard"),
    ("gc", "-gc"),
    ("reuse_pid", "-reuse-pid"),
    ("resend", "-resend"),
)


def run_jobs(options: SpreadOptions) -> int:
    """Run the selected jobs through pytest, printing Spread's log and final report."""
    for field, flag in UNSUPPORTED:
        if getattr(options, field):
            return _fail(f"{flag} is not supported yet")
    project = load_project()
    for warning in summarize_warnings(project.warnings):
        print(f"warning: {warning}", file=sys.stderr)
    matrix = build_matrix(project)
    select_jobs(matrix.jobs, options.filters)  # Spread's errors, before running
    import pytest

    from .session import log

    args = [
        "--spread",
        "--spread-log",
        "--capture=no",
        "-p",
        "no:terminal",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:logging",
        "-o",
        "addopts=",
        f"--rootdir={project.dir}",
        f"--spread-project={project.dir}",
        f"--spread-repeat={options.repeat}",
        f"--spread-seed={options.seed or 'random'}",
        str(project.dir),
    ]
    args += [f"--spread-filter={argument}" for argument in options.filters]
    args += [
        flag
        for flag, on in (
            ("--spread-reuse", options.reuse),
            ("--spread-restore", options.restore),
            ("--spread-abend", options.abend),
        )
        if on
    ]
    if options.password:
        args.append(f"--spread-password={options.password}")
    if options.artifacts:
        args.append(f"--spread-artifacts={options.artifacts}")
    outcome = _RunOutcome(matrix)
    status = pytest.main(args, plugins=[outcome])
    if outcome.report is None:
        return _fail(f"pytest ended with status {int(status)} before running any job")
    for message in outcome.report.messages():
        log(message)
    if not outcome.report.ok:
        return _fail("unsuccessful run")
    return 0


class _RunOutcome:
    """A plugin object: hands the loaded matrix to the run and keeps its report."""

    def __init__(self, matrix: Matrix) -> None:
        self.matrix = matrix
        self.report: Report | None = None

    def pytest_configure(self, config: Any) -> None:
        from .session import PRELOADED

        config.stash[PRELOADED] = self.matrix

    def pytest_sessionfinish(self, session: Any) -> None:
        from .session import STATE

        state = session.config.stash.get(STATE, None)
        if state is not None:
            self.report = state.report


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def run() -> None:
    """Console-script entry point."""
    try:
        status = main()
    except BrokenPipeError:
        status = 1
    sys.exit(status)

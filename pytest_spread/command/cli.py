"""The `spread` command: Spread's own flags, for users switching from the Go tool."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_spread import __version__
from pytest_spread.command.flags import (
    FlagError,
    OptionsError,
    SpreadOptions,
    asks_version,
    parse_spread_args,
)
from pytest_spread.errors import SpreadError
from pytest_spread.log import VERBOSE, log, print_log_to_stdout, verbose
from pytest_spread.project.filters import check_tasks_limit, filter_order, select_jobs
from pytest_spread.project.loader import load_project, with_workers
from pytest_spread.project.matrix import build_matrix
from pytest_spread.project.model import summarize_warnings

if TYPE_CHECKING:
    from pytest_spread.run.observers import RunObserver


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `spread` command; returns the exit status (0, 1 on errors, 2 on bad flags)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if asks_version(args):
        print(VERSION)
        return 0
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


# Which implementation is on PATH: the Go tool has no -version flag.
VERSION = f"spread (pytest-spread {__version__}, Python re-implementation of Spread)"


def list_jobs(options: SpreadOptions) -> int:
    """Print the selected job names, one per line, in Spread's order."""
    project = load_project()
    for warning in summarize_warnings(project.warnings):
        print(f"warning: {warning}", file=sys.stderr)
    jobs = select_jobs(build_matrix(project).jobs, options.filters)
    if options.order:
        jobs = filter_order(jobs, options.filters)
    out = sys.stdout
    out.write("\n".join(job.name for job in jobs))
    out.write("\n")
    out.flush()
    return 0


def run_jobs(options: SpreadOptions) -> int:
    """Run the selected jobs, printing Spread's log and final report."""
    project = with_workers(load_project(), options.workers)
    for warning in summarize_warnings(project.warnings):
        print(f"warning: {warning}", file=sys.stderr)
    matrix = build_matrix(project)
    jobs = select_jobs(matrix.jobs, options.filters)
    if not options.discard and not options.gc:
        check_tasks_limit(project, len(jobs))
    from pytest_spread.command import runner
    from pytest_spread.machines.source import PoolOptions
    from pytest_spread.run.observers import Observers
    from pytest_spread.run.progress import MachineCounts
    from pytest_spread.run.results import ResultsRecorder
    from pytest_spread.run.shell import ShellModes
    from pytest_spread.run.worker import RunOptions

    results = ResultsRecorder() if options.json else None  # spread-plus' -json
    machines = MachineCounts()
    observer = Observers(machines, *_observers(results, options.logs))
    print_log_to_stdout(
        logging.DEBUG if options.very_verbose else VERBOSE if options.verbose else logging.INFO
    )
    verbose(f"Found {project.file}.")
    seed = options.seed
    if not seed and len(jobs) > len({job.lane for job in jobs}):
        seed = time.time_ns() // 1_000_000_000
        log(f"Sequence of jobs produced with -seed={seed}")
    pool_options = PoolOptions(
        password=options.password,
        # -discard implies -reuse unless -reuse-pid names the file (spec §7).
        reuse=options.reuse or (options.discard and not options.reuse_pid),
        reuse_pid=options.reuse_pid,
        resend=options.resend,
        run=RunOptions(
            restore_only=options.restore,
            abend=options.abend,
            repeat=options.repeat,
            total=len(jobs),
            artifacts=Path(options.artifacts).absolute() if options.artifacts else None,
            shells=ShellModes(
                debug=options.debug,
                shell=options.shell,
                shell_before=options.shell_before,
                shell_after=options.shell_after,
            ),
            observer=observer,
        ),
    )
    if options.gc:
        runner.collect_garbage(matrix, pool_options, log)
        return 0
    if options.discard:
        runner.discard_tracked(matrix, jobs, pool_options, log)
        return 0
    from pytest_spread.project.order import Hints
    from pytest_spread.run import durations

    cache = durations.cache_file(project.dir)
    timings: dict[str, tuple[float, float]] = {}
    # An explicit -seed reproduces an order exactly: known durations are left aside then.
    hints = Hints(
        durations={} if options.seed else durations.load(cache),
        order=options.filters if options.order else None,
    )
    try:
        report = runner.run_jobs(matrix, jobs, pool_options, seed, log, hints, timings)
    finally:
        durations.save(cache, durations.spans(timings), {job.name for job in matrix.jobs})
    verbose(machines.summary())  # not in Spread's output: shown with -v
    for message in report.messages():
        log(message)
    if results is not None:
        results.write(Path(options.json), report)
    if not report.ok:
        return _fail("unsuccessful run")
    return 0


def _observers(results: RunObserver | None, logs: str) -> list[RunObserver]:
    """The observers -json and -logs (spread-plus' flags) ask for."""
    from pytest_spread.run.joblogs import JobLogs

    found = [results] if results is not None else []
    return [*found, JobLogs(Path(logs).absolute())] if logs else found


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def run() -> None:
    """Console-script entry point.

    The process ends without tearing the interpreter down (~25 ms with the SSH
    stack loaded): by then every machine is discarded, every file written and
    closed, and the output is flushed here.
    """
    try:
        status = main()
    except BrokenPipeError:
        status = 1
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        status = 1
    os._exit(status)

"""A pytest session's running state: the machine pool, Spread's report and its log.

Kept apart from the hooks so that plugin.py stays a thin list of hooks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from . import durations
from .errors import SpreadError
from .interrupts import Interrupts, discarding
from .log import log
from .project.matrix import Job, Matrix
from .project.order import NO_HINTS, Hints, run_order
from .run.report import Report

if TYPE_CHECKING:
    from .pool import MachinePool

PRELOADED = pytest.StashKey[Matrix]()  # a matrix the spread command already built
CONTROLLER_MATRIX = pytest.StashKey[Matrix]()  # the xdist controller's (it does not collect)


@dataclass
class SpreadState:
    """What this pytest process knows of the project (one per process, also under xdist)."""

    matrix: Matrix | None = None
    error: SpreadError | None = None
    error_reported: bool = False
    jobs_by_file: dict[Path, list[Job]] = field(default_factory=dict)
    pool: MachinePool | None = None
    report: Report = field(default_factory=Report)
    total: int = 0  # the jobs selected to run
    backends: list[str] = field(default_factory=list)  # those with selected jobs
    ran: bool = False
    last_of_lane: dict[str, str] = field(default_factory=dict)  # lane -> node id
    interrupts: Interrupts = field(default_factory=Interrupts)
    looping: bool = False  # inside the run-test loop
    timings: dict[str, float] = field(default_factory=dict)  # job name -> seconds


STATE = pytest.StashKey[SpreadState]()


def pool_for(config: pytest.Config) -> MachinePool:
    """This process's machine pool, created on first use."""
    state = config.stash[STATE]
    state.ran = True
    if state.pool is None:
        assert state.matrix is not None
        state.pool = open_pool(config, state.matrix, state.backends, state.report, state.total)
    return state.pool


def lane_done(config: pytest.Config, lane: str, nodeid: str) -> bool:
    """True after the last job this process runs on the lane."""
    return config.stash[STATE].last_of_lane.get(lane) == nodeid


def close_pool(state: SpreadState) -> None:
    """Restore and discard this process's machines (at once after a second Ctrl-C)."""
    if state.pool is None:
        return
    pool, state.pool = state.pool, None
    with discarding(hurry=state.interrupts.hurry):
        try:
            pool.close(restore=not state.interrupts.hurried)
        finally:
            pool.source.close()


def open_pool(
    config: pytest.Config, matrix: Matrix, backends: list[str], report: Report, total: int
) -> MachinePool:
    """The pool for this process, from the command-line options."""
    from .machines import MachineSource, PoolOptions
    from .pool import MachinePool
    from .run.shell import ShellModes
    from .run.worker import RunOptions

    workerinput = getattr(config, "workerinput", {})
    options = PoolOptions(
        password=config.getoption("spread_password") or workerinput.get("spread_password", ""),
        allocate_timeout=config.getoption("spread_allocate_timeout"),
        connect_timeout=config.getoption("spread_connect_timeout"),
        reuse=config.getoption("spread_reuse"),
        reuse_pid=config.getoption("spread_reuse_pid"),
        resend=config.getoption("spread_resend"),
        run_pid=workerinput.get("spread_run_pid", 0),
        run=RunOptions(
            restore_only=config.getoption("spread_restore"),
            abend=config.getoption("spread_abend"),
            shells=ShellModes(
                debug=config.getoption("spread_debug"),
                shell=config.getoption("spread_shell"),
                shell_before=config.getoption("spread_shell_before"),
                shell_after=config.getoption("spread_shell_after"),
            ),
            repeat=config.getoption("spread_repeat"),
            total=total,
            artifacts=_path_option(config, "spread_artifacts"),
        ),
    )
    return MachinePool(MachineSource(matrix, backends, options, log), report)


def _path_option(config: pytest.Config, name: str) -> Path | None:
    value = config.getoption(name)
    return Path(value).absolute() if value else None


class RunRecorder:
    """The run's main process (no xdist, or its controller): job durations, lost nodes."""

    def __init__(self, config: pytest.Config, state: SpreadState) -> None:
        self.config = config
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Add up each job's phase durations, less the time spent getting its machine."""
        name = report.nodeid.rpartition("::")[2]
        if report.nodeid.endswith(".yaml::" + name):
            own = report.duration
            if report.when == "setup":
                waited = dict(report.user_properties).get(durations.MACHINE_SECONDS, 0)
                own = max(own - float(str(waited)), 0.0)
            timings = self.state.timings
            timings[name] = round(timings.get(name, 0.0) + own, 3)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """After xdist took its nodes down: discard what lost nodes left."""
        matrix = self.config.stash.get(CONTROLLER_MATRIX, None)
        if matrix is not None:
            from .controller import discard_orphans

            with discarding(hurry=self.state.interrupts.hurry):
                discard_orphans(self.config, matrix, log, final=True)


def hints_for(config: pytest.Config) -> Hints:
    """Durations from pytest's cache (unless a seed is given) and, with --ff, last failures."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return NO_HINTS
    first: frozenset[str] = frozenset()
    if config.getoption("failedfirst", False):
        failed = cache.get("cache/lastfailed", {})
        first = frozenset(nodeid.rpartition("::")[2] for nodeid in failed)
    if parse_seed(config):  # an explicit seed reproduces an order exactly
        return Hints(first=first)
    return Hints(durations=durations.valid(cache.get(durations.CACHE_KEY, {})), first=first)


def save_timings(config: pytest.Config, state: SpreadState) -> None:
    """Add the run's job durations to pytest's cache."""
    cache = getattr(config, "cache", None)
    matrix = state.matrix or config.stash.get(CONTROLLER_MATRIX, None)
    if cache is not None and matrix is not None and state.timings:
        known = durations.valid(cache.get(durations.CACHE_KEY, {}))
        jobs = {job.name for job in matrix.jobs}
        cache.set(durations.CACHE_KEY, durations.merged(known, state.timings, jobs))


def plan_run_order(session: pytest.Session, state: SpreadState, hints: Hints = NO_HINTS) -> None:
    """Order the session's jobs as Spread's workers take them, and note each lane's end."""
    from .collect import SpreadItem

    spread_items = [item for item in session.items if isinstance(item, SpreadItem)]
    if not spread_items:
        return
    seed = choose_seed(session.config, len(spread_items))
    by_job = {id(item.job): item for item in spread_items}
    ordered = [by_job[id(job)] for job in run_order([i.job for i in spread_items], seed, hints)]
    others = [item for item in session.items if not isinstance(item, SpreadItem)]
    session.items[:] = others + ordered  # type: ignore[operator]
    for item in ordered:
        state.last_of_lane[item.job.lane] = item.nodeid


def parse_seed(config: pytest.Config) -> int | None:
    """--spread-seed as a number; None for `random`."""
    value = str(config.getoption("spread_seed"))
    if value == "random":
        return None
    try:
        return int(value, 0)
    except ValueError:
        message = f"--spread-seed takes a number or 'random', not {value!r}"
        raise pytest.UsageError(message) from None


def choose_seed(config: pytest.Config, jobs: int) -> int:
    """--spread-seed, or with `random` one from the clock, shown so a run can be repeated."""
    seed = parse_seed(config)
    if seed is not None:
        return seed
    seed = time.time_ns() // 1_000_000_000
    if jobs > 1:
        message = f"Sequence of jobs produced with -seed={seed}"
        log(message)
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"{message} (--spread-seed={seed} repeats it)")
    return seed

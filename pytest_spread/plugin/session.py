"""A pytest session's running state: the machine pool, Spread's report and its log.

Kept apart from the hooks so that plugin.py stays a thin list of hooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pytest_spread.errors import SpreadError
from pytest_spread.interrupts import Interrupts, discarding
from pytest_spread.log import log
from pytest_spread.project.matrix import Job, Matrix
from pytest_spread.run import durations
from pytest_spread.run.observers import NO_OBSERVER, RunObserver
from pytest_spread.run.report import Report

if TYPE_CHECKING:
    from pytest_spread.machines.pool import MachinePool

PRELOADED = pytest.StashKey[Matrix]()  # a matrix the spread command already built
CONTROLLER_MATRIX = pytest.StashKey[Matrix]()  # the xdist controller's (it does not collect)


@dataclass
class SpreadState:
    """What this pytest process knows of the project (one per process, also under xdist)."""

    matrix: Matrix | None = None
    error: SpreadError | None = None
    error_reported: bool = False
    jobs_by_file: dict[Path, list[Job]] = field(default_factory=dict)
    task_dirs: set[Path] = field(default_factory=set)  # directories holding task files
    pool: MachinePool | None = None
    report: Report = field(default_factory=Report)
    total: int = 0  # the jobs selected to run
    backends: list[str] = field(default_factory=list)  # those with selected jobs
    ran: bool = False
    last_of_lane: dict[str, str] = field(default_factory=dict)  # lane -> node id
    interrupts: Interrupts = field(default_factory=Interrupts)
    looping: bool = False  # inside the run-test loop
    timings: dict[str, float] = field(default_factory=dict)  # job name -> seconds
    observer: RunObserver = NO_OBSERVER  # --spread-json, --spread-logs (outputs.py)


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
    from pytest_spread.machines.pool import MachinePool
    from pytest_spread.machines.source import MachineSource, PoolOptions
    from pytest_spread.run.shell import ShellModes
    from pytest_spread.run.worker import RunOptions

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
            observer=config.stash[STATE].observer,
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
        if not report.nodeid.endswith(".yaml::" + name):
            name = getattr(report, "spread_job", "")  # a Python test's (plugin/outputs.py)
        if name:
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
            from pytest_spread.plugin.controller import discard_orphans

            with discarding(hurry=self.state.interrupts.hurry):
                discard_orphans(self.config, matrix, log, final=True)

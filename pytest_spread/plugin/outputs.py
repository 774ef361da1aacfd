"""What a run tells as it goes and at its end (a plugin module hooks.py loads).

- `--spread-json FILE`: spread-plus' JSON results; `--spread-logs DIR`: one log
  file per job. Every process with machines (no xdist, or each xdist node)
  hears its own scripts through the observers `observer_for` makes; the run's
  main process (no xdist, or the controller) gathers the nodes' JSON records
  and writes the file once every node is done. Job logs are written where the
  job runs.
- Live progress: with `-v`, Spread's messages from every process, as whole
  lines with their times (`[gw0]` in front under xdist), printed by the main
  process as each phase's report arrives; at the default verbosity one line
  per job when it is done (instead of a dot); and in the `spread report`
  section, the machines allocated, reused and discarded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_spread.log import LOGGER, VERBOSE, SpreadLogFormatter
from pytest_spread.plugin.items import job_of
from pytest_spread.plugin.session import STATE
from pytest_spread.run.joblogs import JobLogs
from pytest_spread.run.observers import Observers, RunObserver
from pytest_spread.run.progress import MachineCounts
from pytest_spread.run.results import ResultsRecorder

RESULTS = pytest.StashKey[ResultsRecorder]()
COUNTS = pytest.StashKey[MachineCounts]()
LINES = pytest.StashKey["LogLines"]()
OBSERVER = pytest.StashKey[RunObserver]()
WORKER_KEY = "spread_results"
LOG_KEY = "spread_log"
MACHINES_KEY = "spread_machines"


def _path(config: pytest.Config, name: str) -> Path | None:
    value = config.getoption(name)
    return config.invocation_params.dir / value if value else None


def results_for(config: pytest.Config) -> ResultsRecorder | None:
    """This process's JSON recorder (with --spread-json)."""
    if _path(config, "spread_json") is None:
        return None
    if RESULTS not in config.stash:
        config.stash[RESULTS] = ResultsRecorder()
    return config.stash[RESULTS]


def observer_for(config: pytest.Config) -> RunObserver:
    """What hears this process's machines: machine counts, JSON recorder, per-job logs."""
    if OBSERVER not in config.stash:
        parts: list[RunObserver] = [config.stash.setdefault(COUNTS, MachineCounts())]
        results = results_for(config)
        if results is not None:
            parts.append(results)
        logs = _path(config, "spread_logs")
        if logs is not None:
            parts.append(JobLogs(logs))
        config.stash[OBSERVER] = Observers(*parts)
    return config.stash[OBSERVER]


class LogLines(logging.Handler):
    """Spread's messages in this process, as whole lines with their times, until sent."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.setFormatter(SpreadLogFormatter())
        self._lines: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self._guard:
            self._lines.append(line)

    def drain(self) -> list[str]:
        with self._guard:
            lines, self._lines = self._lines, []
        return lines


def _log_level(verbosity: int) -> int:
    """pytest's -v shows Spread's messages; -vv its -v ones too; -vvv its -vv ones."""
    return {1: logging.INFO, 2: VERBOSE}.get(verbosity, logging.DEBUG)


def _configured_levels(config: pytest.Config) -> list[int]:
    """The levels of pytest's log options and ini settings that are set."""
    levels = []
    for name in ("log_level", "log_file_level", "log_cli_level"):
        value = config.getoption(name, None) or config.getini(name)
        if value:
            level = logging.getLevelName(str(value).upper())
            levels.append(level if isinstance(level, int) else int(value))
    return levels


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """With --spread (hooks.py made the state): observers for the machines of this process;
    the main process reports progress and writes the JSON at the end."""
    if STATE not in config.stash:
        return
    config.stash[STATE].observer = observer_for(config)
    verbosity = config.get_verbosity()
    if verbosity >= 1:
        level = _log_level(verbosity)
        lines = config.stash[LINES] = LogLines(level)
        LOGGER.addHandler(lines)
        wanted = min([level, *_configured_levels(config)])  # --log-level=DEBUG gets all
        if LOGGER.level == logging.NOTSET or LOGGER.level > wanted:
            LOGGER.setLevel(wanted)
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(Progress(config), "spread-progress")
        path = _path(config, "spread_json")
        if path is not None:
            config.pluginmanager.register(ResultsWriter(config, path), "spread-results")


def pytest_unconfigure(config: pytest.Config) -> None:
    lines = config.stash.get(LINES, None)
    if lines is not None:
        LOGGER.removeHandler(lines)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Each phase's report carries its job's name and the Spread messages logged meanwhile."""
    report = yield
    job = job_of(item)
    if job is not None:
        report.spread_job = job.name  # type: ignore[attr-defined]
    lines = item.config.stash.get(LINES, None)
    if lines is not None:
        report.spread_log = lines.drain()  # type: ignore[attr-defined]
    return report


@pytest.hookimpl(tryfirst=True)
def pytest_report_teststatus(
    report: pytest.TestReport, config: pytest.Config
) -> tuple[str, str, str] | None:
    """At the default verbosity a job gets its own line (Progress), not a dot."""
    if config.get_verbosity() != 0 or not getattr(report, "spread_job", None):
        return None
    if hasattr(report, "wasxfail"):
        return None
    if report.when == "call":
        return report.outcome, "", report.outcome.upper()
    if report.failed:
        return "error", "", "ERROR"
    if report.skipped:
        return "skipped", "", "SKIPPED"
    return "", "", ""


def pytest_sessionfinish(session: pytest.Session) -> None:
    """After hooks.py (tryfirst) discarded the machines: what is left of the messages, and
    on an xdist node, the records and counts for the controller."""
    config = session.config
    lines = config.stash.get(LINES, None)
    left = lines.drain() if lines is not None else []
    workeroutput = getattr(config, "workeroutput", None)
    if workeroutput is None:
        progress = config.pluginmanager.get_plugin("spread-progress")
        if isinstance(progress, Progress):
            progress.write_lines(left, "")
        return
    workeroutput[LOG_KEY] = left
    workeroutput[MACHINES_KEY] = config.stash.get(COUNTS, MachineCounts()).to_dict()
    recorder = config.stash.get(RESULTS, None)
    if recorder is not None:
        workeroutput[WORKER_KEY] = recorder.to_dict()


class Progress:
    """The main process shows every process's messages, job lines and the machine summary."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.outcomes: dict[str, str] = {}  # node id -> the worst word of its phases so far
        self.seconds: dict[str, float] = {}

    def write_lines(self, lines: list[str], prefix: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        for line in lines:
            reporter.write_line(prefix + line)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        node = getattr(report, "node", None)
        prefix = f"[{node.gateway.id}] " if node is not None else ""
        self.write_lines(getattr(report, "spread_log", None) or [], prefix)
        job = getattr(report, "spread_job", None)
        if job is None or self.config.get_verbosity() != 0:
            return
        nodeid = report.nodeid
        self.seconds[nodeid] = self.seconds.get(nodeid, 0.0) + report.duration
        word = _word(report)
        if _WORST.index(word) > _WORST.index(self.outcomes.get(nodeid, "PASSED")):
            self.outcomes[nodeid] = word
        if report.when == "teardown":
            word = self.outcomes.pop(nodeid, "PASSED")
            seconds = self.seconds.pop(nodeid, 0.0)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            self.write_lines([f"{stamp} {prefix}{word} {job} ({seconds:.1f}s)"], "")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", None) or {}
        self.write_lines(output.get(LOG_KEY, []), f"[{node.gateway.id}] ")
        counts = self.config.stash.setdefault(COUNTS, MachineCounts())
        counts.merge(output.get(MACHINES_KEY, {}))

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        state = self.config.stash.get(STATE, None)
        counts = self.config.stash.get(COUNTS, None)
        if state is not None and state.ran and counts is not None:
            terminalreporter.line(counts.summary())


_WORST = ["PASSED", "SKIPPED", "FAILED", "ERROR"]


def _word(report: pytest.TestReport) -> str:
    if report.failed:
        return "FAILED" if report.when == "call" else "ERROR"
    return "SKIPPED" if report.skipped else "PASSED"


class ResultsWriter:
    """The run's main process: gathers the nodes' records and writes the JSON file."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config = config
        self.path = path

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output = getattr(node, "workeroutput", None) or {}
        recorder = results_for(self.config)
        if recorder is not None and WORKER_KEY in output:
            recorder.merge(output[WORKER_KEY])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        state = self.config.stash.get(STATE, None)
        recorder = results_for(self.config)
        if state is None or recorder is None or self.config.option.collectonly:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        recorder.write(self.path, state.report)

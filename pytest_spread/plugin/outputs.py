"""`--spread-json FILE` and `--spread-logs DIR` under pytest (a plugin module hooks.py loads).

Every process with machines (no xdist, or each xdist node) hears its own
scripts through the observers `observer_for` makes; the run's main process
(no xdist, or the controller) gathers the nodes' JSON records and writes the
file once every node is done. Per-job logs are written by the process that
runs the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_spread.plugin.session import STATE
from pytest_spread.run.joblogs import JobLogs
from pytest_spread.run.observers import NO_OBSERVER, Observers, RunObserver
from pytest_spread.run.results import ResultsRecorder

RESULTS = pytest.StashKey[ResultsRecorder]()
OBSERVER = pytest.StashKey[RunObserver]()
WORKER_KEY = "spread_results"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spread")
    group.addoption(
        "--spread-json",
        metavar="FILE",
        default=None,
        help="write spread-plus' JSON results (every prepare, execute and restore) to FILE "
        "(spread-plus' -json)",
    )
    group.addoption(
        "--spread-logs",
        metavar="DIR",
        default=None,
        help="write one log file per job, with its suite and project scripts, into DIR "
        "(spread-plus' -logs)",
    )


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
    """What hears this process's machines: the JSON recorder and the per-job logs."""
    if OBSERVER not in config.stash:
        parts: list[RunObserver] = []
        results = results_for(config)
        if results is not None:
            parts.append(results)
        logs = _path(config, "spread_logs")
        if logs is not None:
            parts.append(JobLogs(logs))
        config.stash[OBSERVER] = Observers(*parts) if parts else NO_OBSERVER
    return config.stash[OBSERVER]


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


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """With --spread (hooks.py made the state): observers for the machines of this process;
    the main process writes the JSON at the end."""
    if STATE not in config.stash:
        return
    config.stash[STATE].observer = observer_for(config)
    path = _path(config, "spread_json")
    if path and not hasattr(config, "workerinput"):
        config.pluginmanager.register(ResultsWriter(config, path), "spread-results")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """An xdist node, once its machines are gone (hooks.py, tryfirst): records to the controller."""
    config = session.config
    workeroutput = getattr(config, "workeroutput", None)
    recorder = config.stash.get(RESULTS, None)
    if workeroutput is not None and recorder is not None:
        workeroutput[WORKER_KEY] = recorder.to_dict()

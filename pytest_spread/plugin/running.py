"""The hooks of a `--spread` session: collect the project's jobs as items and run them.

`plugin/hooks.py` registers this module (and the output and Python-test
plugins) when `--spread` (or `spread = true`) is on; a pytest run without it
imports none of it.
"""

from __future__ import annotations

import gc
from collections.abc import Generator
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from pytest_spread.errors import NoJobsError, ProjectError, SpreadError
from pytest_spread.interrupts import FIRST_MESSAGE, Interrupts
from pytest_spread.log import log, print_log_to_stdout
from pytest_spread.plugin.collect import ProjectErrorFile, SpreadItem, TaskFile
from pytest_spread.plugin.controller import announce, discard_orphans, node_input
from pytest_spread.plugin.items import has_python_tests, job_of
from pytest_spread.plugin.junit import JobClassNames, one_line_message
from pytest_spread.plugin.loading import load_matrix, visit_project
from pytest_spread.plugin.nodes import header_lines, limit_nodes, selects_explicitly, useful_nodes
from pytest_spread.plugin.options import check_shell_options
from pytest_spread.plugin.ordering import choose_seed, hints_for, plan_run_order, save_timings
from pytest_spread.plugin.session import (
    CONTROLLER_MATRIX,
    PRELOADED,
    STATE,
    RunRecorder,
    SpreadState,
    close_pool,
)
from pytest_spread.project.filters import (
    check_tasks_limit,
    compile_filters,
    drop_manual,
    matches_any,
)
from pytest_spread.project.matrix import Job, Matrix
from pytest_spread.run.report import Report


def pytest_configure(config: pytest.Config) -> None:
    interactive = check_shell_options(config)
    state = config.stash[STATE] = SpreadState()
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(RunRecorder(config, state), "spread-recorder")
        config.pluginmanager.register(JobClassNames(config), "spread-junit")
    if config.getoption("spread_log") or interactive:
        print_log_to_stdout()  # with shells, say which job the shell is for


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Restore and discard this process's machines, also after -x, errors and Ctrl-C."""
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    close_pool(state)
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: send the report to the controller
        workeroutput["spread_report"] = state.report.to_dict()
    else:
        save_timings(session.config, state)
        if state.report.restores_failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # Spread exits 1 too


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> Generator[None, object, object]:
    """Run jobs in the order Spread's workers take them; Ctrl-C finishes running jobs."""
    state = session.config.stash.get(STATE, None)
    config = session.config
    if state is None or config.option.collectonly:
        return (yield)
    dsession = config.pluginmanager.get_plugin("dsession")
    if dsession is not None:
        announce(config, log)
    elif not hasattr(config, "workerinput"):
        plan_run_order(session, state, hints_for(config))
    state.interrupts = Interrupts(
        on_first=partial(_finish_running_jobs, session, dsession),
        on_second=partial(_stop_at_once, state, dsession),
    )
    state.interrupts.__enter__()  # left in place until the machines are discarded
    state.looping = True
    try:
        return (yield)
    finally:
        state.looping = False


def _finish_running_jobs(session: pytest.Session, dsession: Any) -> None:
    """First Ctrl-C: no new job starts; running ones finish, then restore and discard."""
    reason = "interrupted (Ctrl-C)"
    session.shouldstop = reason
    if dsession is not None:
        dsession.shouldstop = reason
        dsession._max_worker_restart = 0  # a node going down on the interrupt is not replaced
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not hasattr(session.config, "workerinput"):
        capture = session.config.pluginmanager.get_plugin("capturemanager")
        with capture.global_and_fixture_disabled() if capture else nullcontext():
            reporter.write_line("")  # on the terminal, not in a test's captured output
            reporter.write_line(FIRST_MESSAGE, yellow=True, bold=True)


def _stop_at_once(state: SpreadState, dsession: Any) -> None:
    """Second Ctrl-C: stop the running scripts; the machines are discarded unrestored.

    The xdist controller does not stop: its nodes got the Ctrl-C too and are
    discarding their machines; tearing them down now would cut that short.
    """
    if state.looping and dsession is None:
        raise KeyboardInterrupt


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is not None:
        state.interrupts.__exit__(None, None, None)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: the nodes share the run's reuse file and password."""
    if STATE in node.config.stash:
        node.workerinput.update(node_input(node.config))
        try:  # $(HOST:...) commands run once, here; the nodes use their results
            node.workerinput["spread_host_results"] = _controller_matrix(node.config).host.known()
        except pytest.UsageError:
            pass  # a broken project: the nodes report its error themselves


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist controller: spread-plus' tasks-limit, once a node has selected the jobs."""
    matrix = node.config.stash.get(CONTROLLER_MATRIX, None)
    if matrix is None or not matrix.project.tasks_limit or node.config.option.collectonly:
        return
    names = {job.name for job in matrix.jobs}
    try:
        check_tasks_limit(matrix.project, sum(i.rpartition("::")[2] in names for i in ids))
    except SpreadError as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """xdist controller: add a worker's report to the run's report; clean up after crashes."""
    output = getattr(node, "workeroutput", None) or {}
    config = getattr(node, "config", None)
    if config is None or STATE not in config.stash:
        return
    state = config.stash[STATE]
    if "spread_report" in output:
        state.report.merge(Report.from_dict(output["spread_report"]))
        state.ran = True
    if error is not None and CONTROLLER_MATRIX in config.stash:
        discard_orphans(config, config.stash[CONTROLLER_MATRIX], log, final=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Each phase's duration as a user property (JUnit XML shows them, also under xdist)."""
    report = yield
    if isinstance(item, SpreadItem):
        one_line_message(report)
        timing = (f"{call.when}_seconds", f"{report.duration:.3f}")
        item.user_properties.append(timing)
        if call.when == "teardown":
            report.user_properties.append(timing)
    return report


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Place jobs on xdist nodes by lane, as Spread places them on machines."""
    if STATE not in config.stash:
        return None
    from pytest_spread.plugin.scheduling import LaneScheduling

    matrix = _controller_matrix(config)
    seed = choose_seed(config, len(matrix.jobs))
    return LaneScheduling(matrix, seed=seed, log=log, hints=hints_for(config))


def auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: one node per machine Spread would use, at most --spread-max-workers."""
    wanted = useful_nodes(config, _controller_matrix(config))
    return max(1, min(wanted, int(config.getoption("spread_max_workers"))))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """xdist controller: start only the nodes that can work (before xdist starts them)."""
    config = session.config
    if STATE in config.stash and config.pluginmanager.get_plugin("dsession") is not None:
        limit_nodes(config, _controller_matrix(config))


def pytest_report_header(config: pytest.Config) -> list[str]:
    return header_lines(config)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    state = terminalreporter.config.stash.get(STATE, None)
    if state is None or not state.ran:
        return
    terminalreporter.section("spread report")
    for message in state.report.messages():
        terminalreporter.line(message)


def pytest_collection(session: pytest.Session) -> None:
    state = session.config.stash.get(STATE, None)
    if state is None:
        return
    config = session.config
    try:
        matrix = config.stash.get(PRELOADED, None) or load_matrix(config)
        filters = compile_filters(config.getoption("spread_filter"))
        visit_project(config, matrix.project.dir)
    except SpreadError as exc:
        state.error = exc
        if not isinstance(exc, ProjectError) or exc.file is None:
            raise pytest.UsageError(str(exc)) from None
        return
    state.matrix = matrix
    jobs = [job for job in matrix.jobs if matches_any(filters, job)]
    if filters and not jobs and not has_python_tests(matrix):
        raise pytest.UsageError(_nothing_matches(config))
    if not selects_explicitly(config):
        jobs = drop_manual(jobs, _identity, explicit=False)  # no need to collect them at all
    for job in jobs:
        state.jobs_by_file.setdefault(job.task.file, []).append(job)
    state.task_dirs = {d for file in state.jobs_by_file for d in file.parents}
    # Tens of thousands of items are about to be made and then live until the
    # end: keep the garbage collector from scanning them over and over.
    gc.disable()


@pytest.hookimpl(tryfirst=True)
def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Walk into the directories of the project's tasks, also those pytest skips by default.

    Spread lists a task in `build/`, `dist/` or a directory that looks like a
    virtualenv; pytest's `norecursedirs` would hide it. `--ignore` still wins.
    """
    state = config.stash.get(STATE, None)
    if state is None or collection_path not in state.task_dirs:
        return None
    ignored = [Path(path).absolute() for path in config.getoption("ignore") or ()]
    if any(collection_path == path or path in collection_path.parents for path in ignored):
        return None
    return False


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.File | None:
    state = parent.config.stash.get(STATE, None)
    if state is None:
        return None
    if state.error is not None:
        if isinstance(state.error, ProjectError) and state.error.file == file_path:
            state.error_reported = True
            return ProjectErrorFile.from_parent(parent, path=file_path, message=str(state.error))
        return None
    jobs = state.jobs_by_file.get(file_path)
    if jobs is None:
        return None
    return TaskFile.from_parent(parent, path=file_path, jobs=jobs)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Put jobs in Spread's order and drop manual ones no selection names."""
    state = config.stash.get(STATE, None)
    if state is None:
        return
    if state.error is not None and not state.error_reported:
        raise pytest.UsageError(str(state.error))
    slots = [index for index, item in enumerate(items) if job_of(item) is not None]
    if not slots:
        return
    jobs = [items[index] for index in slots]
    kept = drop_manual(jobs, _job_of, selects_explicitly(config))
    if len(kept) < len(jobs):
        kept_ids = {id(item) for item in kept}
        config.hook.pytest_deselected(items=[i for i in jobs if id(i) not in kept_ids])
    kept.sort(key=_item_key)
    items[:] = _merge(items, kept) if len(slots) < len(items) else kept
    state.total = len(kept)
    if not config.option.collectonly and not hasattr(config, "workerinput") and state.matrix:
        try:
            check_tasks_limit(state.matrix.project, len(kept))  # spread-plus tasks-limit
        except SpreadError as exc:
            raise pytest.UsageError(str(exc)) from None
    state.backends = sorted({_job_of(item).backend.name for item in kept})


@pytest.hookimpl(wrapper=True)
def pytest_collection_finish(session: pytest.Session) -> Generator[None, None, None]:
    try:
        return (yield)
    finally:
        if STATE in session.config.stash:
            gc.freeze()  # the collected items stay; later collections need not scan them
            gc.enable()


def _nothing_matches(config: pytest.Config) -> str:
    """Spread's words for filters that select nothing (`spread -list` says the same)."""
    filters = " ".join(f"--spread-filter {value}" for value in config.getoption("spread_filter"))
    return f"{NoJobsError('nothing matches provider filter')} ({filters})"


def _controller_matrix(config: pytest.Config) -> Matrix:
    """The matrix on the xdist controller, which does not collect (loaded once)."""
    matrix = config.stash.get(CONTROLLER_MATRIX, None)
    if matrix is None:
        try:
            # The nodes report the project's warnings, through pytest's summary.
            matrix = config.stash[CONTROLLER_MATRIX] = load_matrix(config, controller=True)
        except SpreadError as exc:
            raise pytest.UsageError(str(exc)) from None
    return matrix


def _identity(job: Job) -> Job:
    return job


def _job_of(item: pytest.Item) -> Job:
    job = job_of(item)
    assert job is not None
    return job


def _item_key(item: pytest.Item) -> tuple[str, int, str]:
    return _job_of(item).key


def _merge(items: list[pytest.Item], jobs: list[pytest.Item]) -> list[pytest.Item]:
    """Other plugins' items stay where they were; Spread items fill their own slots in order."""
    ordered = iter(jobs)
    kept = {id(item) for item in jobs}
    merged: list[pytest.Item] = []
    for item in items:
        if job_of(item) is not None:
            if id(item) in kept:
                merged.append(next(ordered))
        else:
            merged.append(item)
    return merged

"""Python tests on Spread machines: `test_*.py` modules in a suite directory are jobs too.

Each test function of such a module becomes one item per `backend:system`
(and variant) the suite runs on, through a direct parametrization whose id
comes first: `tests/main/test_mod.py::test_a[lxd:ubuntu-22.04:v1-1]`. Its
Spread job name is `lxd:ubuntu-22.04:tests/main/test_mod.py::test_a[1]:v1`:
the task is `<suite>/<module>::<test>`, so Spread's filters select it like a
task (`tests/main/`, `test_mod.py`, `test_a`, `lxd:...`). The xdist controller,
which does not import test modules, derives the same job from the node id
(`python_job`), so the lane scheduler places Python tests like shell tasks.

Phases: the `_spread_run` fixture (every such test uses it) gets the job's
machine and runs the project, backend and suite prepares there exactly as for
a shell task (the job's task prepare is the composite of the `prepare-each`
scripts), and at teardown the task restore and, after the lane's last job,
the outer restores. The test body is the execute. Fixtures: `spread_machine`
(a `fabric.Connection` sharing the machine's authenticated SSH transport) and
`spread_job` (names and environment). A module may declare, as a task.yaml
does, `SPREAD_ENVIRONMENT` (a dict; `NAME/variant` keys make variants),
`SPREAD_SYSTEMS` and `SPREAD_BACKENDS` (lists). See docs/python-tests.md.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pytest_spread.errors import SpreadError, display_path
from pytest_spread.plugin.collect import spread_marker
from pytest_spread.plugin.fixtures import LANE, RUN
from pytest_spread.plugin.items import PYTHON_JOB, lane_jobs, python_job
from pytest_spread.plugin.session import STATE
from pytest_spread.project.filters import compile_filters, matches_any
from pytest_spread.project.matrix import Job, Matrix
from pytest_spread.project.model import EMPTY_ENV, ENV_KEY_RE, Environment, Suite, Task
from pytest_spread.run.worker import progress

# -- which modules, which jobs ------------------------------------------------------


def suite_of_module(matrix: Matrix, path: Path) -> Suite | None:
    """The suite whose directory holds the module directly, if any."""
    parent = path.parent.resolve()
    for suite in matrix.project.suites.values():
        if suite.dir.resolve() == parent:
            return suite
    return None


def module_task(suite: Suite, path: Path, module: Any) -> Task:
    """The task a module's tests share: its name, and what it declares like a task.yaml."""
    environment = getattr(module, "SPREAD_ENVIRONMENT", None) or {}
    where = f"{display_path(path)}: SPREAD_ENVIRONMENT"
    if not isinstance(environment, dict):
        raise pytest.Collector.CollectError(f"{where}: expected a dict, got {environment!r}")
    for key, value in environment.items():
        if not isinstance(key, str) or not ENV_KEY_RE.match(key) or not isinstance(value, str):
            raise pytest.Collector.CollectError(f"{where}: invalid entry {key!r}: {value!r}")
    lists = {}
    for name in ("SPREAD_SYSTEMS", "SPREAD_BACKENDS"):
        value = getattr(module, name, ())
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise pytest.Collector.CollectError(
                f"{display_path(path)}: {name}: expected a list of names"
            )
        lists[name] = tuple(value)
    return Task(
        name=f"{suite.name}{path.name}",
        suite=suite.name,
        dir=suite.dir,
        file=path,
        summary=(module.__doc__ or path.name).strip().splitlines()[0],
        systems=lists["SPREAD_SYSTEMS"],
        backends=lists["SPREAD_BACKENDS"],
        environment=Environment(
            tuple(environment), tuple(environment.values()), file=path, where=where
        )
        if environment
        else EMPTY_ENV,
    )


def _lane_jobs(matrix: Matrix, suite: Suite, task: Task) -> list[Job]:
    try:
        return lane_jobs(matrix, suite, task)
    except SpreadError as exc:  # e.g. SPREAD_SYSTEMS naming no system of the suite
        raise pytest.Collector.CollectError(f"{display_path(task.file)}: {exc}") from None


def lane_id(job: Job) -> str:
    return f"{job.lane}:{job.variant}" if job.variant else job.lane


# -- collection -----------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_pycollect_makemodule(
    module_path: Path, parent: pytest.Collector
) -> Generator[None, Any, Any]:
    """A module in a suite directory: every test in it runs as a job (`_spread_run`)."""
    module = yield
    state = parent.config.stash.get(STATE, None)
    if state is not None and state.matrix is not None and module is not None:
        if suite_of_module(state.matrix, module_path) is not None:
            module.add_marker(pytest.mark.usefixtures("_spread_run"))
    return module


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """One call per job of the module's task, its lane id first."""
    if LANE not in metafunc.fixturenames:
        return
    state = metafunc.config.stash.get(STATE, None)
    matrix = state.matrix if state is not None else None
    path = metafunc.definition.path
    suite = suite_of_module(matrix, path) if matrix is not None else None
    if matrix is None or suite is None:
        return  # not a Spread run: `_spread_run` skips the test
    task = module_task(suite, path, metafunc.module)
    values = [
        pytest.param(
            job,
            id=lane_id(job),
            marks=spread_marker(job),
        )
        for job in _lane_jobs(matrix, suite, task)
    ]
    metafunc.parametrize(LANE, values)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each Python test's own job; --spread-filter selects them as it selects tasks."""
    state = config.stash.get(STATE, None)
    if state is None or state.matrix is None:
        return
    filters = compile_filters(config.getoption("spread_filter"))
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and LANE in callspec.params:
            shared: Job = callspec.params[LANE]
            job = python_job(state.matrix, item.nodeid, shared.task)
            if job is None or job.lane != shared.lane:
                raise pytest.UsageError(f"{item.nodeid}: cannot tell its Spread job")
            item.stash[PYTHON_JOB] = job
            if not matches_any(filters, job):
                dropped.append(item)
                continue
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


# -- phases and fixtures ------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """The test body is the job's execute: logged, reported and recorded as Spread's."""
    run = item.stash.get(RUN, None)
    worker = run.worker if run is not None else None
    if run is None or worker is None:
        return (yield)
    if worker.options.restore_only:  # --spread-restore: only restore scripts run
        raise pytest.skip.Exception("--spread-restore runs only the restore scripts")
    job, runner = run.job, worker.runner
    machine, observer = runner.machine, worker.options.observer
    where = f"{job.name} ({machine.label})"
    observer.script_started("execute", job.name, job, machine)
    runner.log(f"Executing {where}{progress(worker.options.total)}...")
    try:
        yield
    except pytest.skip.Exception as exc:
        observer.script_ended("execute", job.name, job, machine, "", True)
        observer.job_skipped(job, str(exc))
        raise
    except KeyboardInterrupt:
        raise  # the run stops; the test neither passed nor failed
    except BaseException as exc:
        text = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        runner.log(f"Error executing {where} : {text}")
        observer.script_ended("execute", job.name, job, machine, text, False)
        worker.report.failed_tasks.append(job.report_name)
        if worker.options.abend:
            worker.abend = True
        raise
    observer.script_ended("execute", job.name, job, machine, "", True)
    worker.report.successful += 1

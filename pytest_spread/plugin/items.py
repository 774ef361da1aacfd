"""Which pytest items are Spread jobs: shell tasks (`SpreadItem`) and Python tests in suites.

Also the job of a Python test from its node id alone (`python_job`), which
the xdist controller needs: it does not import test modules. No hooks here
(plugin/pytests.py has them), so the front end's modules may import this one.
"""

from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath

import pytest

from pytest_spread.plugin.collect import SpreadItem
from pytest_spread.project.matrix import Job, Matrix
from pytest_spread.project.model import Suite, Task

PYTHON_JOB = pytest.StashKey[Job]()  # a Python test's job (plugin/pytests.py)


def job_of(item: pytest.Item) -> Job | None:
    """The Spread job of an item: a shell task's or a Python test's; None for other tests."""
    if isinstance(item, SpreadItem):
        return item.job
    return item.stash.get(PYTHON_JOB, None)


def has_python_tests(matrix: Matrix) -> bool:
    """True when a suite directory holds a Python test module (`test_*.py`, `*_test.py`)."""
    return any(
        any(suite.dir.glob("test_*.py")) or any(suite.dir.glob("*_test.py"))
        for suite in matrix.project.suites.values()
    )


def python_job(matrix: Matrix, nodeid: str, task: Task | None = None) -> Job | None:
    """The job of a Python test's node id, or None when the node id is no such test.

    `task` is the module's task (with its environment) when the module is at hand;
    the xdist controller derives everything from the node id and the project.
    """
    path, separator, rest = nodeid.partition("::")
    name, bracket, params = rest.partition("[")
    if not separator or not bracket or not path.endswith(".py") or not params.endswith("]"):
        return None
    module = PurePosixPath(path)
    suite = _suite_named_by(matrix, module.parent.as_posix())
    if suite is None:
        return None
    found = _split_lane(matrix, params[:-1])
    if found is None:
        return None
    (backend_name, system_name), variant, others = found
    backend = matrix.project.backends[backend_name]
    system = backend.systems[system_name]
    if task is None:
        task = Task(
            name=f"{suite.name}{module.name}",
            suite=suite.name,
            dir=suite.dir,
            file=suite.dir / module.name,
            summary=module.name,
        )
    test = f"{name}[{others}]" if others else name
    task = dataclasses.replace(task, name=f"{suite.name}{module.name}::{test}")
    priority = next(
        (p for p in (suite.priority, system.priority, backend.priority) if p is not None), 0
    )
    return Job(backend, system, suite, task, variant, 1, priority)


def _suite_named_by(matrix: Matrix, directory: str) -> Suite | None:
    """The suite a node id's directory names (relative to the rootdir: matched by suffix)."""
    best: Suite | None = None
    for suite in matrix.project.suites.values():
        name = suite.name.rstrip("/")
        if directory == name or directory.endswith("/" + name):
            if best is None or len(name) > len(best.name):
                best = suite
    return best


def _split_lane(matrix: Matrix, params: str) -> tuple[tuple[str, str], str, str] | None:
    """`lane[:variant][-other ids]` into ((backend, system), variant, other ids)."""
    lanes = [
        (backend.name, system)
        for backend in matrix.project.backends.values()
        for system in backend.systems
    ]
    for backend_name, system_name in sorted(lanes, key=lambda lane: -len(":".join(lane))):
        lane = f"{backend_name}:{system_name}"
        if params != lane and not params.startswith((lane + "-", lane + ":")):
            continue
        rest = params[len(lane) :]
        variant = ""
        if rest.startswith(":"):
            variant, _, rest = rest[1:].partition("-")
            rest = "-" + rest if rest else ""
        return (backend_name, system_name), variant, rest[1:]
    return None


def lane_jobs(matrix: Matrix, suite: Suite, task: Task) -> list[Job]:
    """The jobs a task of `suite` has: one per backend, system and variant, in Spread's order."""
    from pytest_spread.project.matrix import _Generator

    scratch = dataclasses.replace(matrix, jobs=[])
    _Generator(matrix.project, scratch).add_task(suite, task)
    return sorted(scratch.jobs, key=lambda job: job.key)


def python_lane_jobs(matrix: Matrix) -> list[Job]:
    """Stand-ins for the Python tests of every suite, to count machines before collection.

    One job per lane a suite's module runs on, repeated as many times as the
    system has workers: the controller does not import the modules, so it
    neither knows their tests nor their `SPREAD_SYSTEMS`; it errs on more nodes.
    """
    jobs: list[Job] = []
    for suite in matrix.project.suites.values():
        for module in sorted([*suite.dir.glob("test_*.py"), *suite.dir.glob("*_test.py")]):
            task = Task(
                name=f"{suite.name}{module.name}",
                suite=suite.name,
                dir=suite.dir,
                file=module,
                summary=module.name,
            )
            for job in lane_jobs(matrix, suite, task):
                jobs += [job] * max(job.system.workers, 1)
    return jobs

"""The fixtures of Python tests on Spread machines, registered in every pytest run.

Without `--spread` a test that uses them is skipped (it needs a machine); the
modules that run jobs are imported only when a fixture really starts one.
`plugin/pytests.py` collects such tests into jobs and reports their execute.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from pytest_spread.plugin.options import spread_enabled

if TYPE_CHECKING:
    from fabric import Connection as FabricConnection

    from pytest_spread.machines.jobs import JobRun
    from pytest_spread.project.matrix import Job

LANE = "_spread_lane"  # the parametrized argument: the job's lane and variant
RUN = pytest.StashKey["JobRun"]()
NEEDS_SPREAD = "a test on Spread machines: run it with pytest --spread"


@dataclass(frozen=True)
class SpreadJob:
    """What the `spread_job` fixture gives a Python test: its job's names and environment."""

    name: str  # lxd:ubuntu-22.04:tests/main/test_mod.py::test_a:v1
    backend: str
    system: str
    suite: str  # tests/main/
    task: str  # tests/main/test_mod.py::test_a
    variant: str
    address: str  # the machine's SSH address
    environment: dict[str, str]  # as the job's scripts export it (values unexpanded)


@pytest.fixture
def _spread_lane() -> None:
    """Parametrized per job under --spread; None otherwise."""
    return None


@pytest.fixture
def _spread_run(request: pytest.FixtureRequest, _spread_lane: Job | None) -> JobRun:
    """The job's machine with every level up to the task prepare; restores at teardown.

    The restore is a finalizer registered first, so that it runs, as a task's
    restore does, also after a failed prepare (an error in set-up, then maybe
    one in teardown, as for a shell task).
    """
    item = request.node
    if not spread_enabled(request.config):
        pytest.skip(NEEDS_SPREAD)
    from pytest_spread.machines.jobs import JobRun
    from pytest_spread.plugin.collect import as_pytest_outcome, start_job
    from pytest_spread.plugin.items import job_of
    from pytest_spread.plugin.session import lane_done, pool_for

    job = job_of(item)
    if job is None:
        pytest.skip(NEEDS_SPREAD)
    run = JobRun(pool_for(request.config), job)

    def restore() -> None:
        if RUN in item.stash:
            del item.stash[RUN]
        last = lane_done(request.config, job.lane, item.nodeid)
        with as_pytest_outcome():
            run.restore(last_of_lane=last)

    request.addfinalizer(restore)
    start_job(item, run)
    item.stash[RUN] = run
    return run


@pytest.fixture
def spread_job(request: pytest.FixtureRequest, _spread_run: JobRun) -> SpreadJob:
    """The names and environment of the test's Spread job."""
    from pytest_spread.plugin.session import STATE
    from pytest_spread.project.environment import job_environment

    job = _spread_run.job
    matrix = request.config.stash[STATE].matrix
    assert matrix is not None
    return SpreadJob(
        name=job.name,
        backend=job.backend.name,
        system=job.system.name,
        suite=job.suite.name,
        task=job.task.name,
        variant=job.variant,
        address=_spread_run.address,
        environment=dict(job_environment(job, matrix)),
    )


@pytest.fixture
def spread_machine(_spread_run: JobRun) -> Iterator[FabricConnection]:
    """The job's machine as a `fabric.Connection` over its pool's SSH transport (no new login)."""
    from pytest_spread.plugin.shared_fabric import shared_connection

    assert _spread_run.worker is not None
    worker = _spread_run.worker
    runner, job, machine = worker.runner, _spread_run.job, worker.runner.machine

    def note(text: str) -> None:  # into the job's log file (--spread-logs)
        worker.options.observer.message(machine, text, job)

    connection = shared_connection(machine, runner.connection, note)
    try:
        yield connection
    finally:
        sftp = getattr(connection, "_sftp", None)
        if sftp is not None:
            sftp.close()  # the transport stays: it is the pool's

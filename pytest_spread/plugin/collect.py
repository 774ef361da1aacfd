"""pytest collectors and items: one `TaskFile` per task.yaml, one `SpreadItem` per job."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from pytest_spread.errors import display_path
from pytest_spread.machines.jobs import JobRun
from pytest_spread.plugin.session import lane_done, pool_for
from pytest_spread.project.matrix import Job
from pytest_spread.run import durations
from pytest_spread.run.outcomes import LIFECYCLE_OUTCOMES, JobSkipped


class SpreadItem(pytest.Item):
    """One Spread job; `name` is the job name, the node id `<task name>/task.yaml::<name>`."""

    def __init__(self, *, job: Job, **kwargs: Any) -> None:
        self.job = job
        super().__init__(**kwargs)

    # The `spread(...)` marker is built on first use: only -m and -k look at
    # markers, and building 150,000 of them up front costs seconds.
    @property
    def own_markers(self) -> list[pytest.Mark]:
        markers: list[pytest.Mark] | None = self.__dict__.get("_own_markers")
        if markers is None:
            markers = self.__dict__["_own_markers"] = [spread_marker(self.job).mark]
        return markers

    @own_markers.setter
    def own_markers(self, value: list[pytest.Mark]) -> None:
        if value:  # pytest's Node.__init__ assigns an empty list first
            self.__dict__["_own_markers"] = [*self.own_markers, *value]

    _run: JobRun | None = None

    def setup(self) -> None:
        """Spread's levels up to and including the task prepare (errors here are setup errors)."""
        self._run = run = JobRun(pool_for(self.config), self.job)
        start_job(self, run)

    def runtest(self) -> None:
        """The task's execute (a failing execute is a test failure)."""
        if self._run is not None:
            with as_pytest_outcome():
                output = self._run.execute()
            if output:
                self.add_report_section("call", "stdout", output)

    def teardown(self) -> None:
        """Artifacts and the task restore (a failing restore is a teardown error)."""
        run, self._run = self._run, None
        if run is not None:
            last = lane_done(self.config, self.job.lane, self.nodeid)
            with as_pytest_outcome():
                run.restore(last_of_lane=last)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.job.task.file, max(self.job.task.execute_line - 1, 0), self.name


def spread_marker(job: Job) -> pytest.MarkDecorator:
    """The `spread(backend=, system=, suite=, task=, variant=)` marker of a job."""
    return pytest.mark.spread(
        backend=job.backend.name,
        system=job.system.name,
        suite=job.suite.name,
        task=job.task.name,
        variant=job.variant,
    )


def start_job(item: pytest.Item, run: JobRun) -> None:
    """A job item's set-up: its JUnit properties, its machine, then every prepare up to the
    task's (errors here are set-up errors)."""
    job = run.job
    item.user_properties += [
        ("backend", job.backend.name),
        ("system", job.system.name),
        ("suite", job.suite.name),
        ("task", job.task.name),
        ("variant", job.variant),
        ("sample", str(job.sample)),
    ]
    with as_pytest_outcome():
        run.start()
        item.user_properties.append(("machine", run.address))
        item.user_properties.append((durations.MACHINE_SECONDS, f"{run.machine_seconds:.3f}"))
        run.prepare()


@contextmanager
def as_pytest_outcome() -> Iterator[None]:
    """Spread's outcomes as pytest failures whose report is Spread's own message."""
    try:
        yield
    except JobSkipped as exc:
        raise pytest.skip.Exception(str(exc), _use_item_location=True) from None
    except LIFECYCLE_OUTCOMES as exc:
        message = str(exc)
    else:
        return
    raise pytest.fail.Exception(message, pytrace=False) from None


class TaskFile(pytest.File):
    """A task.yaml: its jobs are the items."""

    def __init__(self, *, jobs: Iterable[Job] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jobs = list(jobs)

    def collect(self) -> list[SpreadItem]:
        make = SpreadItem.from_parent
        return [make(self, name=job.name, job=job) for job in self.jobs]


class ProjectErrorFile(pytest.File):
    """A spread.yaml or task.yaml whose content stops the project from loading."""

    def __init__(self, *, message: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.message = message

    def collect(self) -> list[pytest.Item]:
        raise self.CollectError(self.message)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, display_path(self.path)

"""How many xdist nodes can work: one per machine Spread would use at once.

A lane (`backend:system`) never has more nodes than its system's `workers:`,
so nodes beyond their sum would only start, collect and stop. `-n auto`
starts that many; a larger `-n N` is cut down to it, and the header says so.
"""

from __future__ import annotations

import pytest

from pytest_spread.plugin.items import python_lane_jobs
from pytest_spread.project.filters import compile_filters, drop_manual, matches_any
from pytest_spread.project.matrix import Job, Matrix
from pytest_spread.project.order import workers_per_lane

NOTE = pytest.StashKey[str]()


def useful_nodes(config: pytest.Config, matrix: Matrix) -> int:
    """The sum of `workers:` over the lanes of the jobs the filters select."""
    filters = compile_filters(config.getoption("spread_filter"))
    jobs = [job for job in matrix.jobs if matches_any(filters, job)]
    jobs = drop_manual(jobs, _identity, selects_explicitly(config))
    jobs += python_lane_jobs(matrix)  # Python tests in suites (plugin/pytests.py)
    return max(1, sum(workers_per_lane(jobs).values()))


def limit_nodes(config: pytest.Config, matrix: Matrix) -> None:
    """Start only the nodes that can work, when `-n N` asks for more."""
    specs = list(config.getoption("tx", None) or [])
    useful = useful_nodes(config, matrix)
    if len(specs) <= useful or any(spec != "popen" for spec in specs):
        return
    config.option.tx = specs[:useful]
    config.option.numprocesses = useful
    config.stash[NOTE] = (
        f"spread: -n {len(specs)}, but the selected systems have {useful} "
        f"worker{'s' if useful != 1 else ''} in all (workers:): starting {useful} "
        f"node{'s' if useful != 1 else ''}"
    )


def header_lines(config: pytest.Config) -> list[str]:
    note = config.stash.get(NOTE, None)
    return [note] if note else []


def selects_explicitly(config: pytest.Config) -> bool:
    """True when a selection could name manual jobs (Spread: any filter argument)."""
    return bool(
        config.getoption("spread_filter")
        or config.getoption("keyword")
        or config.getoption("markexpr")
    )


def _identity(job: Job) -> Job:
    return job

"""The order a session runs its jobs in: Spread's, with seeds, durations and --ff hints."""

from __future__ import annotations

import time

import pytest

from pytest_spread.log import log
from pytest_spread.plugin.items import job_of, python_job
from pytest_spread.plugin.session import CONTROLLER_MATRIX, STATE, SpreadState
from pytest_spread.project.order import NO_HINTS, Hints, run_order
from pytest_spread.run import durations


def hints_for(config: pytest.Config) -> Hints:
    """Durations from pytest's cache (unless a seed is given) and, with --ff, last failures.

    With --spread-order, the --spread-filter order instead of priorities, seeds and durations.
    """
    order = tuple(config.getoption("spread_filter")) if config.getoption("spread_order") else None
    cache = getattr(config, "cache", None)
    if cache is None:
        return Hints(order=order)
    first: frozenset[str] = frozenset()
    if config.getoption("failedfirst", False):
        failed = cache.get("cache/lastfailed", {})
        first = frozenset(_job_name(config, nodeid) for nodeid in failed)
    if parse_seed(config) or order is not None:  # an explicit seed reproduces an order exactly
        return Hints(first=first, order=order)
    return Hints(durations=durations.valid(cache.get(durations.CACHE_KEY, {})), first=first)


def _job_name(config: pytest.Config, nodeid: str) -> str:
    """The job name in a node id: a task's last part, or a Python test's job (items.py)."""
    state = config.stash.get(STATE, None)
    matrix = (state.matrix if state else None) or config.stash.get(CONTROLLER_MATRIX, None)
    job = python_job(matrix, nodeid) if matrix is not None else None
    return job.name if job is not None else nodeid.rpartition("::")[2]


def save_timings(config: pytest.Config, state: SpreadState) -> None:
    """Add the run's job durations to pytest's cache."""
    cache = getattr(config, "cache", None)
    matrix = state.matrix or config.stash.get(CONTROLLER_MATRIX, None)
    if cache is not None and matrix is not None and state.timings:
        known = durations.valid(cache.get(durations.CACHE_KEY, {}))
        jobs = {job.name for job in matrix.jobs} | set(state.timings)  # with Python tests
        cache.set(durations.CACHE_KEY, durations.merged(known, state.timings, jobs))


def plan_run_order(session: pytest.Session, state: SpreadState, hints: Hints = NO_HINTS) -> None:
    """Order the session's jobs as Spread's workers take them, and note each lane's end."""
    found = [(item, job) for item in session.items if (job := job_of(item)) is not None]
    if not found:
        return
    seed = choose_seed(session.config, len(found))
    by_job = {id(job): item for item, job in found}
    order = run_order([job for _, job in found], seed, hints)
    others = [item for item in session.items if job_of(item) is None]
    session.items[:] = others + [by_job[id(job)] for job in order]
    for job in order:
        state.last_of_lane[job.lane] = by_job[id(job)].nodeid


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

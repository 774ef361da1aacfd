"""Which pytest items are Spread jobs: shell tasks (`SpreadItem`) and Python tests in suites."""

from __future__ import annotations

import pytest

from pytest_spread.plugin.collect import SpreadItem
from pytest_spread.project.matrix import Job, Matrix

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

"""Integration tests run real jobs on real machines (see tests/hosts)."""

# pytester's inline runs forget modules first imported inside a run; the SSH
# stack's compiled bindings cannot be imported twice, so import them here.
import paramiko  # noqa: F401
import pytest

import pytest_spread.machines.source  # noqa: F401


@pytest.fixture
def run(pytester: pytest.Pytester):
    """`run(*args)`: pytest --spread in the test's project (modules may add options)."""

    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest("--spread", "-p", "no:cacheprovider", *args)

    return run

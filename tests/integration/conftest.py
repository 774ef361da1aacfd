"""Integration tests run real jobs on real machines (see tests/hosts)."""

# pytester's inline runs forget modules first imported inside a run; the SSH
# stack's compiled bindings cannot be imported twice, so import them here.
import paramiko  # noqa: F401

import pytest_spread.machines.source  # noqa: F401

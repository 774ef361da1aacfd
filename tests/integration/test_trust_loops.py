"""The leak loops of tests/trust_loops.py, a few repetitions each (the script runs 20)."""

from __future__ import annotations

import pytest

from tests import trust_loops


@pytest.mark.parametrize("scenario", trust_loops.SCENARIOS)
def test_runs_cut_short_leave_no_machine(machine_factory, tmp_path, scenario):
    machines = {name: machine_factory() for name in trust_loops.SYSTEMS}
    results = trust_loops.loops(machines, 2, tmp_path, (scenario,))
    outcome = results[scenario]
    assert outcome.allocated > 0
    assert outcome.problems == []
    assert outcome.leftover == 0

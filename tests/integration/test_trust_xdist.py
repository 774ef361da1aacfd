"""pytest and xdist at the edges: plain tests beside jobs, -x, Ctrl-C, $(HOST:...) once."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from .test_lifecycle import write_tasks
from .test_trust_fidelity import PYTEST, ledger_yaml, leftover, run

SYSTEMS = ("ubuntu-24.04", "debian-12")


@pytest.fixture
def two_machines(machine_factory):
    return {system: machine_factory() for system in SYSTEMS}


def two_lane_project(pytester, machines, ledger: Path, tasks: dict[str, str], **extra) -> None:
    first = machines[SYSTEMS[0]]
    text = ledger_yaml(first, ledger, systems=SYSTEMS, machines=machines, **extra)
    pytester.makefile(".yaml", spread=text)
    write_tasks(pytester, tasks)


# -- 4. plain pytest tests beside the jobs -------------------------------------------------


@pytest.mark.parametrize("nodes", ["0", "2"])
def test_plain_tests_run_beside_the_jobs(pytester, two_machines, tmp_path, nodes):
    ledger = tmp_path / "ledger"
    two_lane_project(pytester, two_machines, ledger, {"tests/a": "summary: t\nexecute: true\n"})
    pytester.makepyfile(
        test_plain="""
        def test_passes():
            pass

        def test_fails():
            assert False, "a plain test failed"
        """
    )
    status, out = run(PYTEST, pytester.path, "-n", nodes, ".", timeout=120)
    assert status == pytest.ExitCode.TESTS_FAILED, out
    assert "1 failed, 3 passed" in out, out
    assert "a plain test failed" in out
    assert leftover(ledger) == {}


# -- 5. -x under xdist ------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["-x", "--maxfail=1"])
@pytest.mark.parametrize("priority", [9, 0, -9])  # the failure first, amid, or last
def test_exitfirst_under_xdist_ends_as_pytest_does(
    pytester, two_machines, tmp_path, option, priority
):
    ledger = tmp_path / "ledger"
    tasks = {f"tests/t{n}": "summary: t\nexecute: sleep 0.2\n" for n in range(4)}
    tasks["tests/bad"] = f"summary: t\npriority: {priority}\nexecute: exit 1\n"
    two_lane_project(pytester, two_machines, ledger, tasks)
    status, out = run(PYTEST, pytester.path, "-n", "2", option, timeout=120)
    assert "INTERNALERROR" not in out, out
    # What pytest-xdist itself does on -x: the session is interrupted (exit status 2).
    assert status == pytest.ExitCode.INTERRUPTED, out
    assert "stopping after 1 failures" in out, out
    assert leftover(ledger) == {}


# -- 6. Ctrl-C under xdist, also during collection ----------------------------------------------


def test_ctrl_c_during_collection_under_xdist(pytester, two_machines, tmp_path):
    ledger = tmp_path / "ledger"
    slow_host = "$(HOST: sleep 1; echo v)"
    tasks = {f"tests/t{n}": "summary: t\nexecute: true\n" for n in range(3)}
    two_lane_project(
        pytester, two_machines, ledger, tasks, project_extra=f"environment:\n    X: '{slow_host}'\n"
    )
    for delay in (0.5, 1.0, 1.5, 2.0):
        process = subprocess.Popen(
            [*PYTEST, "-n", "2"],
            cwd=pytester.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        time.sleep(delay)
        import os

        os.killpg(process.pid, signal.SIGINT)
        out, _ = process.communicate(timeout=120)
        assert "collected different jobs" not in out, out
        assert "cannot send to" not in out, out
        assert "Traceback" not in out or "KeyboardInterrupt" in out, out
        assert "invalid YAML" not in out
        assert leftover(ledger) == {}, out


# -- 8. $(HOST:...) once per run ------------------------------------------------------------------


def test_host_commands_run_once_in_the_controller_and_every_node_uses_them(
    pytester, two_machines, tmp_path
):
    ledger = tmp_path / "ledger"
    count = tmp_path / "host-runs"
    host = f"$(HOST: echo run >> {count}; cat /proc/sys/kernel/random/uuid)"
    tasks = {f"tests/t{n}": "summary: t\nexecute: echo $VALUE >> /root/values\n" for n in range(3)}
    two_lane_project(
        pytester, two_machines, ledger, tasks, project_extra=f"environment:\n    VALUE: '{host}'\n"
    )
    status, out = run(PYTEST, pytester.path, "-n", "3", timeout=120)
    assert status == 0, out
    assert count.read_text().split() == ["run"], out
    values = set()
    for machine in two_machines.values():
        values.update(machine.path("/root/values").read_text().split())
    assert len(values) == 1, values
    assert leftover(ledger) == {}

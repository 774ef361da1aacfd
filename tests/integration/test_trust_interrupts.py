"""Interrupts and waits: Ctrl-C and SIGTERM while allocating or waiting end at once,
and nothing is left allocated; waits show progress; aborting errors are printed."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from pytest_spread.backends import adhoc
from pytest_spread.backends.sandbox import free_port

from .test_lifecycle import write_tasks
from .test_trust_fidelity import PYTEST, SPREAD, ledger_yaml, leftover, run

FRONTS = {"spread": [*SPREAD, "-seed=1"], "pytest": PYTEST}


def start(command: list[str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*command, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def wait_for_line(path: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and text in path.read_text()):
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.05)


# -- 14. Ctrl-C while allocating or waiting -------------------------------------------------


@pytest.mark.parametrize("front", ["spread", "pytest"])
@pytest.mark.parametrize("fault", ["failing-allocate", "closed-port"])
def test_ctrl_c_while_allocating_stops_at_once(pytester, machine, tmp_path, front, fault):
    ledger = tmp_path / "ledger"
    tried = tmp_path / "tried"
    if fault == "failing-allocate":
        extra = f"echo tried >> {tried}\nexit 1\n"  # retried every 5 s for 5 minutes
        text = ledger_yaml(machine, ledger, allocate_extra=extra)
    else:
        closed = f"127.0.0.1:{free_port()}"  # waited for up to the connect timeout
        text = ledger_yaml(machine, ledger, allocate_extra=f"echo tried >> {tried}\n")
        text = text.replace(machine.address, closed)
    pytester.makefile(".yaml", spread=text)
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: true\n"})
    process = start(FRONTS[front], pytester.path)
    wait_for_line(tried, "tried")
    time.sleep(0.5)  # inside the retry's pause or the port wait
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    out, _ = process.communicate(timeout=60)
    assert time.monotonic() - interrupted < 10, out  # it retried for minutes before
    assert "interrupt again to discard them at once" in out, out
    assert "cannot allocate adhoc:ubuntu-24.04: interrupted" in out.lower(), out
    assert process.returncode != 0
    assert leftover(ledger) == {}, out
    if front == "pytest":
        # Shown as it happens, not only in a test's captured output (no -rA here).
        assert "interrupt again" in out.split("= ERRORS =")[0], out


@pytest.mark.parametrize("front", ["spread", "pytest"])
def test_a_machine_allocated_after_a_second_ctrl_c_is_discarded(pytester, machine, tmp_path, front):
    """Two Ctrl-C while the allocate script runs: it finishes, and its machine goes at once."""
    ledger = tmp_path / "ledger"
    started = tmp_path / "started"
    extra = f"echo go > {started}\nsleep 2\n"
    pytester.makefile(".yaml", spread=ledger_yaml(machine, ledger, allocate_extra=extra))
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: true\n"})
    process = start(FRONTS[front], pytester.path)
    wait_for_line(started, "go")
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "allocate ubuntu-24.04" in ledger.read_text(), out
    assert leftover(ledger) == {}, out
    assert list(pytester.path.glob(".spread-reuse.*")) == [], out


# -- 15. SIGTERM is a Ctrl-C -----------------------------------------------------------------


@pytest.mark.parametrize("front", ["spread", "pytest"])
def test_sigterm_restores_and_discards(pytester, machine, tmp_path, front):
    ledger = tmp_path / "ledger"
    restored = "restore: echo project-restore >> /root/order\n"
    pytester.makefile(".yaml", spread=ledger_yaml(machine, ledger, project_extra=restored))
    write_tasks(
        pytester,
        {
            "tests/a": "summary: t\npriority: 10\nexecute: |\n    touch /root/started\n"
            "    sleep 2\n    echo a-done >> /root/order\n"
            "restore: echo a-restore >> /root/order\n",
            "tests/b": "summary: t\nexecute: echo b >> /root/order\n",
        },
    )
    process = start(FRONTS[front], pytester.path)
    deadline = time.monotonic() + 30
    while not machine.path("/root/started").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=60)
    assert process.returncode != 0
    assert machine.path("/root/order").read_text().split() == [
        "a-done",
        "a-restore",
        "project-restore",
    ], out
    assert leftover(ledger) == {}, out
    assert list(pytester.path.glob(".spread-reuse.*")) == [], out


# -- 16. progress while waiting, and reasons for aborted jobs ---------------------------------


def test_waiting_for_ssh_shows_progress_and_honours_the_connect_timeout(
    pytester, machine, tmp_path, monkeypatch
):
    monkeypatch.setattr(adhoc, "PORT_RELOG", 0.5)
    ledger = tmp_path / "ledger"
    closed = f"127.0.0.1:{free_port()}"
    pytester.makefile(".yaml", spread=ledger_yaml(machine, ledger).replace(machine.address, closed))
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: true\n"})
    started = time.monotonic()
    result = pytester.runpytest(
        "--spread",
        "-p",
        "no:cacheprovider",
        "--spread-log",
        "--spread-connect-timeout=2",
        "--spread-allocate-timeout=8",
    )
    assert time.monotonic() - started < 20
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "Cannot connect to adhoc:ubuntu-24.04: [Errno 111] Connection refused" in out, out
    assert f"cannot connect to adhoc:ubuntu-24.04 at {closed}" in out
    # Each SSH wait ends at the connect timeout; allocation is retried until its own.
    assert out.count("Waiting for adhoc:ubuntu-24.04 to make SSH available") >= 2, out
    assert leftover(ledger) == {}


@pytest.mark.parametrize("fault", ["cannot-allocate", "path-not-empty"])
def test_the_spread_command_prints_why_jobs_were_aborted(pytester, machine, tmp_path, fault):
    ledger = tmp_path / "ledger"
    if fault == "cannot-allocate":
        text = ledger_yaml(machine, ledger, allocate_extra="FATAL no machines left\n")
        reason = "Cannot allocate adhoc:ubuntu-24.04: no machines left"
    else:
        text = ledger_yaml(machine, ledger)  # its project path is never removed
        reason = (
            "Discarding adhoc:ubuntu-24.04, cannot send project content: "
            "remote directory /srv/spread-p on"
        )
    pytester.makefile(".yaml", spread=text)
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: true\n"})
    if fault == "path-not-empty":
        status, out = run(SPREAD, pytester.path)
        assert status == 0, out
    status, out = run(SPREAD, pytester.path)
    assert status == 1
    assert reason in out, out
    assert "Aborted tasks: 1" in out
    assert leftover(ledger) == {}

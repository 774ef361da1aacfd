"""Faults that must not hang or crash a run: vanished machines, stray local children,
shells whose input ends, discards that blow up, reboots (connections are not leaked)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_spread.backends import registry
from pytest_spread.backends.adhoc import AdhocProvider
from pytest_spread.backends.base import Machine

from .test_lifecycle import write_tasks
from .test_trust_fidelity import PYTEST, SPREAD, ledger_yaml, leftover, run


def namespace_processes(pid: int) -> list[int]:
    """Every host pid in the PID namespace whose init is `pid`."""
    namespace = os.readlink(f"/proc/{pid}/ns/pid")
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "pid") == namespace:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def freeze(machine) -> None:
    """The machine stops answering without closing anything (no FIN, no RST): as a
    machine whose network vanished. Every process inside it is stopped."""
    init = machine.pid
    for _ in range(3):  # catch processes forked meanwhile
        for pid in namespace_processes(init):
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass
        time.sleep(0.05)


def thaw(machine, init: int) -> None:
    for pid in namespace_processes(init):
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def wait_for(path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


# -- 9. a machine that vanishes silently --------------------------------------------------


def test_a_machine_that_vanishes_fails_its_job_in_time_and_the_run_goes_on(
    pytester, machine_factory, tmp_path
):
    frozen, healthy = machine_factory(), machine_factory()
    ledger = tmp_path / "ledger"
    systems = ("ubuntu-24.04", "debian-12")
    text = ledger_yaml(frozen, ledger, systems=systems, machines={"debian-12": healthy})
    pytester.makefile(".yaml", spread=text)
    write_tasks(
        pytester,
        {
            "tests/a": "summary: t\nsystems: [ubuntu-24.04]\nkill-timeout: 4s\n"
            "execute: |\n    touch /root/started\n    sleep 60\n",
            "tests/b": "summary: t\nexecute: true\n",
        },
    )
    init = frozen.pid
    process = subprocess.Popen(
        [*PYTEST, "--spread-connect-timeout=2", "--spread-allocate-timeout=2"],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(frozen.path("/root/started"))
        freeze(frozen)
        started = time.monotonic()
        out, _ = process.communicate(timeout=90)
        elapsed = time.monotonic() - started
    finally:
        process.kill()
        thaw(frozen, init)
    # The frozen machine's jobs ended with errors, not a hang; the healthy one's ran.
    assert "1 passed" in out and "PASSED tests/b/task.yaml::adhoc:debian-12:tests/b" in out, out
    # Its running script fails at its kill-timeout (4 s), the next one at once.
    assert "Error executing adhoc:ubuntu-24.04:tests/a (adhoc:ubuntu-24.04) : " in out, out
    assert "<kill-timeout reached>" in out, out
    assert "Traceback" not in out
    assert elapsed < 30, out
    assert leftover(ledger) == {}, out


# -- 10. a local script's background child ---------------------------------------------------


def test_an_allocate_leaving_a_child_on_its_output_does_not_hang(pytester, machine, tmp_path):
    ledger = tmp_path / "ledger"
    child = tmp_path / "child.pid"
    text = ledger_yaml(machine, ledger, allocate_extra=f"sleep 120 &\necho $! > {child}\n")
    pytester.makefile(".yaml", spread=text)
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: true\n"})
    started = time.monotonic()
    status, out = run(SPREAD, pytester.path, timeout=60)
    assert status == 0, out
    assert time.monotonic() - started < 20
    assert leftover(ledger) == {}
    os.kill(int(child.read_text()), signal.SIGKILL)  # the project's own child, still there


# -- 11. an interactive shell whose input ends ----------------------------------------------


def test_a_shell_whose_input_ends_exits_without_a_crash(pytester, machine, tmp_path):
    import pty

    ledger = tmp_path / "ledger"
    pytester.makefile(".yaml", spread=ledger_yaml(machine, ledger))
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: echo ran > /root/ran\n"})
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [*SPREAD, "-shell"],
        cwd=pytester.path,
        stdin=subprocess.DEVNULL,  # the input ends at once
        stdout=slave,
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.2)[0]:
            try:
                seen += os.read(master, 65536)
            except OSError:  # the command ended and closed the terminal
                break
        elif process.poll() is not None:
            break
    process.kill()
    process.wait(timeout=10)
    os.close(master)
    text = seen.decode(errors="replace")
    assert "Starting shell instead of executing" in text, text
    assert "Continuing..." in text, text
    assert "Traceback" not in text and "Error running debug shell" not in text, text
    assert process.returncode == 0, text
    assert leftover(ledger) == {}


# -- 12. closing never raises, every lane is tried ------------------------------------------


class ExplodingDiscard(AdhocProvider):
    """An adhoc provider whose discard of one system fails with an unexpected error."""

    def discard(self, machine: Machine) -> None:
        if machine.system == "ubuntu-24.04":
            raise RuntimeError("the discard blew up")
        super().discard(machine)


@pytest.mark.parametrize("front", ["spread", "pytest"])
def test_a_discard_that_blows_up_leaves_the_others_discarded(
    pytester, machine, machine_factory, tmp_path, monkeypatch, front
):
    monkeypatch.setitem(registry.PROVIDERS, "adhoc", f"{__name__}:ExplodingDiscard")
    ledger = tmp_path / "ledger"
    systems = ("ubuntu-24.04", "debian-12")
    other = {"debian-12": machine_factory()}
    text = ledger_yaml(machine, ledger, systems=systems, machines=other)
    pytester.makefile(".yaml", spread=text)
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: true\n"})
    if front == "spread":
        from pytest_spread.command.cli import main

        monkeypatch.chdir(pytester.path)
        status = main(["-seed=1"])
        assert status == 0
    else:
        result = pytester.runpytest("--spread", "-p", "no:cacheprovider", "--spread-log")
        result.assert_outcomes(passed=2)
        assert "INTERNALERROR" not in result.stdout.str()
        assert "the discard blew up" in result.stdout.str()
    # The one that blew up is still recorded for `spread -reuse-pid=N -discard`.
    assert leftover(ledger) == {"ubuntu-24.04": 1}
    kept = list(pytester.path.glob(".spread-reuse.*.yaml"))
    assert len(kept) == 1 and "ubuntu-24.04" in kept[0].read_text()
    assert "debian-12" not in kept[0].read_text()


# -- 13. after a reboot, the new connection is the one closed ----------------------------------


def established_to(port: int) -> int:
    """Established TCP connections from this host to 127.0.0.1:port."""
    count = 0
    for table in ("/proc/net/tcp",):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote, state = fields[2], fields[3]
            if state == "01" and int(remote.split(":")[1], 16) == port:
                count += 1
    return count


def test_the_connection_after_a_reboot_is_closed_at_the_end(pytester, machine, tmp_path):
    ledger = tmp_path / "ledger"
    pytester.makefile(".yaml", spread=ledger_yaml(machine, ledger))
    write_tasks(
        pytester,
        {
            "tests/a": "summary: t\nexecute: |\n"
            '    if [ "$SPREAD_REBOOT" = 0 ]; then REBOOT; fi\n    echo back\n'
        },
    )
    port = int(machine.address.rpartition(":")[2])
    result = pytester.runpytest("--spread", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    deadline = time.monotonic() + 5
    while established_to(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert established_to(port) == 0
    assert leftover(ledger) == {}


def test_established_to_sees_an_open_connection(machine):
    """The count used above really sees a connection this process holds."""
    from pytest_spread.transport.ssh import Connection

    port = int(machine.address.rpartition(":")[2])
    connection = Connection.open(machine.address, "root", machine.password)
    try:
        assert established_to(port) >= 1
    finally:
        connection.close()
    _ = sys.executable

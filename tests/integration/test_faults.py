"""Faults: a clear error on the job, the run goes on, allocated machines are discarded."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from pytest_spread.backends.sandbox import free_port

from .test_lifecycle import spread_yaml, write_tasks


@pytest.fixture
def run(pytester: pytest.Pytester):
    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest(
            "--spread", "-p", "no:cacheprovider", "--spread-allocate-timeout=1", *args
        )

    return run


def two_backends(machine, good_allocate: str, bad_allocate: str, discard_log) -> str:
    """A working backend and a broken one, both logging their discards."""
    text: str = spread_yaml(machine, discard_log=str(discard_log))
    bad = (
        f"    broken:\n        type: adhoc\n        allocate: {bad_allocate}\n"
        f"        discard: echo broken $SPREAD_SYSTEM_ADDRESS >> {discard_log}\n"
        "        systems: [ubuntu-24.04]\n"
    )
    return text.replace("suites:\n", bad + "suites:\n").replace(
        f"allocate: ADDRESS {machine.address}", f"allocate: {good_allocate}"
    )


@pytest.mark.parametrize(
    ("allocate", "message"),
    [
        (
            "echo no address here",
            'cannot allocate broken:ubuntu-24.04: backend "broken" allocate '
            'must print ADDRESS=<SSH address> to stdout, got: ""',
        ),
        ("FATAL out of machines", "cannot allocate broken:ubuntu-24.04: out of machines"),
        ("ERROR try later", "cannot allocate broken:ubuntu-24.04: try later"),
        ("exit 7", "cannot allocate broken:ubuntu-24.04: + exit 7"),
    ],
)
def test_broken_allocate_aborts_only_its_lane(pytester, machine, run, tmp_path, allocate, message):
    log = tmp_path / "discard.log"
    pytester.makefile(
        ".yaml", spread=two_backends(machine, f"ADDRESS {machine.address}", allocate, log)
    )
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: true\n"})
    result = run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*{message}*"])
    assert "Traceback" not in result.stdout.str()
    assert log.read_text().split() == [machine.address]


def test_unreachable_address_is_discarded(pytester, machine, run, tmp_path):
    log = tmp_path / "discard.log"
    closed = f"127.0.0.1:{free_port()}"
    pytester.makefile(
        ".yaml",
        spread=two_backends(machine, f"ADDRESS {machine.address}", f"ADDRESS {closed}", log),
    )
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: true\n"})
    result = run()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines([f"*cannot connect to broken:ubuntu-24.04 at {closed}*"])
    assert sorted(log.read_text().splitlines()) == [machine.address, f"broken {closed}"]


def test_connection_dropped_mid_script(pytester, machine, run, tmp_path):
    log = tmp_path / "discard.log"
    pytester.makefile(".yaml", spread=spread_yaml(machine, discard_log=str(log)))
    write_tasks(
        pytester,
        {
            "tests/a-drop": "summary: t\nexecute: |\n    echo dropping\n"
            "    pkill -9 -f 'sshd: root@notty'\n    sleep 5\n",
            "tests/b-next": "summary: t\nexecute: true\n",
        },
    )
    result = run()
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) >= 2
    result.stdout.fnmatch_lines(["*Error executing adhoc:ubuntu-24.04:tests/a-drop*"])
    assert "Traceback" not in result.stdout.str()
    assert log.read_text().split() == [machine.address]


def test_wrong_password_is_a_clear_error(pytester, machine, run, tmp_path):
    log = tmp_path / "discard.log"
    text = spread_yaml(machine, discard_log=str(log)).replace(
        f"password: {machine.password}", "password: wrong"
    )
    pytester.makefile(".yaml", spread=text)
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: true\n"})
    result = run("--spread-connect-timeout=0.5")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cannot connect to 127.0.0.1:*: ssh: unable to authenticate*"])
    assert log.read_text().split() == [machine.address]


def test_spread_and_pytest_agree(pytester, machine):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(
            machine,
            project_extra="restore: rm -rf /srv/spread-p\n",
            suites={"tests/": "summary: s\n", "other/": "summary: s\nprepare: exit 1\n"},
        ),
    )
    write_tasks(
        pytester,
        {
            "tests/ok": "summary: t\nexecute: true\n",
            "tests/fail": "summary: t\nexecute: exit 1\n",
            "tests/prep": "summary: t\nprepare: exit 1\n",
            "other/x": "summary: t\nexecute: true\n",
        },
    )
    spread = pytester.run(sys.executable, "-m", "pytest_spread")
    report = [
        line.split(" ", 2)[2]
        for line in spread.outlines
        if line[:4].isdigit() and ("tasks:" in line or "prepare:" in line)
    ]
    result = pytester.runpytest("--spread", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, errors=2)
    assert report == [
        "Successful tasks: 1",
        "Aborted tasks: 2",
        "Failed tasks: 1",
        "Failed task prepare: 1",
        "Failed suite prepare: 1",
    ]
    result.stdout.fnmatch_lines(
        [
            "Successful tasks: 1",
            "Aborted tasks: 2",
            "Failed tasks: 1",
            "    - adhoc:ubuntu-24.04:tests/fail",
            "Failed task prepare: 1",
            "    - adhoc:ubuntu-24.04:tests/prep",
            "Failed suite prepare: 1",
            "    - adhoc:ubuntu-24.04:other/",
        ]
    )


def interrupted_project(pytester, machine, log) -> None:
    """Task a runs first and sleeps; b waits in the queue; every level logs its restore."""
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(
            machine,
            discard_log=str(log),
            project_extra="restore: echo project-restore >> /root/order\n",
        ),
    )
    write_tasks(
        pytester,
        {
            "tests/a": "summary: t\npriority: 10\nexecute: |\n    touch /root/started\n"
            "    sleep 2\n    echo a-done >> /root/order\n"
            "restore: echo a-restore >> /root/order\n",
            "tests/b": "summary: t\nexecute: echo b >> /root/order\n",
        },
    )


def interrupt(process, machine, times: int) -> str:
    """SIGINT the run `times` times once task a started; its output."""
    deadline = time.monotonic() + 30
    while not machine.path("/root/started").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for _ in range(times):
        process.send_signal(signal.SIGINT)
        time.sleep(0.2)
    out, _ = process.communicate(timeout=60)
    return str(out)


SPREAD = [sys.executable, "-m", "pytest_spread", "-seed=1", "tests/"]
PYTEST = [sys.executable, "-m", "pytest", "--spread", "-p", "no:cacheprovider", "-rA"]


@pytest.mark.parametrize("command", [SPREAD, PYTEST], ids=["spread", "pytest"])
def test_sigint_finishes_the_job_restores_and_discards(pytester, machine, tmp_path, command):
    log = tmp_path / "discard.log"
    interrupted_project(pytester, machine, log)
    process = subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.PIPE, text=True)
    out = interrupt(process, machine, times=1)
    order = machine.path("/root/order").read_text().split()
    assert order == ["a-done", "a-restore", "project-restore"], out
    assert "interrupt again to discard them at once" in out
    if command is SPREAD:
        assert process.returncode == 1
        assert "Aborted tasks: 1" in out
    else:
        assert process.returncode == pytest.ExitCode.INTERRUPTED
        assert "1 passed" in out and "Interrupted: interrupted (Ctrl-C)" in out
    assert log.read_text().split() == [machine.address]


@pytest.mark.parametrize("command", [SPREAD, PYTEST], ids=["spread", "pytest"])
def test_a_second_sigint_discards_at_once(pytester, machine, tmp_path, command):
    log = tmp_path / "discard.log"
    interrupted_project(pytester, machine, log)
    process = subprocess.Popen(command, cwd=pytester.path, stdout=subprocess.PIPE, text=True)
    interrupt(process, machine, times=2)
    assert log.read_text().split() == [machine.address]
    order = machine.path("/root/order")
    assert not order.exists()  # the script was abandoned and nothing restored
    assert process.returncode != 0


def test_an_internal_error_still_discards_the_machine(pytester, machine, run, tmp_path):
    log = tmp_path / "discard.log"
    pytester.makefile(".yaml", spread=spread_yaml(machine, discard_log=str(log)))
    write_tasks(pytester, {f"tests/t{n}": "summary: t\nexecute: true\n" for n in range(3)})
    pytester.makeconftest(
        """
        def pytest_runtest_logreport(report):
            if report.when == "call":
                raise RuntimeError("a plugin broke")
        """
    )
    result = run()
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    result.stdout.fnmatch_lines(["INTERNALERROR*a plugin broke*"])
    assert log.read_text().split() == [machine.address]

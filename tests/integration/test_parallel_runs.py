"""Parallel runs on real machines: workers per system, suite visits, and no leaks on faults.

Every machine here is a sandbox started by the project's adhoc allocate
script and stopped by its discard script; both log the system, so the tests
compare what was allocated with what was discarded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from pytest_spread.backends.sandbox import attach

from .test_lifecycle import write_tasks
from .test_parallel import sandbox_project

VISITS = (
    "{one/: {summary: s, prepare: echo prepare one >> /root/visits, "
    "restore: echo restore one >> /root/visits}, "
    "two/: {summary: s, prepare: echo prepare two >> /root/visits, "
    "restore: echo restore two >> /root/visits}}"
)
SYSTEMS = ("sandbox-one", "sandbox-two")
TASK = "summary: t\nexecute: |\n    echo task $SPREAD_SUITE >> /root/visits\n    sleep {sleep}\n"


def two_suites(pytester, tasks: int = 3, sleep: float = 0) -> None:
    write_tasks(
        pytester,
        {
            f"{suite}/t{n}": TASK.format(sleep=sleep)
            for suite in ("one", "two")
            for n in range(tasks)
        },
    )


def visits_by_machine(tmp_path: Path, kind: str = "") -> dict[str, list[str]]:
    """What each machine logged, in order: 'prepare one', 'task one/', 'restore one'...

    Lines starting with `span` (a task's start and end times) are left out,
    unless `kind` is "span": then they are all there is.
    """
    machines: dict[str, list[str]] = defaultdict(list)
    for line in (tmp_path / "visits.log").read_text().splitlines():
        address, _, event = line.partition(" ")
        if event.startswith("span") == (kind == "span"):
            machines[address].append(event.rstrip("/"))
    return machines


def assert_suite_visits(machines: dict[str, list[str]], tasks: int) -> None:
    """Each run of a suite's tasks on a machine has one prepare before it and one restore after."""
    total = 0
    for events in machines.values():
        index = 0
        while index < len(events):
            verb, suite = events[index].split()
            assert verb == "prepare", events
            index += 1
            while index < len(events) and events[index] == f"task {suite}":
                index += 1
                total += 1
            assert events[index] == f"restore {suite}", events
            index += 1
    assert total == tasks


def start(pytester, *args: str) -> subprocess.Popen[str]:
    """The run in its own process group, as a terminal would start it."""
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--spread", "-p", "no:cacheprovider", "-rA", *args],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def wait_for_machines(tmp_path: Path, count: int, timeout: float = 60) -> None:
    """Wait until `count` of the project's machines started a task."""
    addresses = tmp_path / "addresses.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ports = addresses.read_text().split() if addresses.exists() else []
        if sum(_visited(address) for address in ports) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} machines did not start a task in time")


def _visited(address: str) -> bool:
    try:
        return attach(address).path("/root/visits").exists()
    except (KeyError, OSError):
        return False  # not recorded yet, or already stopped


def node_pids(pid: int) -> list[int]:
    """The xdist nodes: the controller's child processes."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_workers_per_system_and_suite_visits(pytester, tmp_path, workers):
    allocated, discarded = sandbox_project(
        pytester,
        tmp_path,
        systems=", ".join(f"{{{name}: {{workers: {workers}}}}}" for name in SYSTEMS).join("[]"),
        suites=VISITS,
    )
    two_suites(pytester, tasks=3, sleep=0.1)
    result = pytester.runpytest("--spread", "-n", "auto", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=12)
    systems = allocated.read_text().split()
    assert 1 <= systems.count("sandbox-one") <= workers
    assert 1 <= systems.count("sandbox-two") <= workers
    assert sorted(discarded.read_text().split()) == sorted(systems)
    assert_suite_visits(visits_by_machine(tmp_path), tasks=12)


def test_the_spread_command_runs_the_workers_at_once(pytester, tmp_path):
    allocated, discarded = sandbox_project(
        pytester,
        tmp_path,
        systems="[{sandbox-one: {workers: 2}}, sandbox-two]",
        suites=VISITS,
    )
    write_tasks(
        pytester,
        {
            f"{suite}/t{n}": "summary: t\nexecute: |\n"
            "    echo task $SPREAD_SUITE >> /root/visits\n"
            "    start=$(date +%s.%N); sleep 0.5\n"
            '    echo "span $start $(date +%s.%N)" >> /root/visits\n'
            for suite in ("one", "two")
            for n in range(2)
        },
    )
    result = pytester.run(sys.executable, "-m", "pytest_spread", "-seed=3")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*Successful tasks: 8"])
    systems = allocated.read_text().split()
    assert sorted(systems) == ["sandbox-one", "sandbox-one", "sandbox-two"]
    assert sorted(discarded.read_text().split()) == sorted(systems)
    machines = visits_by_machine(tmp_path)
    assert len(machines) == 3
    assert_suite_visits(machines, tasks=8)
    # The three machines worked at the same time: every machine's first task
    # started before any machine's last task ended.
    spans = [
        [tuple(map(float, event.split()[1:])) for event in events]
        for events in visits_by_machine(tmp_path, "span").values()
    ]
    assert max(machine[0][0] for machine in spans) < min(machine[-1][1] for machine in spans)


def running_on_two_machines(pytester, tmp_path, tasks: int, sleep: float):
    """`pytest -n 2` started and busy on both systems: (allocated log, discarded log, process)."""
    allocated, discarded = sandbox_project(
        pytester, tmp_path, systems="[sandbox-one, sandbox-two]", suites=VISITS
    )
    two_suites(pytester, tasks=tasks, sleep=sleep)
    process = start(pytester, "-n", "2")
    wait_for_machines(tmp_path, 2)
    return allocated, discarded, process


def test_a_worker_without_a_machine_leaves_its_jobs_to_the_others(pytester, tmp_path):
    allocated, discarded = sandbox_project(
        pytester,
        tmp_path,
        systems="[{sandbox-one: {workers: 2}}]",
        suites=VISITS,
        guard=f'mkdir {tmp_path}/first 2>/dev/null || FATAL "no more machines"',
    )
    two_suites(pytester, tasks=3)
    result = pytester.run(sys.executable, "-m", "pytest_spread", "-seed=1")
    result.stdout.fnmatch_lines(["*Cannot allocate local:sandbox-one: no more machines"])
    result.stdout.fnmatch_lines(["*Successful tasks: 6", "*Aborted tasks: 0"])
    assert result.ret == 0
    assert allocated.read_text().split() == ["sandbox-one"]
    assert discarded.read_text().split() == ["sandbox-one"]


def test_sigint_under_xdist_finishes_running_jobs_then_discards(pytester, tmp_path):
    allocated, discarded, process = running_on_two_machines(pytester, tmp_path, 3, sleep=2)
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in the terminal
    out, _ = process.communicate(timeout=120)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "interrupt again to discard them at once" in out
    machines = visits_by_machine(tmp_path)
    for events in machines.values():  # the running task ended and its suite was restored
        assert events[-1].startswith("restore") and events[-2].startswith("task"), events
    assert sum(len(events) for events in machines.values()) < 2 * 6
    assert sorted(discarded.read_text().split()) == sorted(allocated.read_text().split())


def test_a_killed_node_leaves_no_machine(pytester, tmp_path):
    allocated, discarded, process = running_on_two_machines(pytester, tmp_path, 2, sleep=1)
    os.kill(node_pids(process.pid)[0], signal.SIGKILL)
    out, _ = process.communicate(timeout=120)
    assert "crashed while running" in out, out
    assert sorted(discarded.read_text().split()) == sorted(allocated.read_text().split())
    assert not list(pytester.path.glob(".spread-reuse.*"))


def test_after_kill_9_of_the_run_discard_cleans_up(pytester, tmp_path):
    _, discarded, process = running_on_two_machines(pytester, tmp_path, 2, sleep=5)
    os.killpg(process.pid, signal.SIGKILL)  # the controller and its nodes
    process.communicate(timeout=60)
    record = pytester.path / f".spread-reuse.{process.pid}.yaml"
    tracked = yaml.safe_load(record.read_text())["backends"]["local"]["systems"]
    assert sorted(next(iter(entry)) for entry in tracked) == ["sandbox-one", "sandbox-two"]
    assert not discarded.exists()

    cleanup = pytester.run(
        sys.executable, "-m", "pytest_spread", f"-reuse-pid={process.pid}", "-discard"
    )
    assert cleanup.ret == 0, cleanup.stdout.str()
    assert sorted(discarded.read_text().split()) == ["sandbox-one", "sandbox-two"]
    assert not record.exists()


def test_exitfirst_under_xdist_discards_everything(pytester, tmp_path):
    allocated, discarded = sandbox_project(
        pytester, tmp_path, systems="[sandbox-one, sandbox-two]", suites=VISITS
    )
    two_suites(pytester, tasks=3, sleep=0.2)
    write_tasks(pytester, {"one/bad": "summary: t\npriority: 5\nexecute: exit 1\n"})
    result = pytester.runpytest("--spread", "-n", "2", "-x", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    assert result.parseoutcomes()["failed"] >= 1
    assert sorted(discarded.read_text().split()) == sorted(allocated.read_text().split())


def test_reuse_under_xdist_keeps_then_reuses_the_machines(pytester, tmp_path):
    allocated, discarded = sandbox_project(
        pytester, tmp_path, systems="[sandbox-one, sandbox-two]", suites=VISITS
    )
    two_suites(pytester, tasks=2)
    for _ in range(2):
        result = pytester.runpytest(
            "--spread", "--spread-reuse", "-n", "2", "-p", "no:cacheprovider"
        )
        result.assert_outcomes(passed=8)
    assert sorted(allocated.read_text().split()) == ["sandbox-one", "sandbox-two"]
    assert not discarded.exists()
    record = yaml.safe_load((pytester.path / ".spread-reuse.yaml").read_text())
    entries = [entry for item in record["backends"]["local"]["systems"] for entry in item.values()]
    assert len(entries) == 2 and not any("owner" in entry for entry in entries)

    cleanup = pytester.run(sys.executable, "-m", "pytest_spread", "-discard")
    assert cleanup.ret == 0
    assert sorted(discarded.read_text().split()) == ["sandbox-one", "sandbox-two"]


def test_a_second_sigint_under_xdist_discards_at_once(pytester, tmp_path):
    allocated, discarded, process = running_on_two_machines(pytester, tmp_path, 3, sleep=5)
    os.killpg(process.pid, signal.SIGINT)
    time.sleep(0.3)
    os.killpg(process.pid, signal.SIGINT)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == pytest.ExitCode.INTERRUPTED, out
    machines = visits_by_machine(tmp_path)
    for events in machines.values():  # abandoned mid-task: no suite restore ran
        assert events[-1].startswith("task"), events
    assert sorted(discarded.read_text().split()) == sorted(allocated.read_text().split())
    assert not list(pytester.path.glob(".spread-reuse.*"))

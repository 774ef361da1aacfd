"""What a previous run teaches: longest jobs first, --lf/--ff, --durations; both front ends."""

from __future__ import annotations

import json
import re
import sys

import pytest

from .test_lifecycle import spread_yaml, write_tasks

SLEEPS = {"quick": 0.05, "slow": 0.6, "middle": 0.3}
CACHE = ".pytest_cache/v/spread/durations"


def project(pytester, machine, tasks: dict[str, str]) -> None:
    pytester.makefile(
        ".yaml", spread=spread_yaml(machine, project_extra="restore: rm -rf /srv/spread-p\n")
    )
    write_tasks(pytester, tasks)


def sleepers(pytester, machine) -> None:
    project(
        pytester,
        machine,
        {f"tests/{name}": f"summary: t\nexecute: sleep {s}\n" for name, s in SLEEPS.items()},
    )


def run(pytester, *args: str) -> pytest.RunResult:
    result: pytest.RunResult = pytester.runpytest("--spread", "-v", "-p", "no:randomly", *args)
    return result


def ran(result: pytest.RunResult) -> list[str]:
    """The tasks in the order their results were reported."""
    found = [
        re.findall(r"tests/(\w+)/task.yaml::", line)[0]
        for line in result.stdout.lines
        if re.search(r"\b(PASSED|FAILED)\b", line) and "task.yaml::" in line
    ]
    return list(dict.fromkeys(found))


@pytest.mark.parametrize("nodes", ["0", "1"])
def test_known_durations_run_longest_first(pytester, machine, nodes):
    sleepers(pytester, machine)
    first = run(pytester, "-n", nodes)
    first.assert_outcomes(passed=3)
    assert ran(first) == ["middle", "quick", "slow"]  # Spread's order: sorted names
    durations = json.loads((pytester.path / CACHE).read_text())
    job = "adhoc:ubuntu-24.04:tests/{}".format
    assert durations[job("slow")] > durations[job("middle")] > durations[job("quick")]

    second = run(pytester, "-n", nodes)
    second.assert_outcomes(passed=3)
    assert ran(second) == ["slow", "middle", "quick"]


def test_the_spread_command_uses_the_durations_pytest_recorded(pytester, machine):
    sleepers(pytester, machine)
    run(pytester, "-n", "0").assert_outcomes(passed=3)
    result = pytester.run(sys.executable, "-m", "pytest_spread", "-v")
    assert result.ret == 0
    executing = re.findall(r"Executing adhoc:ubuntu-24.04:tests/(\w+) ", result.stdout.str())
    assert executing == ["slow", "middle", "quick"]


def test_lf_reruns_exactly_the_failed_jobs_and_ff_runs_them_first(pytester, machine):
    project(
        pytester,
        machine,
        {
            "tests/a": "summary: t\nexecute: sleep 0.3\n",  # longer: first, but for --ff
            "tests/b": "summary: t\nexecute: test -e /root/fixed\n",
            "tests/c": "summary: t\nexecute: sleep 0.3\n",
            "tests/d": "summary: t\nexecute: test -e /root/fixed\n",
        },
    )
    run(pytester).assert_outcomes(passed=2, failed=2)

    again = run(pytester, "--lf")
    again.assert_outcomes(failed=2)
    assert sorted(ran(again)) == ["b", "d"]

    machine.path("/root/fixed").write_text("")
    first = run(pytester, "--ff")
    first.assert_outcomes(passed=4)
    order = ran(first)  # (each pair longest first: the durations are known too)
    assert sorted(order[:2]) == ["b", "d"] and sorted(order[2:]) == ["a", "c"]


def test_durations_lists_the_slowest_jobs(pytester, machine):
    sleepers(pytester, machine)
    result = run(pytester, "--durations=0", "-n", "1")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(  # (setup lines may come between: allocation time)
        [
            "*slowest durations*",
            "*call*tests/slow/task.yaml::adhoc:ubuntu-24.04:tests/slow",
            "*call*tests/middle/task.yaml::adhoc:ubuntu-24.04:tests/middle",
        ]
    )


def test_recorded_durations_leave_out_the_machine_allocation(pytester, machine):
    project(pytester, machine, {"tests/a": "summary: t\nexecute: sleep 0.2\n"})
    pytester.makefile(  # allocating the machine takes a second
        ".yaml",
        spread=spread_yaml(machine, project_extra="restore: rm -rf /srv/spread-p\n").replace(
            f"allocate: ADDRESS {machine.address}", f"allocate: sleep 1; ADDRESS {machine.address}"
        ),
    )
    run(pytester).assert_outcomes(passed=1)
    (seconds,) = json.loads((pytester.path / CACHE).read_text()).values()
    assert 0.2 <= seconds < 0.9


@pytest.mark.parametrize("nodes", ["0", "1"])
def test_a_random_seed_is_shown_and_repeats_the_order(pytester, machine, nodes):
    project(
        pytester,
        machine,
        {f"tests/t{n}": "summary: t\nexecute: true\n" for n in range(8)},
    )
    options = ("-n", nodes, "-p", "no:cacheprovider")
    first = run(pytester, "--spread-seed=random", *options)
    first.assert_outcomes(passed=8)
    assert ran(first) != sorted(ran(first))  # shuffled (1 in 40,320 would not be)
    # Shown once by pytest-spread, and with -v again among Spread's messages.
    (seed,) = set(re.findall(r"Sequence of jobs produced with -seed=(\d+)", first.stdout.str()))
    again = run(pytester, f"--spread-seed={seed}", *options)
    assert ran(again) == ran(first)
    assert "Sequence of jobs" not in again.stdout.str()


def test_an_explicit_seed_leaves_durations_aside(pytester, machine):
    sleepers(pytester, machine)
    run(pytester, "-n", "0").assert_outcomes(passed=3)  # durations now known
    seeded = run(pytester, "-n", "0", "--spread-seed=1")
    again = run(pytester, "-n", "0", "--spread-seed=1")
    assert ran(seeded) == ran(again) != ["slow", "middle", "quick"]

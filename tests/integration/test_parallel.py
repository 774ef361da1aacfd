"""Parallel runs under xdist on real machines: lanes, workers per system, no leaks."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from .test_lifecycle import write_tasks


def sandbox_project(
    pytester,
    tmp_path,
    extra: str = "",
    systems: str = "[sandbox-one]",
    suites: str = "{tests/: {summary: s}}",
    guard: str = "true",
) -> tuple[Path, Path]:
    """A project whose adhoc backend starts sandbox machines, logging each allocation.

    On discard, the lines the machine wrote to /root/visits are added to
    `visits.log` in `tmp_path`, each prefixed with the machine's address.
    `guard` runs first in the allocate script (to refuse some allocations).
    """
    allocated, discarded = tmp_path / "allocated.log", tmp_path / "discarded.log"
    visits = tmp_path / "visits.log"
    python = sys.executable
    pytester.makefile(
        ".yaml",
        spread=textwrap.dedent(f"""\
        project: p
        path: /srv/replace
        {extra}
        backends:
            local:
                type: adhoc
                allocate: |
                    {guard}
                    echo "$SPREAD_SYSTEM" >> {allocated}
                    address="$({python} -m pytest_spread.backends.sandbox start)"
                    echo "$address" >> {tmp_path}/addresses.log
                    ADDRESS "$address"
                discard: |
                    echo "$SPREAD_SYSTEM" >> {discarded}
                    {python} -m pytest_spread.backends.sandbox cat "$SPREAD_SYSTEM_ADDRESS" \\
                        /root/visits | sed "s/^/$SPREAD_SYSTEM_ADDRESS /" >> {visits} || true
                    {python} -m pytest_spread.backends.sandbox stop "$SPREAD_SYSTEM_ADDRESS"
                systems: {systems}
        suites: {suites}
        """),
    )
    return allocated, discarded


@pytest.mark.parametrize("nodes", ["4", "auto"])
def test_workers_per_system_and_every_machine_discarded(pytester, tmp_path, nodes):
    allocated, discarded = sandbox_project(
        pytester,
        tmp_path,
        systems="[{sandbox-one: {workers: 2}}, sandbox-two]",
        suites="{one/: {summary: s, prepare: echo prepared >> /root/suite-one}, "
        "two/: {summary: s}}",
    )
    write_tasks(
        pytester,
        {
            f"{suite}/t{n}": "summary: t\nexecute: test -d $SPREAD_PATH\n"
            for suite in ("one", "two")
            for n in range(4)
        },
    )
    result = pytester.runpytest("--spread", "-n", nodes, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=16)
    result.stdout.fnmatch_lines(["*spread report*", "Successful tasks: 16", "Aborted tasks: 0"])
    systems = allocated.read_text().split()
    assert systems.count("sandbox-one") <= 2
    assert systems.count("sandbox-two") == 1
    assert sorted(discarded.read_text().split()) == sorted(systems)


def test_a_broken_machine_is_replaced(pytester, tmp_path):
    allocated, discarded = sandbox_project(pytester, tmp_path)
    write_tasks(
        pytester,
        {
            "tests/a": "summary: t\npriority: 10\nexecute: true\nrestore: exit 1\n",
            "tests/b": "summary: t\nexecute: true\n",
            "tests/c": "summary: t\nexecute: true\n",
        },
    )
    result = pytester.runpytest(
        "--spread", "-p", "no:cacheprovider", "-o", "log_cli=true", "-o", "log_cli_level=INFO"
    )
    result.assert_outcomes(passed=3, errors=1)  # a passed, then its restore failed
    result.stdout.fnmatch_lines(
        ["*Replacing local:sandbox-one: task restore failed*", "*Successful tasks: 3*"]
    )
    assert allocated.read_text().split() == ["sandbox-one"] * 2
    assert discarded.read_text().split() == ["sandbox-one"] * 2


def test_a_lane_gives_up_after_a_few_replacements(pytester, tmp_path):
    allocated, discarded = sandbox_project(pytester, tmp_path, extra="prepare: exit 1")
    write_tasks(pytester, {f"tests/t{n}": "summary: t\nexecute: true\n" for n in range(5)})
    result = pytester.runpytest("--spread", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=5)
    result.stdout.fnmatch_lines(["*no more machines for local:sandbox-one after 2 replacements*"])
    assert allocated.read_text().split() == ["sandbox-one"] * 3
    assert discarded.read_text().split() == ["sandbox-one"] * 3

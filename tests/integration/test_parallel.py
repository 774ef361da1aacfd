"""Parallel runs under xdist on real machines: lanes, workers per system, no leaks."""

from __future__ import annotations

import sys
import textwrap

import pytest

from .test_lifecycle import write_tasks


@pytest.mark.parametrize("nodes", ["4", "auto"])
def test_workers_per_system_and_every_machine_discarded(pytester, tmp_path, nodes):
    allocated, discarded = tmp_path / "allocated.log", tmp_path / "discarded.log"
    python = sys.executable
    pytester.makefile(
        ".yaml",
        spread=textwrap.dedent(f"""\
        project: p
        path: /srv/parallel
        backends:
            local:
                type: adhoc
                allocate: |
                    echo "$SPREAD_SYSTEM" >> {allocated}
                    ADDRESS "$({python} -m pytest_spread.sandbox start "$SPREAD_PASSWORD")"
                discard: |
                    echo "$SPREAD_SYSTEM" >> {discarded}
                    {python} -m pytest_spread.sandbox stop "$SPREAD_SYSTEM_ADDRESS"
                systems:
                    - sandbox-one:
                        workers: 2
                    - sandbox-two
        suites:
            one/:
                summary: s
                prepare: echo prepared >> /root/suite-one
            two/:
                summary: s
        """),
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

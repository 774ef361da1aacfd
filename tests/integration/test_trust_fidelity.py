"""Spread fidelity at the edges: optional scripts left out, local scripts at -vv, outer restores.

Every test runs real jobs over SSH on a sandbox machine (tests/hosts), with
both front ends where they differ: the `spread` command and `pytest --spread`.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from .test_lifecycle import write_tasks

SPREAD = [sys.executable, "-m", "pytest_spread"]
PYTEST = [sys.executable, "-m", "pytest", "--spread", "-p", "no:cacheprovider", "-rA"]


def ledger_yaml(
    machine,
    ledger: Path,
    *,
    systems: tuple[str, ...] = ("ubuntu-24.04",),
    discard: bool = True,
    password: bool = True,
    allocate_extra: str = "",
    project_extra: str = "",
    backend_extra: str = "",
    suite_extra: str = "",
    machines: dict[str, Any] | None = None,
) -> str:
    """An adhoc project on `machine` whose allocate and discard log to `ledger`.

    Each allocation writes `allocate <system> <address>`, each discard
    `discard <system> <address>`: `leftover(ledger)` counts what was never discarded.
    `machines` maps some systems to machines of their own (else `machine`).
    """
    address = machine.address
    if machines:
        cases = " ".join(f"{name}) echo {m.address};;" for name, m in machines.items())
        address = f"$(case $SPREAD_SYSTEM in {cases} *) echo {machine.address};; esac)"
    lines = [
        "project: p",
        "path: /srv/spread-p",
        *textwrap.dedent(project_extra).splitlines(),
        "backends:",
        "    adhoc:",
        "        allocate: |",
        *("            " + line for line in textwrap.dedent(allocate_extra).splitlines()),
        f'            echo "allocate $SPREAD_SYSTEM {address}" >> {ledger}',
        f"            ADDRESS {address}",
    ]
    if discard:
        lines += [
            "        discard: |",
            f'            echo "discard $SPREAD_SYSTEM $SPREAD_SYSTEM_ADDRESS" >> {ledger}',
        ]
    lines += [*("        " + line for line in textwrap.dedent(backend_extra).splitlines())]
    lines += ["        systems:"]
    for system in systems:
        lines.append(f"            - {system}:")
        owner = (machines or {}).get(system, machine)
        lines.append(f"                password: {owner.password if password else ''}")
    lines += ["suites:", "    tests/:", "        summary: s"]
    lines += [*("        " + line for line in textwrap.dedent(suite_extra).splitlines())]
    return "\n".join(lines) + "\n"


def leftover(ledger: Path) -> dict[str, int]:
    """Per system, allocations not matched by a discard (only non-zero counts)."""
    counts: dict[str, int] = {}
    text = ledger.read_text() if ledger.exists() else ""
    for line in text.splitlines():
        verb, system, _ = line.split()
        counts[system] = counts.get(system, 0) + (1 if verb == "allocate" else -1)
    return {system: count for system, count in counts.items() if count}


def run(command: list[str], cwd: Path, *args: str, timeout: float = 120) -> tuple[int, str]:
    done = subprocess.run(
        [*command, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=timeout,
    )
    return done.returncode, done.stdout


# -- 1. optional scripts left out ----------------------------------------------------------


@pytest.mark.parametrize("command", ["spread", "pytest"])
def test_no_discard_and_empty_optional_scripts_are_nothing_to_do(
    pytester, machine, tmp_path, command
):
    ledger = tmp_path / "ledger"
    empty = 'prepare: ""\nrestore: ""\ndebug: ""\nprepare-each: ""\nrestore-each: ""\n'
    empty += 'debug-each: ""\n'
    pytester.makefile(
        ".yaml",
        spread=ledger_yaml(
            machine,
            ledger,
            discard=False,
            project_extra=empty,
            backend_extra=empty,
            suite_extra=empty,
        ),
    )
    write_tasks(
        pytester,
        {
            "tests/ok": 'summary: t\nexecute: echo fine\nprepare: ""\nrestore: ""\ndebug: ""\n',
            "tests/bad": 'summary: t\nexecute: exit 1\ndebug: ""\n',
        },
    )
    if command == "spread":
        status, out = run(SPREAD, pytester.path, "-v")
        assert status == 1, out  # tests/bad fails
        assert "Failed tasks: 1" in out
    else:
        status, out = run(PYTEST, pytester.path, "--spread-log")
        assert status == 1, out
        assert "1 failed, 1 passed" in out
    assert "syntax error" not in out
    assert "Error discarding" not in out
    errors = [line for line in out.splitlines() if "Error " in line and "tests/bad" not in line]
    assert errors == [], out
    assert "Discarding adhoc:ubuntu-24.04" in out


# -- 2. local scripts at -vv ---------------------------------------------------------------


def test_vv_shows_local_scripts_and_their_output_as_spread_does(pytester, machine, tmp_path):
    ledger = tmp_path / "ledger"
    text = ledger_yaml(
        machine, ledger, allocate_extra="echo ALLOCATING\n", project_extra="restore: rm -rf /srv"
    ).replace('            echo "discard', '            echo DISCARDING\n            echo "discard')
    pytester.makefile(".yaml", spread=text)
    write_tasks(pytester, {"tests/main": "summary: t\nexecute: echo WORKS\n"})
    status, out = run(SPREAD, pytester.path, "-vv")
    assert status == 0, out
    lines = out.splitlines()
    # Spread's own adhoc test greps for exactly these (spread/tests/adhoc/task.yaml).
    for wanted in ("ALLOCATING", "DISCARDING", "WORKS"):
        assert wanted in lines, out
    assert any(line.endswith(" Running local script:") for line in lines), out
    assert any(line.endswith(" Output from running local script:") for line in lines), out
    # The program is shown, but not the values it exports (passwords among them).
    assert "export SPREAD_SYSTEM_PASSWORD=<hidden>" in out
    assert machine.password not in out
    # Without -vv, none of it.
    status, out = run(SPREAD, pytester.path, "-v")
    assert status == 0, out
    assert "Running local script" not in out and "ALLOCATING" not in out


# -- 3. a failing outer restore fails the run -----------------------------------------------


@pytest.mark.parametrize("level", ["project", "backend", "suite"])
@pytest.mark.parametrize("command", ["spread", "pytest"])
def test_a_failing_outer_restore_fails_the_run(pytester, machine, tmp_path, level, command):
    ledger = tmp_path / "ledger"
    failing = "restore: |\n    echo cannot restore\n    exit 1\n"
    text = ledger_yaml(
        machine,
        ledger,
        project_extra=failing if level == "project" else "",
        backend_extra=failing if level == "backend" else "",
        suite_extra=failing if level == "suite" else "",
    )
    pytester.makefile(".yaml", spread=text)
    write_tasks(
        pytester,
        {"tests/a": "summary: t\nexecute: true\n", "tests/b": "summary: t\nexecute: true\n"},
    )
    title = f"Failed {level} restore: 1"
    if command == "spread":
        status, out = run(SPREAD, pytester.path)
        assert status == 1, out
        assert "error: unsuccessful run" in out
    else:
        status, out = run(PYTEST, pytester.path)
        assert status == pytest.ExitCode.TESTS_FAILED, out
        # The lane's last job carries the failure as a teardown error pytest users see.
        assert "2 passed, 1 error" in out, out
        assert f"{level} restore failed on adhoc:ubuntu-24.04" in out
        assert "cannot restore" in out
    assert title in out
    assert leftover(ledger) == {}


def test_a_failing_restore_under_xdist_fails_pytest(pytester, machine, tmp_path):
    """Under xdist a node restores its machine when its session ends: the run still fails."""
    ledger = tmp_path / "ledger"
    failing = "restore: |\n    exit 1\n"
    pytester.makefile(".yaml", spread=ledger_yaml(machine, ledger, project_extra=failing))
    write_tasks(
        pytester,
        {"tests/a": "summary: t\nexecute: true\n", "tests/b": "summary: t\nexecute: true\n"},
    )
    status, out = run(PYTEST, pytester.path, "-n", "1")
    assert status == pytest.ExitCode.TESTS_FAILED, out
    assert "2 passed" in out
    assert "Failed project restore: 1" in out
    assert leftover(ledger) == {}

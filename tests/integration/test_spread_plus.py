"""spread-plus' additions on real machines: skip conditions, artifact levels, -order, -workers,
tasks-limit, through both the `spread` command and pytest."""

from __future__ import annotations

import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

from .test_lifecycle import ORDER_LOG, logged, spread_yaml, write_tasks
from .test_parallel import sandbox_project

SPREAD = [sys.executable, "-m", "pytest_spread", "-seed=1"]
PYTEST = ["--spread", "-p", "no:cacheprovider", "-rs"]
LANE = "adhoc:ubuntu-24.04"


def check(name: str, condition: str) -> str:
    """A skip condition that logs that it ran, then tests `condition`."""
    return f"{logged(name)} && {condition}"


def skip_project(pytester, machine) -> None:
    suites = {
        "tests/": f"summary: s\nprepare: {logged('tests-prepare')}\n"
        f"restore: {logged('tests-restore')}\n",
        "gone/": textwrap.dedent(f"""\
            summary: g
            prepare: {logged("gone-prepare")}
            restore: {logged("gone-restore")}
            skip:
                - reason: no gone here
                  if: {check("gone-check", '[ "$SPREAD_SYSTEM" = ubuntu-24.04 ]')}
            """),
    }
    pytester.makefile(".yaml", spread=spread_yaml(machine, suites=suites))
    scripts = "".join(f"{verb}: {logged('{task}-' + verb)}\n" for verb in ("prepare", "execute"))
    scripts += f"restore: {logged('{task}-restore')}\n"
    write_tasks(
        pytester,
        {
            "tests/run": "summary: t\n"
            + scripts.format(task="run")
            + f"skip:\n    - reason: never\n      if: {check('run-check', 'false')}\n",
            "tests/skip": "summary: t\nenvironment:\n    TRUST: 'false'\n"
            + scripts.format(task="skip")
            + textwrap.dedent(f"""\
                skip:
                    - reason: first does not hold
                      if: {check("skip-check-1", "test -e /nonexistent")}
                    - reason: keys are not trusted
                      if: |
                          {check("skip-check-2", '[ "$TRUST" = false ]')}
                """),
            "gone/a": "summary: t\n" + scripts.format(task="a"),
            "gone/b": "summary: t\n" + scripts.format(task="b"),
        },
    )


# Suites and tasks in Spread's order: gone/ (skipped with its two tasks) then tests/.
SKIP_LOG = [
    "gone-check",
    "tests-prepare",
    "run-check",
    "run-prepare",
    "run-execute",
    "run-restore",
    "skip-check-1",
    "skip-check-2",
    "tests-restore",
]
SKIP_REPORT = [
    "Successful tasks: 1",
    "Aborted tasks: 0",
    "Skipped tasks: 3",
    f"    - {LANE}:gone/a - no gone here",
    f"    - {LANE}:gone/b - no gone here",
    f"    - {LANE}:tests/skip - keys are not trusted",
    "Skipped suites: 1",
    f"    - {LANE}:gone/ - no gone here",
]


def test_skip_conditions_under_pytest(pytester, machine):
    skip_project(pytester, machine)
    result = pytester.runpytest(*PYTEST, "--junitxml=out.xml", "--spread-log")
    result.assert_outcomes(passed=1, skipped=3)
    assert machine.path(ORDER_LOG).read_text().split() == SKIP_LOG
    result.stdout.fnmatch_lines(
        [
            f"*Checking {LANE}:gone/ ({LANE})...",
            f"*Skipping {LANE}:gone/a ({LANE})...",
            f"*Checking {LANE}:tests/skip ({LANE})...",
            f"*Skipping {LANE}:tests/skip ({LANE})...",
        ]
    )
    result.stdout.fnmatch_lines(["*spread report*", *SKIP_REPORT])
    result.stdout.fnmatch_lines_random(
        [
            "SKIPPED [[]1[]] gone/a/task.yaml:*: no gone here",
            "SKIPPED [[]1[]] gone/b/task.yaml:*: no gone here",
            "SKIPPED [[]1[]] tests/skip/task.yaml*: keys are not trusted",
        ]
    )
    skipped = {
        case.get("name"): case.find("skipped")
        for case in ET.parse(pytester.path / "out.xml").iter("testcase")
    }
    assert skipped[f"{LANE}:tests/run"] is None
    element = skipped[f"{LANE}:tests/skip"]
    assert element is not None
    assert element.get("message") == "keys are not trusted"


def test_skip_conditions_with_the_spread_command(pytester, machine):
    skip_project(pytester, machine)
    result = pytester.run(*SPREAD, "-order")  # no arguments: Spread's name order
    assert result.ret == 0, result.stdout.str()
    assert machine.path(ORDER_LOG).read_text().split() == SKIP_LOG
    result.stdout.fnmatch_lines(
        [f"*Skipping {LANE}:gone/a ({LANE})...", f"*Preparing {LANE}:tests/ ({LANE})..."]
    )
    result.stdout.no_fnmatch_line(f"*Skipping {LANE}:gone/b*")  # silent, as in spread-plus
    result.stdout.fnmatch_lines([f"* {line}" if line[0] != " " else line for line in SKIP_REPORT])


def artifacts_project(pytester, machine) -> None:
    suites = {
        "tests/": "summary: s\nartifacts: [suite.txt, missing.txt]\n"
        "prepare: echo s > $SPREAD_PATH/tests/suite.txt\n"
        "restore: rm $SPREAD_PATH/tests/suite.txt\n",
        "two/": "summary: s\nartifacts: [logs]\n"
        "prepare: mkdir -p $SPREAD_PATH/two/logs && echo l > $SPREAD_PATH/two/logs/l.txt\n",
    }
    project_extra = "artifacts: [proj.txt]\nprepare: echo p > proj.txt\nrestore: rm proj.txt\n"
    pytester.makefile(
        ".yaml", spread=spread_yaml(machine, project_extra=project_extra, suites=suites)
    )
    write_tasks(
        pytester,
        {
            "tests/a": "summary: t\nartifacts: [task.txt]\nexecute: echo t > task.txt\n",
            "two/b": "summary: t\nexecute: 'true'\n",
        },
    )


@pytest.mark.parametrize("command", ["spread", "pytest"])
def test_project_suite_and_task_artifacts(pytester, machine, command):
    artifacts_project(pytester, machine)
    out = pytester.path / "out"
    if command == "spread":
        result = pytester.run(*SPREAD, f"-artifacts={out}")
        assert result.ret == 0, result.stdout.str()
    else:
        result = pytester.runpytest(*PYTEST, f"--spread-artifacts={out}")
        result.assert_outcomes(passed=2)
    found = sorted(str(path.relative_to(out)) for path in out.rglob("*") if path.is_file())
    # tests/ is left for two/ mid-run: its artifacts come before its restore, as two/'s
    # and the project's come before theirs at the end.
    assert found == [
        f"{LANE}:tests/a/task.txt",
        f"{LANE}:tests/suite.txt",
        f"{LANE}:two/logs/l.txt",
        "proj.txt",
    ]
    assert (out / "proj.txt").read_text() == "p\n"
    assert (out / f"{LANE}:tests" / "suite.txt").read_text() == "s\n"


def order_project(pytester, machine) -> None:
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            f"tests/{name}": f"summary: t\npriority: {priority}\nexecute: {logged(name)}\n"
            for name, priority in (("a", 0), ("b", 0), ("c", 10), ("d", 0))
        },
    )


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("spread -order", ["d", "b", "c", "a"]),
        ("pytest --spread-order --spread-seed=3", ["d", "b", "c", "a"]),
        ("pytest", ["c", "a", "b", "d"]),  # without it, priority first
    ],
)
def test_order_follows_the_filter_arguments(pytester, machine, command, expected):
    order_project(pytester, machine)
    filters = ["tests/d", "tests/b", "tests/c", "tests/a"]
    if command == "spread -order":
        result = pytester.run(*SPREAD, "-order", *filters)
        assert result.ret == 0, result.stdout.str()
    else:
        options = [f"--spread-filter={name}" for name in filters] + command.split()[1:]
        result = pytester.runpytest(*PYTEST, *options)
        result.assert_outcomes(passed=4)
    assert machine.path(ORDER_LOG).read_text().split() == expected


@pytest.mark.parametrize("command", ["spread", "pytest"])
def test_workers_override(pytester, tmp_path, command):
    allocated, discarded = sandbox_project(pytester, tmp_path, systems="[sandbox-one]")
    write_tasks(pytester, {f"tests/t{n}": "summary: t\nexecute: sleep 0.3\n" for n in range(4)})
    if command == "spread":
        result = pytester.run(*SPREAD, "-workers", "2")
        assert result.ret == 0, result.stdout.str()
    else:
        result = pytester.runpytest(
            "--spread", "-p", "no:cacheprovider", "--spread-workers=2", "-n", "auto"
        )
        result.assert_outcomes(passed=4)
        result.stdout.fnmatch_lines(["*2 workers*"])
    assert allocated.read_text().split() == ["sandbox-one", "sandbox-one"]
    assert sorted(discarded.read_text().split()) == ["sandbox-one", "sandbox-one"]


def test_tasks_limit_under_pytest(pytester, machine):
    pytester.makefile(".yaml", spread="tasks-limit: 1\n" + spread_yaml(machine))
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: 'true'\n", "tests/b": "summary: t\n"})
    refused = pytester.runpytest(*PYTEST)
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(
        ["ERROR: The number of jobs (2) is greater then the tasks limit set (1)"]
    )
    listed = pytester.runpytest(*PYTEST, "--collect-only", "-q")
    assert listed.ret == 0
    pytester.runpytest(*PYTEST, "-k", "tests/a").assert_outcomes(passed=1, deselected=1)


def test_tasks_limit_under_xdist(pytester, machine):
    pytester.makefile(".yaml", spread="tasks-limit: 1\n" + spread_yaml(machine))
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: 'true'\n", "tests/b": "summary: t\n"})
    refused = pytester.runpytest_subprocess(*PYTEST, "-n", "2")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stdout.fnmatch_lines(
        ["*Exit: The number of jobs (2) is greater then the tasks limit set (1)*"]
    )
    assert not machine.path(ORDER_LOG).exists()
    accepted = pytester.runpytest_subprocess(*PYTEST, "-n", "2", "-k", "tests/a")
    accepted.assert_outcomes(passed=1)

"""spread-plus: skip conditions, suite and project artifacts, tasks-limit, -workers, -order."""

from __future__ import annotations

import pytest

from pytest_spread.command.cli import main
from pytest_spread.command.flags import SpreadOptions, parse_spread_args
from pytest_spread.errors import ProjectError, SpreadError
from pytest_spread.project.filters import check_tasks_limit, filter_order, select_jobs
from pytest_spread.project.loader import load_project, with_workers
from pytest_spread.project.matrix import build_matrix
from pytest_spread.project.model import Skip
from pytest_spread.project.order import Hints, lane_sequence, workers_per_lane
from pytest_spread.run.report import Report

PROJECT = """\
project: p
path: /r
artifacts:
    - logs
    - state.json
tasks-limit: 20
backends:
    lxd:
        systems: [ubuntu-16.04, {{ubuntu-18.04: {{workers: 3}}}}]
suites:
    tests/:
        summary: s
        artifacts: [out]
        skip:
            - reason: not on this machine
              if: test -e /nope
{extra}"""


def names(jobs):
    return [job.name for job in jobs]


# -- loading ------------------------------------------------------------------


def test_skip_artifacts_and_tasks_limit_are_loaded_without_warnings(project):
    project.spread(PROJECT.format(extra=""))
    project.task(
        "tests/a",
        """\
        summary: t
        skip:
            - reason: This test needs test keys to be trusted
              if: |
                [ "$TRUST_TEST_KEYS" = "false" ]
            - reason: "  second  "
              if: "true"
        execute: "true"
        """,
    )
    loaded = load_project(project.root)
    assert loaded.warnings == ()
    assert loaded.artifacts == ("logs", "state.json")
    assert loaded.tasks_limit == 20
    suite = loaded.suites["tests/"]
    assert suite.artifacts == ("out",)
    assert suite.skip == (Skip("not on this machine", "test -e /nope", 15),)
    task = suite.tasks["tests/a"]
    assert [(s.reason, s.condition, s.line) for s in task.skip] == [
        ("This test needs test keys to be trusted", '[ "$TRUST_TEST_KEYS" = "false" ]', 3),
        ("second", "true", 6),
    ]


@pytest.mark.parametrize(
    ("task", "message"),
    [
        (
            "summary: t\nskip:\n    - reason: r\n",
            "task.yaml:3: skip[0]: tests/a is missing either the if or reason for the skip",
        ),
        (
            "summary: t\nskip:\n    - if: 'true'\n      reason: ' '\n",
            "task.yaml:3: skip[0]: tests/a is missing either the if or reason for the skip",
        ),
        (
            "summary: t\nskip:\n    - reason: r\n      if: [ -d /x ]\n",
            "task.yaml:4: skip[0].if: expected a string, got a list",
        ),
        ("summary: t\nskip: yes\n", 'task.yaml:2: skip: expected a list, got "yes"'),
        (
            "summary: t\nartifacts: [../up]\n",
            "task.yaml:2: artifacts[0]: tests/a has improper artifact path: ../up",
        ),
    ],
)
def test_bad_task_fields(project, task, message):
    project.spread(PROJECT.format(extra=""))
    project.task("tests/a", task)
    with pytest.raises(ProjectError) as error:
        load_project(project.root)
    assert str(error.value).endswith(message), str(error.value)


@pytest.mark.parametrize(
    ("replace", "by", "message"),
    [
        (
            "    - logs",
            "    - /var/log",
            "spread.yaml:4: artifacts[0]: the project has an invalid artifact path: /var/log",
        ),
        (
            "[out]",
            "[a/../b]",
            "spread.yaml:13: suites.tests/.artifacts[0]: the suite has an invalid artifact "
            "path: a/../b",
        ),
        (
            "tasks-limit: 20",
            "tasks-limit: -1",
            "spread.yaml:6: tasks-limit: tasks limit cannot be lower than 0",
        ),
        (
            "tasks-limit: 20",
            "tasks-limit: many",
            'spread.yaml:6: tasks-limit: expected an integer, got "many"',
        ),
        (
            "              if: test -e /nope\n",
            "",
            "spread.yaml:15: suites.tests/.skip[0]: suite tests/ "
            "is missing either the if or reason for the skip",
        ),
    ],
)
def test_bad_project_and_suite_fields(project, replace, by, message):
    text = PROJECT.format(extra="")
    assert replace in text
    project.spread(text.replace(replace, by))
    project.task("tests/a")
    with pytest.raises(ProjectError) as error:
        load_project(project.root)
    assert str(error.value).endswith(message), str(error.value)


def test_unknown_keys_in_a_skip_entry_warn(project):
    project.spread(PROJECT.format(extra=""))
    project.task("tests/a", "summary: t\nskip:\n    - reason: r\n      if: 'true'\n      iff: x\n")
    (warning,) = load_project(project.root).warnings
    assert str(warning).endswith(
        'task.yaml:5: skip[0].iff: unknown tests/a skip field "iff" (Spread ignores it)'
    )


# -- -workers -----------------------------------------------------------------


def test_workers_override_every_system(project):
    project.spread(PROJECT.format(extra=""))
    for n in range(5):
        project.task(f"tests/t{n}")
    loaded = load_project(project.root)
    assert workers_per_lane(build_matrix(loaded).jobs) == {
        "lxd:ubuntu-16.04": 1,
        "lxd:ubuntu-18.04": 3,
    }
    assert with_workers(loaded, 0) is loaded
    assert with_workers(loaded, -2) is loaded
    more = build_matrix(with_workers(loaded, 4)).jobs
    assert workers_per_lane(more) == {"lxd:ubuntu-16.04": 4, "lxd:ubuntu-18.04": 4}
    # Never more machines than jobs, as in Spread.
    assert workers_per_lane(build_matrix(with_workers(loaded, 9)).jobs)["lxd:ubuntu-16.04"] == 5


# -- -order ---------------------------------------------------------------------


def ordered_project(project):
    project.spread(PROJECT.format(extra="    more/:\n        summary: m\n        priority: 50\n"))
    for name in ("tests/a", "tests/b", "tests/c", "more/x", "more/y"):
        project.task(name)
    project.task("tests/s", "summary: t\nsamples: 2\n")
    return build_matrix(load_project(project.root)).jobs


def test_filter_order_groups_jobs_by_argument(project):
    jobs = [job for job in ordered_project(project) if job.system.name == "ubuntu-16.04"]
    assert names(filter_order(jobs, ["tests/c", "more/", "tests/c", "/a"])) == [
        "lxd:ubuntu-16.04:tests/c",
        "lxd:ubuntu-16.04:more/x",
        "lxd:ubuntu-16.04:more/y",
        "lxd:ubuntu-16.04:tests/a",
        # Jobs no argument matches (selected by -k, say) come last, in the given order.
        "lxd:ubuntu-16.04:tests/b",
        "lxd:ubuntu-16.04:tests/s#1",
        "lxd:ubuntu-16.04:tests/s#2",
    ]


def test_order_hint_leaves_priority_and_seed_aside(project):
    jobs = [job for job in ordered_project(project) if job.system.name == "ubuntu-16.04"]
    # Spread's order: the priority-50 suite first.
    assert names(lane_sequence(jobs))[:2] == ["lxd:ubuntu-16.04:more/x", "lxd:ubuntu-16.04:more/y"]
    order = ("tests/b", "more/y", "tests/a", "tests/s", "more/x", "tests/c")
    taken = lane_sequence(jobs, seed=7, hints=Hints(order=order))
    # A machine still finishes its suite first (spread-plus' worker does too), and
    # takes a task's samples in a row.
    assert names(taken) == [
        "lxd:ubuntu-16.04:tests/b",
        "lxd:ubuntu-16.04:tests/a",
        "lxd:ubuntu-16.04:tests/s#1",
        "lxd:ubuntu-16.04:tests/s#2",
        "lxd:ubuntu-16.04:tests/c",
        "lxd:ubuntu-16.04:more/y",
        "lxd:ubuntu-16.04:more/x",
    ]
    durations = {job.name: 100.0 for job in jobs if job.task.name == "tests/c"}
    assert lane_sequence(jobs, hints=Hints(durations=durations, order=order)) == taken


def test_order_without_arguments_is_the_name_order(project):
    jobs = [job for job in ordered_project(project) if job.system.name == "ubuntu-16.04"]
    assert names(lane_sequence(jobs, seed=3, hints=Hints(order=()))) == names(
        sorted(jobs, key=lambda job: (job.suite.name != "more/", job.key))
    )


def test_spread_list_order(project, capsys):
    ordered_project(project)
    assert main(["-list", "-order", "ubuntu-18.04:tests/b", "more/x", "tests/b"]) == 0
    assert capsys.readouterr().out.split() == [
        "lxd:ubuntu-18.04:tests/b",
        "lxd:ubuntu-16.04:more/x",
        "lxd:ubuntu-18.04:more/x",
        "lxd:ubuntu-16.04:tests/b",
    ]


# -- tasks-limit ----------------------------------------------------------------


def test_tasks_limit(project, capsys):
    jobs = ordered_project(project)
    loaded = load_project(project.root)
    check_tasks_limit(loaded, 20)
    with pytest.raises(SpreadError) as error:
        check_tasks_limit(loaded, 21)
    assert str(error.value) == "The number of jobs (21) is greater then the tasks limit set (20)"
    # -list is not limited; a run is refused before any machine is allocated.
    assert len(select_jobs(jobs, [])) == 14
    project.spread((project.root / "spread.yaml").read_text().replace("20", "13"))
    assert main(["-list"]) == 0
    capsys.readouterr()
    assert main(["-seed=1"]) == 1
    captured = capsys.readouterr()
    assert captured.err == (
        "error: The number of jobs (14) is greater then the tasks limit set (13)\n"
    )
    assert "Allocating" not in captured.out


# -- flags and report -------------------------------------------------------------


def test_flags():
    assert parse_spread_args(["-workers", "3", "-order", "a", "b"]) == SpreadOptions(
        workers=3, order=True, filters=("a", "b")
    )
    assert parse_spread_args(["-workers=0x2"]).workers == 2


def test_report_lists_skips_in_spread_plus_order_and_they_are_no_failure():
    report = Report(successful=1)
    report.skipped_tasks += ["lxd:u-1:tests/b - why", "lxd:u-1:tests/a:v - because"]
    report.skipped_suites.append("lxd:u-1:tests/ - because")
    report.failed_tasks.append("lxd:u-1:tests/c")
    report.failed_suite_prepare.append("lxd:u-1:more/")
    assert report.messages() == [
        "Successful tasks: 1",
        "Aborted tasks: 0",
        "Skipped tasks: 2\n    - lxd:u-1:tests/a:v - because\n    - lxd:u-1:tests/b - why",
        "Failed tasks: 1\n    - lxd:u-1:tests/c",
        "Skipped suites: 1\n    - lxd:u-1:tests/ - because",
        "Failed suite prepare: 1\n    - lxd:u-1:more/",
    ]
    merged = Report.from_dict(report.to_dict())
    merged.merge(report)
    assert len(merged.skipped_tasks) == 4
    assert Report(skipped_tasks=["x - y"], skipped_suites=["z - y"]).ok

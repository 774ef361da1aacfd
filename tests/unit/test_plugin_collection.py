"""`pytest --spread`: collection of jobs as items, selection, errors (through pytester)."""

from __future__ import annotations

import textwrap
from xml.etree import ElementTree

import pytest

SPREAD_YAML = """\
project: p
path: /r
backends:
    lxd:
        systems: [ubuntu-16.04, ubuntu-18.04]
    qemu:
        systems: [debian-9]
suites:
    tests/:
        summary: s
    extra/:
        summary: manual suite
        manual: true
"""


@pytest.fixture
def spread_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # No LXD daemon here: lxd jobs fail at once, never pulling ubuntu images from the network.
    monkeypatch.setenv("LXD_DIR", str(pytester.path / "no-lxd"))
    pytester.makefile(".yaml", spread=SPREAD_YAML)
    for name, body in {
        "tests/a": "summary: a\nvariants: [one, two]\n",
        "tests/b": "summary: b\n",
        "tests/m": "summary: manual\nmanual: true\n",
        "extra/x": "summary: x\n",
    }.items():
        (pytester.path / name).mkdir(parents=True)
        (pytester.path / name / "task.yaml").write_text(body)
    return pytester


def collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line]


def test_items_are_jobs_in_spread_order(spread_project):
    result = spread_project.runpytest("--spread", "--collect-only", "-q")
    assert collected(result) == [
        "tests/a/task.yaml::lxd:ubuntu-16.04:tests/a:one",
        "tests/a/task.yaml::lxd:ubuntu-16.04:tests/a:two",
        "tests/b/task.yaml::lxd:ubuntu-16.04:tests/b",
        "tests/a/task.yaml::lxd:ubuntu-18.04:tests/a:one",
        "tests/a/task.yaml::lxd:ubuntu-18.04:tests/a:two",
        "tests/b/task.yaml::lxd:ubuntu-18.04:tests/b",
        "tests/a/task.yaml::qemu:debian-9:tests/a:one",
        "tests/a/task.yaml::qemu:debian-9:tests/a:two",
        "tests/b/task.yaml::qemu:debian-9:tests/b",
    ]
    result.stdout.fnmatch_lines(["9 tests collected*"])


def test_works_without_xdist(spread_project):
    result = spread_project.runpytest("-p", "no:xdist", "--spread", "--collect-only", "-q")
    assert result.ret == 0
    assert len(collected(result)) == 9


def test_without_the_option_nothing_is_collected(spread_project):
    result = spread_project.runpytest("--collect-only", "-q")
    assert collected(result) == []


def test_keyword_selects_on_the_job_name(spread_project):
    result = spread_project.runpytest("--spread", "--collect-only", "-q", "-k", "ubuntu-18.04")
    assert collected(result) == [
        "tests/a/task.yaml::lxd:ubuntu-18.04:tests/a:one",
        "tests/a/task.yaml::lxd:ubuntu-18.04:tests/a:two",
        "tests/b/task.yaml::lxd:ubuntu-18.04:tests/b",
    ]


def test_marker_selects_on_job_dimensions(spread_project):
    result = spread_project.runpytest(
        "--spread", "--collect-only", "-q", "-m", "spread(backend='qemu', variant='two')"
    )
    assert collected(result) == ["tests/a/task.yaml::qemu:debian-9:tests/a:two"]


def test_spread_filter_uses_spread_syntax(spread_project):
    result = spread_project.runpytest(
        "--spread",
        "--collect-only",
        "-q",
        "--spread-filter",
        "lxd:...-18.04:",
        "--spread-filter",
        "qemu:tests/b",
        "--spread-filter",
        "qemu:/a",
    )
    assert collected(result) == [
        "tests/a/task.yaml::lxd:ubuntu-18.04:tests/a:one",
        "tests/a/task.yaml::lxd:ubuntu-18.04:tests/a:two",
        "tests/b/task.yaml::lxd:ubuntu-18.04:tests/b",
        "tests/b/task.yaml::qemu:debian-9:tests/b",
    ]


@pytest.mark.parametrize("selection", [["--spread-filter", "/m"], ["-k", "tests/m"]])
def test_manual_jobs_only_when_named(spread_project, selection):
    result = spread_project.runpytest("--spread", "--collect-only", "-q", *selection)
    assert collected(result) == [
        "tests/m/task.yaml::lxd:ubuntu-16.04:tests/m",
        "tests/m/task.yaml::lxd:ubuntu-18.04:tests/m",
        "tests/m/task.yaml::qemu:debian-9:tests/m",
    ]


def test_manual_suite_named_by_a_filter(spread_project):
    result = spread_project.runpytest(
        "--spread", "--collect-only", "-q", "--spread-filter", "extra/"
    )
    assert len(collected(result)) == 3
    assert all("extra/x/task.yaml::" in line for line in collected(result))


def test_bad_filter_is_a_usage_error(spread_project):
    result = spread_project.runpytest("--spread", "--spread-filter", "a..b")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(['ERROR: invalid filter string: ".."'])


def test_node_id_selects_one_job(spread_project):
    result = spread_project.runpytest(
        "--spread", "--collect-only", "-q", "tests/a/task.yaml::lxd:ubuntu-16.04:tests/a:two"
    )
    assert collected(result) == ["tests/a/task.yaml::lxd:ubuntu-16.04:tests/a:two"]


def test_a_task_file_argument_collects_its_jobs(spread_project):
    result = spread_project.runpytest("--spread", "--collect-only", "-q", "tests/b")
    assert collected(result) == [
        "tests/b/task.yaml::lxd:ubuntu-16.04:tests/b",
        "tests/b/task.yaml::lxd:ubuntu-18.04:tests/b",
        "tests/b/task.yaml::qemu:debian-9:tests/b",
    ]


def test_spread_yaml_error_is_a_collection_error(spread_project):
    spread_project.makefile(".yaml", spread=SPREAD_YAML.replace("summary: s", "summary: [s]"))
    result = spread_project.runpytest("--spread", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting spread.yaml*",
            "spread.yaml:10: suites.tests/.summary: expected a string, got a list",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    assert "pytest_spread" not in result.stdout.str()


def test_task_yaml_error_is_reported_on_that_file(spread_project):
    (spread_project.path / "tests/b/task.yaml").write_text("summary: b\nsamples: lots\n")
    result = spread_project.runpytest("--spread", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting tests/b/task.yaml*",
            'tests/b/task.yaml:2: samples: expected an integer, got "lots"',
        ]
    )


def test_error_outside_the_collected_paths_is_not_lost(spread_project):
    (spread_project.path / "tests/b/task.yaml").write_text("summary: b\nsamples: lots\n")
    result = spread_project.runpytest("--spread", "--collect-only", "-q", "tests/a")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: tests/b/task.yaml:2: samples: expected an integer*"])


@pytest.mark.filterwarnings("default::pytest_spread.SpreadWarning")  # not this suite's error
def test_unknown_keys_are_warnings(spread_project):
    (spread_project.path / "tests/b/task.yaml").write_text("summary: b\nprepare-each: true\n")
    result = spread_project.runpytest("--spread", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ['*tests/b/task.yaml:2: SpreadWarning: prepare-each: unknown tests/b field "prepare-each"*']
    )
    strict = spread_project.runpytest("--spread", "--spread-strict", "--collect-only", "-q")
    assert strict.ret == pytest.ExitCode.INTERRUPTED


def test_project_option_names_the_project(spread_project, pytester):
    elsewhere = pytester.mkdir("elsewhere")
    result = pytester.runpytest(
        "--spread",
        "--collect-only",
        "-q",
        "--rootdir",
        str(spread_project.path),
        f"--spread-project={pytester.path}",
        str(elsewhere),
    )
    assert collected(result) == []  # the path argument limits collection to `elsewhere`
    result = pytester.runpytest(
        "--spread", "--collect-only", "-q", f"--spread-project={pytester.path / 'spread.yaml'}"
    )
    assert len(collected(result)) == 9


def test_a_backend_without_provider_aborts_its_jobs(spread_project):
    result = spread_project.runpytest("--spread", "-k", "tests/b and 16.04")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*cannot allocate lxd:ubuntu-16.04: cannot reach the LXD daemon at */no-lxd/unix.socket*"]
    )
    assert "Traceback" not in result.stdout.str()


def test_junit_and_last_failed(spread_project):
    xml = spread_project.path / "junit.xml"
    first = spread_project.runpytest("--spread", "-k", "tests/b", f"--junitxml={xml}")
    first.assert_outcomes(errors=3)
    names = [case.get("name") for case in ElementTree.parse(xml).iter("testcase")]
    assert names == [
        "lxd:ubuntu-16.04:tests/b",
        "lxd:ubuntu-18.04:tests/b",
        "qemu:debian-9:tests/b",
    ]
    again = spread_project.runpytest("--spread", "--lf", "-q")
    again.assert_outcomes(errors=3)


def test_same_collection_on_xdist_nodes(spread_project):
    result = spread_project.runpytest("--spread", "-n", "2", "-p", "xdist")
    result.assert_outcomes(errors=9)
    assert "Different tests were collected" not in result.stdout.str()


def test_reportinfo_points_at_execute(spread_project):
    (spread_project.path / "tests/b/task.yaml").write_text(
        textwrap.dedent("""\
        summary: b

        execute: |
            true
    """)
    )
    items, _ = spread_project.inline_genitems(
        "--spread", "tests/b/task.yaml::lxd:ubuntu-16.04:tests/b"
    )
    (item,) = items
    path, line, name = item.reportinfo()
    assert (path.name, line, name) == ("task.yaml", 2, "lxd:ubuntu-16.04:tests/b")

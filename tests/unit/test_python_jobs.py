"""A Python test's job from its node id alone, as the xdist controller derives it."""

from __future__ import annotations

import itertools

import pytest

from pytest_spread.plugin.items import has_python_tests, python_job
from pytest_spread.plugin.scheduling import LaneScheduling

from .test_scheduling import FakeNode

SPREAD_YAML = """\
project: p
path: /r
backends:
    lxd:
        systems: [ubuntu-16.04, ubuntu-16.04-arm]
    qemu:
        priority: 5
        systems: [debian-12]
suites:
    tests/: {summary: s}
    tests/main/: {summary: s, priority: 3}
"""


@pytest.fixture
def matrix(project):
    project.spread(SPREAD_YAML)
    project.task("tests/main/shell")
    project.task("tests/other")
    return project.matrix()


@pytest.mark.parametrize(
    ("nodeid", "name", "variant", "priority"),
    [
        (
            "tests/main/test_mod.py::test_a[lxd:ubuntu-16.04]",
            "lxd:ubuntu-16.04:tests/main/test_mod.py::test_a",
            "",
            3,
        ),
        (  # the longest lane wins; the test's own ids follow the lane's
            "tests/main/test_mod.py::test_a[lxd:ubuntu-16.04-arm-1-x]",
            "lxd:ubuntu-16.04-arm:tests/main/test_mod.py::test_a[1-x]",
            "",
            3,
        ),
        (
            "tests/main/test_mod.py::TestX::test_b[qemu:debian-12:v1-2]",
            "qemu:debian-12:tests/main/test_mod.py::TestX::test_b[2]:v1",
            "v1",
            3,
        ),
        (  # under another rootdir; the deepest suite that fits
            "project/tests/test_top.py::test_c[qemu:debian-12]",
            "qemu:debian-12:tests/test_top.py::test_c",
            "",
            5,
        ),
    ],
)
def test_a_python_tests_job_from_its_node_id(matrix, nodeid, name, variant, priority):
    job = python_job(matrix, nodeid)
    assert job is not None
    assert (job.name, job.variant, job.priority, job.sample) == (name, variant, priority, 1)
    assert job.task.name == name.split(":", 2)[2].removesuffix(f":{variant}")


@pytest.mark.parametrize(
    "nodeid",
    [
        "tests/main/test_mod.py::test_a",  # not parametrized by a lane
        "tests/main/test_mod.py::test_a[1]",  # its ids are not a lane
        "tests/main/test_mod.py::test_a[lxd:ubuntu-18.04]",  # no such system
        "elsewhere/test_mod.py::test_a[lxd:ubuntu-16.04]",  # not in a suite
        "tests/main/shell/task.yaml::lxd:ubuntu-16.04:tests/main/shell",
    ],
)
def test_other_node_ids_are_no_python_job(matrix, nodeid):
    assert python_job(matrix, nodeid) is None


def test_the_scheduler_places_python_tests_on_their_lanes(matrix):
    collection = [f"{job.task.name}/task.yaml::{job.name}" for job in matrix.jobs]
    collection += [
        f"tests/main/test_mod.py::test_{n}[{lane}]"
        for n in range(3)
        for lane in ("lxd:ubuntu-16.04", "qemu:debian-12")
    ]
    scheduler = LaneScheduling(matrix)
    nodes = [FakeNode("gw0"), FakeNode("gw1")]
    for node in nodes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, collection)
    scheduler.schedule()
    ran: dict[str, list[str]] = {}
    while any(scheduler.node2pending.values()):
        for node in nodes:
            if scheduler.node2pending.get(node):
                index = scheduler.node2pending[node][0]
                ran.setdefault(node.gateway.id, []).append(collection[index])
                scheduler.mark_test_complete(node, index)
    assert sorted(n for node_ids in ran.values() for n in node_ids) == sorted(collection)
    by_name = {job.name: job for job in matrix.jobs}
    for node_ids in ran.values():  # one lane at a time: a lane left is not taken again
        jobs = [by_name.get(n.rpartition("::")[2]) or python_job(matrix, n) for n in node_ids]
        blocks = [lane for lane, _ in itertools.groupby(job.lane for job in jobs if job)]
        assert len(blocks) == len(set(blocks)) and len(jobs) == len(node_ids)
    assert scheduler.tests_finished


def test_python_test_modules_are_found_in_suite_directories(project):
    project.spread(SPREAD_YAML)
    project.task("tests/main/shell")
    assert not has_python_tests(project.matrix())
    (project.root / "tests" / "main" / "shell" / "test_inside_a_task.py").write_text("")
    assert not has_python_tests(project.matrix())
    (project.root / "tests" / "main" / "checks_test.py").write_text("")
    assert has_python_tests(project.matrix())


def write_project(pytester) -> None:
    pytester.makefile(".yaml", spread=SPREAD_YAML)
    (pytester.path / "tests" / "main" / "shell").mkdir(parents=True)
    (pytester.path / "tests" / "main" / "shell" / "task.yaml").write_text("summary: t\n")


@pytest.mark.parametrize(
    ("declaration", "error"),
    [
        ("SPREAD_ENVIRONMENT = ['A']", "SPREAD_ENVIRONMENT: expected a dict, got ['A']"),
        ("SPREAD_ENVIRONMENT = {'A-B': '1'}", "SPREAD_ENVIRONMENT: invalid entry 'A-B': '1'"),
        ("SPREAD_ENVIRONMENT = {'A': 1}", "SPREAD_ENVIRONMENT: invalid entry 'A': 1"),
        ("SPREAD_SYSTEMS = 'ubuntu-*'", "SPREAD_SYSTEMS: expected a list of names"),
        ("SPREAD_SYSTEMS = ['ubuntu-16.04', '+debian-12']", "systems"),
    ],
)
def test_bad_module_declarations_are_collection_errors(pytester, declaration, error):
    write_project(pytester)
    (pytester.path / "tests" / "test_bad.py").write_text(f"{declaration}\n\ndef test_a(): pass\n")
    result = pytester.runpytest("--spread", "--collect-only", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    escaped = error.replace("[", "[[]")
    result.stdout.fnmatch_lines([f"tests/test_bad.py: *{escaped}*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_a_modules_variants_and_systems_make_its_jobs(pytester):
    write_project(pytester)
    (pytester.path / "tests" / "test_v.py").write_text(
        "SPREAD_ENVIRONMENT = {'X/one': '1', 'X/two': '2'}\n"
        "SPREAD_SYSTEMS = ['ubuntu-*']\n\n"
        "def test_a(): pass\n"
    )
    result = pytester.runpytest("--spread", "--collect-only", "-q", "-p", "no:cacheprovider")
    assert [line for line in result.stdout.lines if "test_v.py::" in line] == [
        f"tests/test_v.py::test_a[lxd:{system}:{variant}]"
        for system in ("ubuntu-16.04-arm", "ubuntu-16.04")  # Spread's order: by job name
        for variant in ("one", "two")
    ]

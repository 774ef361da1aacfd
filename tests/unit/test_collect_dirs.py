"""Tasks in directories pytest skips by default (norecursedirs) are collected, as Spread lists."""

from __future__ import annotations

import pytest

SPREAD_YAML = """\
project: p
path: /r
backends:
    adhoc:
        allocate: ADDRESS localhost
        systems: [sys-1]
suites:
    tests/:
        summary: s
    build/:
        summary: a suite in a directory named build
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", spread=SPREAD_YAML)
    for name in ("tests/build", "tests/dist", "tests/plain", "build/t", "tests/venv"):
        (pytester.path / name).mkdir(parents=True)
        (pytester.path / name / "task.yaml").write_text("summary: x\n")
    (pytester.path / "tests/venv/pyvenv.cfg").write_text("home = /usr\n")  # looks like a venv
    return pytester


def names(result: pytest.RunResult) -> list[str]:
    return sorted(line.rpartition("::")[2] for line in result.outlines if "::" in line)


def test_tasks_under_build_dist_and_venv_names_are_collected(project):
    result = project.runpytest("--spread", "--collect-only", "-q")
    assert names(result) == [
        "adhoc:sys-1:build/t",
        "adhoc:sys-1:tests/build",
        "adhoc:sys-1:tests/dist",
        "adhoc:sys-1:tests/plain",
        "adhoc:sys-1:tests/venv",
    ]


def test_an_explicit_ignore_still_wins(project):
    result = project.runpytest("--spread", "--collect-only", "-q", "--ignore", "tests/dist")
    assert "adhoc:sys-1:tests/dist" not in names(result)
    assert "adhoc:sys-1:tests/build" in names(result)


def test_other_build_directories_stay_ignored(project):
    (project.path / "dist").mkdir()
    (project.path / "dist" / "test_x.py").write_text("def test_x():\n    pass\n")
    result = project.runpytest("--spread", "--collect-only", "-q")
    assert not any("test_x" in line for line in result.outlines)

"""pytest habits on real machines: the ini setting alone, node ids run back, JUnit, content.

A fresh project directory with only `spread = true` in its pytest.ini, run by
the real `pytest` command; its adhoc backend starts sandbox machines.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import pytest
import xmlschema

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "junit-10.xsd"


def write_project(root: Path, tasks: dict[str, str], suite: str = "tests/") -> None:
    """A project of sandbox machines with one suite of the given task scripts."""
    python = sys.executable
    for name, script in tasks.items():
        (root / suite / name).mkdir(parents=True)
        (root / suite / name / "task.yaml").write_text(
            f"summary: {name}\nexecute: |\n" + textwrap.indent(script, "    ") + "\n"
        )
    (root / "spread.yaml").write_text(
        textwrap.dedent(f"""\
        project: habits
        path: /srv/habits
        backends:
            local:
                type: adhoc
                allocate: |
                    ADDRESS "$({python} -m pytest_spread.backends.sandbox start)"
                discard: |
                    {python} -m pytest_spread.backends.sandbox stop "$SPREAD_SYSTEM_ADDRESS"
                systems: [local-sandbox]
        suites:
            {suite}:
                summary: habits
        """)
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    tasks = {
        "good": 'echo "hello from $SPREAD_JOB"\ntest ! -e "$SPREAD_PATH/.pytest_cache"',
        "bad": "echo about to fail\necho on the second line\nexit 3",
    }
    write_project(root, tasks)
    (root / "pytest.ini").write_text("[pytest]\nspread = true\n")
    return root


def pytest_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `pytest` command, as a user types it there (no settings of ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_ini_setting_alone_collects_and_a_node_id_runs_back(project):
    listing = pytest_in(project, "--collect-only", "-q")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    nodeids = [line for line in listing.stdout.splitlines() if "::" in line]
    assert nodeids == [
        "tests/bad/task.yaml::local:local-sandbox:tests/bad",
        "tests/good/task.yaml::local:local-sandbox:tests/good",
    ]
    done = pytest_in(project, nodeids[1])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout.splitlines()[-1]
    assert "Successful tasks: 1" in done.stdout


def test_junit_of_a_real_failure_and_content_without_the_cache(project):
    first = pytest_in(project, "tests/good")  # leaves .pytest_cache (job durations) behind
    assert first.returncode == 0, first.stdout + first.stderr
    assert (project / ".pytest_cache").is_dir()
    xml = project / "junit.xml"
    done = pytest_in(project, f"--junitxml={xml}")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 failed, 1 passed" in done.stdout.splitlines()[-1]  # good: no cache was sent
    xmlschema.XMLSchema(SCHEMA).validate(xml)
    cases = {case.get("name"): case for case in ElementTree.parse(xml).iter("testcase")}
    bad = cases["local:local-sandbox:tests/bad"]
    assert bad.get("classname") == "tests.bad"
    (failure,) = bad.iter("failure")
    message = failure.get("message", "")
    assert "\n" not in message
    assert message.startswith("Error executing local:local-sandbox:tests/bad")
    text = failure.text or ""
    assert "about to fail" in text and "on the second line" in text and "-----" in text
    properties = {p.get("name"): p.get("value") for p in bad.iter("property")}
    assert (properties["backend"], properties["system"], properties["variant"]) == (
        "local",
        "local-sandbox",
        "",
    )
    assert properties["machine"]
    good = cases["local:local-sandbox:tests/good"]
    assert (good.get("classname"), list(good.iter("failure"))) == ("tests.good", [])


def test_a_nested_project_node_id_runs_back_as_is(tmp_path):
    """Spread's own layout: tests/inner/ is a task of the root and a project of its own."""
    root = tmp_path / "spread"
    write_project(root, {"inner": 'test "$SPREAD_TASK" = tests/inner'})
    write_project(root / "tests" / "inner", {"main": "true"}, suite="checks/")
    listing = pytest_in(root, "--spread", "--collect-only", "-q")
    nodeids = [line for line in listing.stdout.splitlines() if "::" in line]
    assert nodeids == ["tests/inner/task.yaml::local:local-sandbox:tests/inner"], listing.stdout
    done = pytest_in(root, "--spread", "-p", "no:cacheprovider", nodeids[0])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout.splitlines()[-1]

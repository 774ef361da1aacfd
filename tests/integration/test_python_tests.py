"""Python tests in suite directories run on Spread machines, beside the shell tasks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python-tests"
SYSTEMS = ("sandbox-one", "sandbox-two")


def run_example(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    project = tmp_path / "python-tests"
    shutil.copytree(EXAMPLE, project)
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    return subprocess.run(
        argv, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_example_runs_on_two_systems_at_once(tmp_path):
    done = run_example(
        tmp_path,
        "--spread",
        "-n",
        "2",
        "--junitxml=out.xml",
        "--spread-json=out.json",
        "--spread-logs=logs",
        "-W",
        "error",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # The example's sudo test needs sudo in the machines (this computer's root filesystem).
    passed = "12 passed" if shutil.which("sudo") else "10 passed, 2 skipped"
    assert passed in done.stdout, done.stdout
    project = tmp_path / "python-tests"
    # JUnit: every Python test once per system, beside the shell task.
    cases = {
        (case.get("classname"), case.get("name"))
        for case in ET.parse(project / "out.xml").getroot().iter("testcase")
    }
    for system in SYSTEMS:
        lane = f"local:{system}"
        assert ("checks.test_machine", f"test_files_go_there_and_back[{lane}]") in cases
        assert (
            "checks.test_variants",
            f"test_each_variant_has_its_greeting[{lane}:casual]",
        ) in cases
        assert ("checks.shell", f"{lane}:checks/shell") in cases
    # JSON: their executes on both systems, the suite prepared once per machine.
    items = json.loads((project / "out.json").read_text())["items"]
    executed = {
        (item["system"], item["name"], item["variant"])
        for item in items
        if item["verb"] == "executing" and item["success"]
    }
    for system in SYSTEMS:
        assert (system, "checks/test_machine.py::test_files_go_there_and_back", "") in executed
        assert (
            system,
            "checks/test_variants.py::test_each_variant_has_its_greeting",
            "polite",
        ) in executed
        prepares = [i for i in items if i["level"] == "suite" and i["verb"] == "preparing"]
        assert [i["system"] for i in prepares].count(system) == 1
    assert len(executed) == 12
    # Its log file: the suite prepare its machine ran before it, then what the test ran.
    log = (
        project
        / "logs"
        / "local:sandbox-two:checks_test_machine.py::test_files_go_there_and_back.log"
    )
    text = log.read_text()
    assert (
        "Preparing local:sandbox-two:checks/ (local:sandbox-two)...\n-----\n+ echo sandbox-two"
        in text
    )
    assert text.index("Running: mkdir -p /tmp/scratch") < text.index("Executing local:sandbox-two")
    assert "Putting '" in text and "Getting '/tmp/scratch/back'" in text
    assert text.splitlines()[-2].endswith("Running: rm -rf /tmp/scratch")  # its own teardown


def test_the_example_runs_without_xdist_in_spread_order(tmp_path):
    done = run_example(tmp_path, "-v", "--spread-filter", "sandbox-two")
    assert done.returncode == 0, done.stdout + done.stderr
    ran = [
        line.split(" ")[0]
        for line in done.stdout.splitlines()
        if " PASSED" in line or " SKIPPED" in line  # SKIPPED: sudo, where the machine has none
    ]
    assert ran == [
        "checks/shell/task.yaml::local:sandbox-two:checks/shell",
        "checks/test_machine.py::test_files_go_there_and_back[local:sandbox-two]",
        "checks/test_machine.py::test_sudo_and_the_job_environment[local:sandbox-two]",
        "checks/test_machine.py::test_suite_prepared_once_on_this_machine[local:sandbox-two]",
        "checks/test_variants.py::test_each_variant_has_its_greeting[local:sandbox-two:casual]",
        "checks/test_variants.py::test_each_variant_has_its_greeting[local:sandbox-two:polite]",
    ]


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (
            ["--spread-filter", "sandbox-one:checks/test_variants.py"],
            [
                "test_variants.py::test_each_variant_has_its_greeting[local:sandbox-one:casual]",
                "test_variants.py::test_each_variant_has_its_greeting[local:sandbox-one:polite]",
            ],
        ),
        (
            ["--spread-filter", "test_sudo_and_the_job_environment"],
            [
                "test_machine.py::test_sudo_and_the_job_environment[local:sandbox-one]",
                "test_machine.py::test_sudo_and_the_job_environment[local:sandbox-two]",
            ],
        ),
        (
            ["-k", "polite and sandbox-two"],
            ["test_variants.py::test_each_variant_has_its_greeting[local:sandbox-two:polite]"],
        ),
        (
            ["-m", "spread(system='sandbox-one', variant='casual')"],
            ["test_variants.py::test_each_variant_has_its_greeting[local:sandbox-one:casual]"],
        ),
    ],
)
def test_python_tests_are_selected_like_tasks(tmp_path, selection, expected):
    done = run_example(tmp_path, "--collect-only", "-q", *selection)
    assert done.returncode == 0, done.stdout + done.stderr
    collected = [line for line in done.stdout.splitlines() if line.startswith("checks/")]
    assert collected == ["checks/" + name for name in expected]


MODULE = """\
import pytest

SPREAD_SYSTEMS = ["ubuntu-24.04"]

@pytest.fixture
def marker(spread_machine):
    spread_machine.run("touch /tmp/own-setup")
    yield
    spread_machine.run("rm /tmp/own-setup")

def test_good(spread_machine, marker):
    assert spread_machine.run("cat /tmp/suite-ready", hide=True).stdout == "ready\\n"

def test_bad(spread_machine, marker):
    assert spread_machine.run("test -e /tmp/own-setup", warn=True).ok
    assert spread_machine.run("false", warn=True).ok, "the machine said no"
"""


SANDBOX_YAML = """\
project: p
path: /srv/python-tests
backends:
    local:
        type: adhoc
        allocate: ADDRESS "$({python} -m pytest_spread.backends.sandbox start)"
        discard: {python} -m pytest_spread.backends.sandbox stop "$SPREAD_SYSTEM_ADDRESS"
        systems: [ubuntu-24.04, debian-12]
suites:
    tests/:
        summary: s
        prepare: echo ready > /tmp/suite-ready
"""


def test_failures_share_the_report_and_last_failed(pytester):
    pytester.makefile(".yaml", spread=SANDBOX_YAML.format(python=sys.executable))
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_remote.py").write_text(MODULE)
    result = pytester.runpytest("--spread", "-rA")
    result.assert_outcomes(passed=1, failed=1)  # SPREAD_SYSTEMS: not on debian-12
    result.stdout.fnmatch_lines(
        [
            "*spread report*",
            "Successful tasks: 1",
            "Aborted tasks: 0",
            "Failed tasks: 1",
            "    - local:ubuntu-24.04:tests/test_remote.py::test_bad",
        ]
    )
    result.stdout.fnmatch_lines(["*AssertionError: the machine said no*"])
    again = pytester.runpytest("--spread", "--lf", "-v")
    again.assert_outcomes(failed=1)
    again.stdout.fnmatch_lines(["*test_remote.py::test_bad[[]local:ubuntu-24.04[]] FAILED*"])
    again.stdout.no_fnmatch_line("*test_good*")


def test_without_spread_they_are_skipped(pytester):
    pytester.makefile(".yaml", spread=SANDBOX_YAML.format(python=sys.executable))
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_remote.py").write_text(
        textwrap.dedent("""\
        def test_remote(spread_machine):
            pass
        """)
    )
    result = pytester.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*a test on Spread machines: run it with pytest --spread*"])


SHAPES = """\
import pytest

SPREAD_ENVIRONMENT = {"SIZE/small": "1", "SIZE/large": "100"}


class TestShapes:
    @pytest.mark.parametrize("count", [1, 2])
    def test_counts(self, spread_machine, spread_job, count):
        assert spread_job.environment["SIZE"] in ("1", "100")
        assert spread_machine.run(f"seq {count} | wc -l", hide=True).stdout.strip() == str(count)


@pytest.mark.parametrize("word", ["a-b", "c"])
def test_words(spread_job, word):
    assert spread_job.task.endswith(f"::test_words[{word}]")
"""


def test_classes_and_parameters_under_xdist(pytester):
    pytester.makefile(".yaml", spread=SANDBOX_YAML.format(python=sys.executable))
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_shapes.py").write_text(SHAPES)
    result = pytester.runpytest_subprocess(
        "--spread", "-n", "2", "-p", "no:cacheprovider", "--spread-json=out.json"
    )
    result.assert_outcomes(passed=16)  # (2 counts + 2 words) x 2 variants x 2 systems
    items = json.loads((pytester.path / "out.json").read_text())["items"]
    names = {(i["system"], i["name"], i["variant"]) for i in items if i["verb"] == "executing"}
    assert ("debian-12", "tests/test_shapes.py::TestShapes::test_counts[2]", "large") in names
    assert ("ubuntu-24.04", "tests/test_shapes.py::test_words[a-b]", "small") in names
    assert len(names) == 16


def test_auto_counts_the_machines_of_python_tests(pytester):
    pytester.makefile(".yaml", spread=SANDBOX_YAML.format(python=sys.executable))
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_only.py").write_text(
        "def test_here(spread_job):\n    assert spread_job.system\n"
    )
    result = pytester.runpytest_subprocess("--spread", "-n", "auto", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["created: 2/2 workers"])


def test_failed_first_puts_a_failed_python_test_first(pytester):
    # The higher priority of suite high/ would run its test first, but for --ff.
    high = "    high/: {summary: s, priority: 10}\n"
    (pytester.path / "spread.yaml").write_text(SANDBOX_YAML.format(python=sys.executable) + high)
    for suite in ("tests", "high"):
        (pytester.path / suite).mkdir()
    (pytester.path / "high" / "test_first.py").write_text("def test_a(spread_job):\n    pass\n")
    (pytester.path / "tests" / "test_order.py").write_text(
        "import os\n\ndef test_z(spread_job):\n    assert os.environ.get('FIXED')\n"
    )
    args = ("--spread", "-v", "--spread-filter", "ubuntu-24.04", "--spread-seed=0")
    first = pytester.runpytest(*args)
    first.assert_outcomes(passed=1, failed=1)
    again = pytester.runpytest(*args, "--ff")
    ran = [
        line.split("[")[0]
        for result in (first, again)
        for line in result.stdout.lines
        if line.endswith("[local:ubuntu-24.04] ")  # the node id before it runs, with -v
    ]
    assert ran == [
        "high/test_first.py::test_a",
        "tests/test_order.py::test_z",
        "tests/test_order.py::test_z",
        "high/test_first.py::test_a",
    ]


def test_restore_only_runs_no_test_body(pytester):
    restore = "        restore: echo restored >> /tmp/restored-log\n"
    (pytester.path / "spread.yaml").write_text(SANDBOX_YAML.format(python=sys.executable) + restore)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_body.py").write_text(
        "def test_body(spread_machine):\n    raise AssertionError('the body ran')\n"
    )
    result = pytester.runpytest(
        "--spread", "--spread-restore", "--spread-filter", "debian-12", "-rs", "-v"
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*--spread-restore runs only the restore scripts*"])
    result.stdout.fnmatch_lines(["*Restoring local:debian-12:tests/ (local:debian-12)...*"])


def test_known_durations_run_the_longest_python_test_first(pytester):
    (pytester.path / "spread.yaml").write_text(SANDBOX_YAML.format(python=sys.executable))
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_timed.py").write_text(
        "import time\n\n"
        "def test_a(spread_job):\n    pass\n\n"
        "def test_b(spread_job):\n    time.sleep(1)\n"
    )
    args = ("--spread", "-v", "--spread-filter", "ubuntu-24.04")

    def ran(result: pytest.RunResult) -> list[str]:
        return [line.split("[")[0] for line in result.stdout.lines if line.endswith("] ")]

    first = pytester.runpytest(*args, "--spread-seed=0")
    assert ran(first) == ["tests/test_timed.py::test_a", "tests/test_timed.py::test_b"]
    known = json.loads((pytester.path / ".pytest_cache/v/spread/durations").read_text())
    assert known["local:ubuntu-24.04:tests/test_timed.py::test_b"] >= 1.0
    again = pytester.runpytest(*args)  # no seed: the durations now known order the jobs
    assert ran(again) == ["tests/test_timed.py::test_b", "tests/test_timed.py::test_a"]


def test_a_failed_prepare_is_a_setup_error_and_still_restores(pytester):
    each = "        prepare-each: exit 1\n        restore-each: echo restoring each\n"
    (pytester.path / "spread.yaml").write_text(SANDBOX_YAML.format(python=sys.executable) + each)
    (pytester.path / "tests").mkdir()
    (pytester.path / "tests" / "test_body.py").write_text(
        "def test_body(spread_machine):\n    raise AssertionError('the body ran')\n"
    )
    result = pytester.runpytest(
        "--spread",
        "--spread-filter",
        "debian-12",
        "--spread-json=out.json",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*Failed task prepare: 1*", "*tests/test_body.py::test_body*"])
    result.stdout.no_fnmatch_line("*the body ran*")
    items = json.loads((pytester.path / "out.json").read_text())["items"]
    task = [(i["verb"], i["success"]) for i in items if i["level"] == "task" and i["verb"]]
    assert task == [("preparing", False), ("restoring", True)]

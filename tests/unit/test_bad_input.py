"""Broken projects: each gives one clear error naming file, line and field, never a traceback.

Every case is a real project on disk run through the real `spread -list`
command (and a sample through `pytest --spread`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BASE = """\
project: p
path: /r
backends:
    lxd:
        systems: [ubuntu-16.04]
suites:
    tests/:
        summary: s
"""
TASK = "summary: t\n"


@dataclass
class Case:
    name: str
    expected: str  # the whole stderr line
    spread: str = BASE
    tasks: dict[str, str] = field(default_factory=lambda: {"tests/a": TASK})
    args: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict)  # other files


def base_with(old: str, new: str) -> str:
    assert old in BASE
    return BASE.replace(old, new)


CASES = [
    # -- YAML syntax and shape
    Case(
        "yaml-bad-indentation",
        "error: spread.yaml:3: invalid YAML: mapping values are not allowed in this context",
        spread="project: p\npath: /r\n  backends: x: y\n",
    ),
    Case(
        "yaml-unclosed-quote",
        "error: spread.yaml:3: invalid YAML: found unexpected end of stream",
        spread='project: p\npath: "/r\n',
    ),
    Case(
        "yaml-unclosed-bracket",
        "error: spread.yaml:6: invalid YAML: did not find expected ',' or ']'",
        spread=base_with("[ubuntu-16.04]", "[ubuntu-16.04"),
    ),
    Case(
        "yaml-tab-indentation",
        "error: spread.yaml:3: invalid YAML: found a tab character that violates indentation",
        spread="project: p\npath: /r\n\tbackends: {}\n",
    ),
    Case(
        "task-yaml-syntax",
        "error: tests/a/task.yaml:2: invalid YAML: mapping values are not allowed in this context",
        tasks={"tests/a": "summary: t\n  execute: a: b\n"},
    ),
    Case(
        "top-level-list",
        "error: spread.yaml:1: expected a mapping, got a list",
        spread="- project\n- p\n",
    ),
    Case("empty-project-file", "error: spread.yaml:1: the project file is empty", spread=""),
    Case(
        "empty-task-yaml",
        "error: tests/a/task.yaml:1: tests/a is missing a summary",
        tasks={"tests/a": ""},
    ),
    Case(
        "task-yaml-is-a-list",
        "error: tests/a/task.yaml:1: expected a mapping, got a list",
        tasks={"tests/a": "- summary\n"},
    ),
    # -- wrong types
    Case(
        "systems-not-a-list",
        'error: spread.yaml:5: backends.lxd.systems: expected a list, got "ubuntu-16.04"',
        spread=base_with("[ubuntu-16.04]", "ubuntu-16.04"),
    ),
    Case(
        "path-is-a-list",
        "error: spread.yaml:2: path: expected a string, got a list",
        spread=base_with("path: /r", "path: [a]"),
    ),
    Case(
        "summary-is-a-mapping",
        "error: spread.yaml:8: suites.tests/.summary: expected a string, got a mapping",
        spread=base_with("summary: s", "summary: {a: b}"),
    ),
    Case(
        "workers-not-a-number",
        "error: spread.yaml:5: backends.lxd.systems.ubuntu-16.04."
        'workers: expected an integer, got "many"',
        spread=base_with("[ubuntu-16.04]", "[ubuntu-16.04: {workers: many}]"),
    ),
    Case(
        "workers-float",
        "error: spread.yaml:5: backends.lxd.systems.ubuntu-16.04.workers: "
        'expected an integer, got "1.5"',
        spread=base_with("[ubuntu-16.04]", "[ubuntu-16.04: {workers: 1.5}]"),
    ),
    Case(
        "manual-maybe",
        'error: tests/a/task.yaml:2: manual: expected a boolean (true or false), got "maybe"',
        tasks={"tests/a": "summary: t\nmanual: maybe\n"},
    ),
    Case(
        "manual-quoted",
        'error: tests/a/task.yaml:2: manual: expected a boolean (true or false), got "true"',
        tasks={"tests/a": 'summary: t\nmanual: "true"\n'},
    ),
    Case(
        "priority-word",
        'error: spread.yaml:9: suites.tests/.priority: expected an integer, got "high"',
        spread=BASE + "        priority: high\n",
    ),
    Case(
        "samples-word",
        'error: tests/a/task.yaml:2: samples: expected an integer, got "two"',
        tasks={"tests/a": "summary: t\nsamples: two\n"},
    ),
    Case(
        "environment-list",
        "error: tests/a/task.yaml:2: environment: expected a mapping, got a list",
        tasks={"tests/a": "summary: t\nenvironment: [A]\n"},
    ),
    # -- project
    Case(
        "invalid-project-name",
        'error: spread.yaml:1: project: invalid project name: "My Project"',
        spread=base_with("project: p", "project: My Project"),
    ),
    Case(
        "missing-project-name",
        'error: spread.yaml:1: project: invalid project name: ""',
        spread=BASE.replace("project: p\n", ""),
    ),
    Case(
        "missing-path",
        "error: spread.yaml:1: missing project path field with remote project location",
        spread=BASE.replace("path: /r\n", ""),
    ),
    Case(
        "relative-path",
        "error: spread.yaml: path: remote project path must be absolute and not /: relative/dir",
        spread=base_with("path: /r", "path: relative/dir"),
    ),
    Case(
        "root-path",
        "error: spread.yaml: path: remote project path must be absolute and not /: /",
        spread=base_with("path: /r", "path: /"),
    ),
    # -- backends and systems
    Case(
        "invalid-backend-name",
        'error: spread.yaml:4: backends.Lxd: invalid backend name: "Lxd"',
        spread=base_with("    lxd:", "    Lxd:"),
    ),
    Case(
        "unknown-backend-type",
        'error: spread.yaml:5: backends.lxd.type: backend "lxd" has unsupported type "docker"',
        spread=base_with("    lxd:\n", "    lxd:\n        type: docker\n"),
    ),
    Case(
        "adhoc-without-allocate",
        'error: spread.yaml:4: backends.adhoc: backend "adhoc" requires an allocate field',
        spread=base_with("    lxd:", "    adhoc:"),
    ),
    Case(
        "lxd-with-allocate",
        'error: spread.yaml:5: backends.lxd.allocate: backend "lxd" cannot'
        " use allocate and dispose fields",
        spread=base_with("    lxd:\n", "    lxd:\n        allocate: x\n"),
    ),
    Case(
        "invalid-system-name",
        'error: spread.yaml:5: backends.lxd.systems[0]: backend "lxd" '
        'refers to invalid system name: "ubuntu"',
        spread=base_with("ubuntu-16.04", "ubuntu"),
    ),
    Case(
        "negative-workers",
        "error: spread.yaml:5: backends.lxd.systems.ubuntu-16.04.workers: "
        'backend "lxd" has system "ubuntu-16.04" with -1 workers',
        spread=base_with("[ubuntu-16.04]", "[ubuntu-16.04: {workers: -1}]"),
    ),
    Case(
        "empty-systems",
        'error: spread.yaml:5: backends.lxd.systems: no systems specified for backend "lxd"',
        spread=base_with("[ubuntu-16.04]", "[]"),
    ),
    Case(
        "system-entry-with-two-keys",
        "error: spread.yaml:6: backends.lxd.systems[0]: a system "
        "entry must have one key, the system name; got ubuntu-16.04, workers (are the system's "
        "fields indented under its name?)",
        spread=base_with(
            "        systems: [ubuntu-16.04]\n",
            "        systems:\n            - ubuntu-16.04:\n              workers: 2\n",
        ),
    ),
    Case(
        "no-backends",
        "error: spread.yaml:3: backends: must define at least one backend",
        spread=base_with("    lxd:\n        systems: [ubuntu-16.04]\n", "    lxd:\n"),
    ),
    Case(
        "duplicate-backend",
        "error: spread.yaml:6: backends.lxd: lxd defined twice (first at line 4)",
        spread=base_with(
            "        systems: [ubuntu-16.04]\n",
            "        systems: [ubuntu-16.04]\n    lxd:\n        systems: [ubuntu-18.04]\n",
        ),
    ),
    # -- suites and tasks
    Case(
        "no-suites",
        "error: spread.yaml:1: suites: must define at least one task suite",
        spread=BASE.split("suites:")[0],
    ),
    Case(
        "suite-without-slash",
        'error: spread.yaml:7: suites.tests: invalid suite name (must end with /): "tests"',
        spread=base_with("    tests/:", "    tests:"),
    ),
    Case(
        "invalid-suite-name",
        'error: spread.yaml:7: suites.Tests/: invalid suite name: "Tests/"',
        spread=base_with("    tests/:", "    Tests/:"),
    ),
    Case(
        "suite-without-summary",
        "error: spread.yaml:7: suites.tests/: suite tests/ is missing a summary",
        spread=base_with("        summary: s\n", "        priority: 1\n"),
    ),
    Case(
        "suite-directory-missing",
        "error: spread.yaml:7: suites.tests/: cannot list suite tests/: No such file or directory",
        tasks={},
    ),
    Case(
        "duplicate-suite",
        "error: spread.yaml:9: suites.tests/: tests/ defined twice (first at line 7)",
        spread=BASE + "    tests/:\n        summary: again\n",
    ),
    Case(
        "invalid-task-name",
        'error: tests/Main/task.yaml: invalid task name: "tests/Main"',
        tasks={"tests/Main": TASK},
    ),
    Case(
        "task-without-summary",
        "error: tests/a/task.yaml:1: tests/a is missing a summary",
        tasks={"tests/a": "execute: true\n"},
    ),
    Case(
        "artifact-trailing-slash",
        "error: tests/a/task.yaml:2: artifacts[0]: tests/a has improper artifact path: some/dir/",
        tasks={"tests/a": "summary: t\nartifacts: [some/dir/]\n"},
    ),
    Case(
        "artifact-absolute",
        "error: tests/a/task.yaml:2: artifacts[0]: tests/a has improper artifact path: /abs",
        tasks={"tests/a": "summary: t\nartifacts: [/abs]\n"},
    ),
    Case(
        "artifact-parent",
        "error: tests/a/task.yaml:2: artifacts[0]: tests/a has improper artifact path: ../x",
        tasks={"tests/a": "summary: t\nartifacts: [../x]\n"},
    ),
    # -- environments
    Case(
        "project-env-name",
        "error: spread.yaml:4: environment.FOO-BAR: invalid project "
        'environment: invalid variable name: "FOO-BAR"',
        spread=base_with("path: /r\n", "path: /r\nenvironment:\n    FOO-BAR: x\n"),
    ),
    Case(
        "backend-env-name",
        "error: spread.yaml:6: backends.lxd.environment.1X: invalid backend"
        ' "lxd" environment: invalid variable name: "1X"',
        spread=base_with("    lxd:\n", "    lxd:\n        environment:\n            1X: y\n"),
    ),
    Case(
        "system-env-name",
        "error: spread.yaml:5: backends.lxd.systems.ubuntu-16.04.environment"
        '.A/: invalid lxd:ubuntu-16.04 environment: invalid variable name: "A/"',
        spread=base_with("[ubuntu-16.04]", "[ubuntu-16.04: {environment: {A/: x}}]"),
    ),
    Case(
        "suite-env-name",
        "error: spread.yaml:10: suites.tests/.environment.A/b,: invalid suite "
        'tests/ environment: invalid variable name: "A/b,"',
        spread=BASE + "        environment:\n            A/b,: x\n",
    ),
    Case(
        "task-env-duplicate",
        "error: tests/a/task.yaml:4: environment.A: invalid tests/a "
        'environment: variable "A" defined multiple times',
        tasks={"tests/a": "summary: t\nenvironment:\n    A: 1\n    A: 2\n"},
    ),
    # -- cascades
    Case(
        "suite-systems-mixed",
        "error: spread.yaml:9: suites.tests/.systems: suite tests/ "
        "specifies systems both in delta and plain format",
        spread=BASE + "        systems: [ubuntu-16.04, -ubuntu-18.04]\n",
    ),
    Case(
        "task-backends-mixed",
        "error: tests/a/task.yaml:2: backends: tests/a specifies backends"
        " both in delta and plain format",
        tasks={"tests/a": "summary: t\nbackends: [lxd, -x]\n"},
    ),
    Case(
        "task-variants-mixed",
        "error: tests/a/task.yaml:2: variants: tests/a specifies variants"
        " both in delta and plain format",
        tasks={"tests/a": "summary: t\nvariants: [a, +b]\n"},
    ),
    Case(
        "malformed-glob",
        "error: tests/a/task.yaml:2: systems[0]: tests/a has invalid systems "
        'pattern "ubuntu-[16": syntax error in pattern',
        tasks={"tests/a": 'summary: t\nsystems: ["ubuntu-[16"]\n'},
    ),
    Case(
        "invalid-system-reference",
        'error: tests/a/task.yaml:2: systems[0]: tests/a refers to invalid system name: "Ubuntu"',
        tasks={"tests/a": "summary: t\nsystems: [Ubuntu]\n"},
    ),
    # -- timeouts and sizes
    Case(
        "timeout-no-unit",
        'error: spread.yaml:3: kill-timeout: timeout must look like 10s or 15m or 1.5h, not "30"',
        spread=base_with("path: /r\n", "path: /r\nkill-timeout: 30\n"),
    ),
    Case(
        "timeout-minus-one",
        "error: tests/a/task.yaml:2: warn-timeout: timeout must look like "
        '10s or 15m or 1.5h, not "-1"',
        tasks={"tests/a": "summary: t\nwarn-timeout: -1\n"},
    ),
    Case(
        "timeout-words",
        "error: spread.yaml:5: backends.lxd.kill-timeout: timeout must look "
        'like 10s or 15m or 1.5h, not "5 minutes"',
        spread=base_with("    lxd:\n", "    lxd:\n        kill-timeout: 5 minutes\n"),
    ),
    Case(
        "memory-no-suffix",
        "error: spread.yaml:5: backends.qemu.memory: unknown size suffix in"
        ' "1024", must be one of: B, K, M, G',
        spread=base_with("    lxd:\n", "    qemu:\n        memory: 1024\n"),
    ),
    Case(
        "memory-decimal",
        'error: spread.yaml:5: backends.qemu.memory: invalid size string: "1.5G"',
        spread=base_with("    lxd:\n", "    qemu:\n        memory: 1.5G\n"),
    ),
    Case(
        "storage-terabytes",
        "error: spread.yaml:5: backends.lxd.storage: unknown size suffix "
        'in "10T", must be one of: B, K, M, G',
        spread=base_with("    lxd:\n", "    lxd:\n        storage: 10T\n"),
    ),
    # -- $(HOST:...)
    Case(
        "host-false-project",
        "error: spread.yaml:4: environment.H: $(HOST:false) in project "
        "environment returned error: exit status 1",
        spread=base_with("path: /r\n", "path: /r\nenvironment:\n    H: $(HOST:false)\n"),
    ),
    Case(
        "host-stderr-task",
        "error: tests/a/task.yaml:3: environment.K: $(HOST:echo oops >&2; "
        "exit 3) in tests/a environment returned error: oops",
        tasks={"tests/a": "summary: t\nenvironment:\n    K: $(HOST:echo oops >&2; exit 3)\n"},
    ),
    Case(
        "host-in-path",
        "error: spread.yaml: path: $(HOST:exit 2) in remote project path "
        "environment returned error: exit status 2",
        spread=base_with("path: /r", "path: /r/$(HOST:exit 2)"),
    ),
    # -- unreadable files
    Case(
        "task-yaml-is-a-directory",
        "error: tests/a/task.yaml: cannot read file: Is a directory",
        tasks={},
        extra={"tests/a/task.yaml/keep": ""},
    ),
    # -- filters and selection
    Case("filter-dots", 'error: invalid filter string: ".."', args=("a..b",)),
    Case(
        "filter-sample-zero", 'error: invalid sample range in filter string: "x#0"', args=("x#0",)
    ),
    Case("filter-hash", 'error: invalid filter string: "#"', args=("a#b",)),
    Case("filter-bad-regex", 'error: invalid filter string: "tests/(a"', args=("tests/(a",)),
    Case("filter-matches-nothing", "error: nothing matches provider filter", args=("nothing",)),
    Case(
        "everything-manual",
        "error: cannot find any tasks",
        tasks={"tests/a": "summary: t\nmanual: true\n"},
    ),
    Case("no-tasks", "error: cannot find any tasks", tasks={}, extra={"tests/README": "x\n"}),
]


def materialize(case: Case, root: Path) -> Path:
    root.mkdir()
    (root / "spread.yaml").write_text(case.spread)
    for name, text in case.tasks.items():
        (root / name).mkdir(parents=True)
        (root / name / "task.yaml").write_text(text)
    for name, text in case.extra.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "LC_ALL": "C"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_the_corpus_is_large_and_distinct():
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)
    assert len({case.expected for case in CASES}) >= 40


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_spread_list_reports_one_clear_error(case, tmp_path):
    project = materialize(case, tmp_path / "project")
    done = run([sys.executable, "-m", "pytest_spread", "-list", *case.args], project)
    assert (done.returncode, done.stdout) == (1, "")
    errors = [line for line in done.stderr.splitlines() if not line.startswith("warning: ")]
    assert errors == [case.expected]


SAMPLE = [
    "yaml-bad-indentation",
    "task-yaml-syntax",
    "workers-not-a-number",
    "empty-systems",
    "suite-without-summary",
    "invalid-task-name",
    "task-env-duplicate",
    "task-variants-mixed",
    "timeout-no-unit",
    "host-false-project",
    "relative-path",
]


@pytest.mark.parametrize("name", SAMPLE)
def test_pytest_reports_the_same_error(name, tmp_path):
    (case,) = [case for case in CASES if case.name == name]
    project = materialize(case, tmp_path / "project")
    done = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--spread",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        project,
    )
    assert done.returncode in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.USAGE_ERROR)
    output = done.stdout + done.stderr
    assert case.expected.removeprefix("error: ") in output
    assert "Traceback" not in output and "pytest_spread/" not in output

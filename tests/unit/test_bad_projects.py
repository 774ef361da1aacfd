"""A corpus of broken projects: each gives one clear error line, never a traceback.

Each directory of `tests/bad_projects/` is a project plus:

* `expected.txt`: the exact `error: ...` line `spread -list` must print on stderr;
* `args.txt` (optional): extra command-line arguments (filters), whitespace-separated;
* `setup.sh` (optional): run in the copy to make what git cannot store (an unreadable
  file, a dangling symlink...); exit status 77 means the case cannot be built here;
* `xfail.txt` (optional): why the current message is wrong (a known bug).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent.parent / "bad_projects"
META = ("expected.txt", "args.txt", "setup.sh", "xfail.txt")
NAMES = sorted(path.name for path in CORPUS.iterdir() if path.is_dir())
PYTEST_SAMPLE = [
    "yaml-bad-indentation",
    "task-yaml-bad-indentation",
    "workers-many",
    "empty-systems",
    "suite-without-summary",
    "invalid-task-name",
    "task-env-duplicate",
    "task-variants-mixed",
    "project-timeout-no-unit",
    "host-false-project-env",
    "host-false-task-env",
    "suite-directory-missing",
]


def case_param(name: str):
    xfail = CORPUS / name / "xfail.txt"
    reason = xfail.read_text().strip() if xfail.exists() else ""
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(name, id=name, marks=marks)


def prepare(name: str, tmp_path: Path) -> Path:
    """A copy of the case's project in tmp_path, with its setup.sh applied."""
    source = CORPUS / name
    project = tmp_path / name
    shutil.copytree(source, project, ignore=shutil.ignore_patterns(*META))
    if (source / "setup.sh").exists():
        done = subprocess.run(["bash", str(source / "setup.sh")], cwd=project, check=False)
        if done.returncode == 77:
            pytest.skip("setup.sh: this case cannot be built here")
        assert done.returncode == 0
    return project


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd.parent), "LC_ALL": "C"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def expected(name: str) -> str:
    return (CORPUS / name / "expected.txt").read_text().rstrip("\n")


def test_the_corpus_is_large_and_well_formed():
    assert len(NAMES) >= 45
    assert set(PYTEST_SAMPLE) <= set(NAMES)
    for name in NAMES:
        assert expected(name).startswith("error: "), name
        assert "\n" not in expected(name), name


@pytest.mark.parametrize("name", [case_param(name) for name in NAMES])
def test_spread_list_prints_one_clear_error(name, tmp_path):
    project = prepare(name, tmp_path)
    args_file = CORPUS / name / "args.txt"
    args = args_file.read_text().split() if args_file.exists() else []
    done = run([sys.executable, "-m", "pytest_spread", "-list", *args], project)
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if not line.startswith("warning: ")]
    assert (done.returncode, done.stdout, errors) == (1, "", [expected(name)])


@pytest.mark.parametrize("name", [case_param(name) for name in PYTEST_SAMPLE])
def test_pytest_spread_reports_the_same_error(name, tmp_path):
    project = prepare(name, tmp_path)
    argv = [sys.executable, "-m", "pytest", "--spread", "--collect-only", "-q"]
    done = run([*argv, "-p", "no:cacheprovider"], project)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert expected(name).removeprefix("error: ") in output
    assert "Traceback" not in output and "pytest_spread/" not in output

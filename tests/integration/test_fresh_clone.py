"""The README's commands and the getting-started page, followed verbatim on a fresh clone,
give a green run.

The commands are read from the files, so a change there that breaks them fails here. They
run as written, in a `git clone` of the repository (committed files only), with two
exceptions that keep the host as it is and the test quick: `apt-get` is not run, each
package it names must already be installed instead (`dpkg -s`), so it would change
nothing; and pip installs from a wheelhouse made once per session (`pip wheel` of what
this test run's virtualenv holds), with `PIP_NO_INDEX=1`, instead of from PyPI.
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest import LineMatcher

from .test_getting_started import clean_environment, fenced, patterns

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGE = ROOT / "docs" / "getting-started.md"


def first_block(path: Path, language: str = "sh") -> str:
    """The first fenced block of the file with that language."""
    blocks = fenced(path.read_text(), language)
    assert blocks, f"{path.name} has no ```{language} block"
    return blocks[0]


def host_safe(command: str) -> tuple[str, list[str]]:
    """The command without its `apt-get` steps, and the packages they would install."""
    kept: list[str] = []
    packages: list[str] = []
    for step in command.split(" && "):
        words = step.split()
        if words[:2] == ["apt-get", "update"]:
            continue
        if words[:2] == ["apt-get", "install"]:
            packages += [word for word in words[2:] if not word.startswith("-")]
            continue
        assert "apt-get" not in step, step
        kept.append(step)
    return " && ".join(kept), packages


def check_packages(packages: list[str]) -> None:
    """The docs name Debian packages, and what their apt-get would add is not needed here.

    Installed packages make apt-get a no-op. One that is missing (sudo, on a host
    without it) is left out: the commands then run without it, and must still be
    green (the suite runs on a host without sudo).
    """
    assert packages
    missing = []
    for package in packages:
        done = subprocess.run(["dpkg", "-s", package], capture_output=True, text=True)
        status = re.search(r"^Status: (.*)$", done.stdout, re.M)
        if not (status and status.group(1) == "install ok installed"):
            missing.append(package)
    if missing:
        print(f"not installed here, so the run goes without them: {' '.join(missing)}")


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of every distribution in this virtualenv, and of the build backend, made
    once per session (xdist nodes share it: the first one makes it, under a lock)."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the session's directory, above each node's own
    wheels = shared / "fresh-clone-wheels"
    with open(shared / "fresh-clone-wheels.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (wheels / "done").exists():
            argv = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels)]
            done = subprocess.run(
                [*argv, *installed(), *build_requirements()],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            (wheels / "done").touch()
    return wheels


def installed() -> list[str]:
    """This virtualenv's distributions, pinned, but pytest-spread (the clone builds it)."""
    frozen = subprocess.run(
        [sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [
        line
        for line in frozen
        if line
        and not line.startswith("#")
        and re.split(r"[=@ ]", line)[0].lower().replace("_", "-") != "pytest-spread"
    ]


def build_requirements() -> list[str]:
    """pyproject.toml's [build-system] requires (pip builds the clone with them)."""
    build = re.findall(r"requires = \[([^]]*)\]", (ROOT / "pyproject.toml").read_text())
    return re.findall(r'"([^"]+)"', build[0])


def run(script: str, cwd: Path, wheels: Path) -> subprocess.CompletedProcess[str]:
    """bash runs the script in cwd as a newcomer's shell would, pip reading only wheels."""
    env = {key: value for key, value in clean_environment().items() if not key.startswith("PIP_")}
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(wheels), PIP_DISABLE_PIP_VERSION_CHECK="1")
    return subprocess.run(
        ["bash", "-c", "set -e\n" + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Path]:
    """A fresh clone of this repository: its committed files only."""
    path = tmp_path / "pytest-spread"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(path)], check=True, timeout=120)
    yield path


def green(done: subprocess.CompletedProcess[str], jobs: int) -> None:
    """Both front ends ran the example's jobs and all passed."""
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert re.search(rf"^\S+ \S+ Successful tasks: {jobs}$", done.stdout, re.M), output[-4000:]
    assert re.search(rf"^=+ {jobs} passed in [0-9.]+s =+$", done.stdout, re.M), output[-4000:]


def shown_jobs() -> int:
    """How many jobs the getting-started page says the example has."""
    counts = set(re.findall(r"Successful tasks: (\d+)", PAGE.read_text()))
    assert len(counts) == 1, counts
    return int(counts.pop())


def test_the_readme_commands_on_a_fresh_clone(clone, wheelhouse):
    lines = first_block(README).splitlines()
    assert len(lines) == 2, lines
    first, packages = host_safe(lines[0])
    check_packages(packages)
    assert "pip install" in first and "spread" in first.split(" && ")
    green(run(first, clone, wheelhouse), shown_jobs())
    # The second command, from the repository root, runs the test suite: it finds the tests
    # (the first command installed what they import), here without running them all.
    test_command = lines[1]
    assert test_command.startswith(".venv/bin/python -m pytest"), test_command
    done = run(test_command + " --collect-only", clone, wheelhouse)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    collected = re.search(r"^(\d+) tests collected in ", done.stdout, re.M)
    assert collected and int(collected.group(1)) > 100, done.stdout[-2000:]
    assert "tests/integration/test_example.py::test_pytest_runs_the_example" in done.stdout


def test_the_getting_started_page_on_a_fresh_clone(clone, wheelhouse):
    """Every `sh` block of the page, in order, in one shell (as a reader types them)."""
    steps, packages = [], []
    for block in fenced(PAGE.read_text(), "sh"):
        for line in block.splitlines():
            kept, named = host_safe(line)
            packages += named
            if kept:
                steps.append(kept)
    check_packages(packages)
    assert any(step.startswith("pip install") for step in steps), steps
    assert "spread" in steps and "pytest" in steps, steps
    done = run("\n".join(steps), clone, wheelhouse)
    green(done, shown_jobs())
    # Every line the page shows of the two runs' output is there (times aside; the jobs'
    # order may differ, as the page says).
    section = PAGE.read_text().split("\n## Run the example\n")[1].split("\n## ")[0]
    spread_lines, pytest_lines = fenced(section, "")[:2]
    lines = LineMatcher([line.rstrip() for line in done.stdout.splitlines()])
    lines.fnmatch_lines_random(patterns(spread_lines + pytest_lines))

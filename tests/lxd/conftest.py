"""Fixtures for tests on real LXD containers.

The daemon, its bridge and the Debian 12 image are set up by `.ci/setup-lxd`
(CI runs it first; the `lxd` fixture runs it again if anything is missing).
Every test project names its systems with a tag of its own, so a test can tell
its containers from those of tests running beside it and check that none is
left behind. Tests share the daemon (a shared lock); a test that stops it takes
the lock alone.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_spread.backends.lxdapi import LXD, LXDError

REPO = Path(__file__).resolve().parents[2]
LOCK = Path("/tmp/pytest-spread-lxd.lock")
# Spread's container counter (~/.spread/lxd-count) shared by every test run on this
# computer, so that runs side by side never pick the same container name.
HOME = Path("/tmp/pytest-spread-lxd-home")


def setup_lxd(what: str) -> None:
    result = subprocess.run(
        [str(REPO / ".ci/setup-lxd"), what], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f".ci/setup-lxd {what} failed:\n{result.stdout}{result.stderr}", False)


@pytest.fixture(scope="session")
def lxd_ready() -> None:
    """The LXD daemon runs, initialised, with the test image imported."""
    setup_lxd("image")


@pytest.fixture
def lxd_shared(lxd_ready: None) -> Iterator[None]:
    """Use the daemon alongside other tests (never while one has it stopped)."""
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield


@pytest.fixture
def lxd_alone(lxd_ready: None) -> Iterator[None]:
    """Have the daemon to this test alone (it may stop it); started again afterwards."""
    with open(LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            setup_lxd("daemon")


def instances(tag: str) -> list[str]:
    """Names of the containers whose name carries `tag`."""
    try:
        found = LXD().get("instances") or []
    except LXDError:
        setup_lxd("daemon")
        found = LXD().get("instances") or []
    names = [str(url).rsplit("/", 1)[-1] for url in found]
    return [name for name in names if tag in name]


class LXDProject:
    """A Spread project of lxd systems (Debian 12 containers) that a test runs."""

    def __init__(self, root: Path, tag: str) -> None:
        self.root = root
        self.tag = tag

    def system(self, letter: str) -> str:
        return f"deb{letter}-{self.tag}"

    def write(self, systems: str, tasks: dict[str, str], extra: str = "") -> None:
        """spread.yaml with `systems` (YAML list body, SYS_A/SYS_B for system names)."""
        systems = systems.replace("SYS_A", self.system("a")).replace("SYS_B", self.system("b"))
        text = (
            "project: lxd-test\npath: /srv/lxd-test\nbackends:\n    lxd:\n        systems:\n"
            + textwrap.indent(textwrap.dedent(systems), " " * 12)
            + "suites:\n    tests/main/:\n        summary: s\n"
            + textwrap.dedent(extra)
        )
        (self.root / "spread.yaml").write_text(text)
        for name, body in tasks.items():
            directory = self.root / "tests/main" / name
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "task.yaml").write_text(textwrap.dedent(body))

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(HOME)}

    def spread(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """The spread command on this project."""
        return subprocess.run(
            [sys.executable, "-m", "pytest_spread", *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "pytest_spread", *args],
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def pytest(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """`pytest --spread` on this project, in a process of its own."""
        return subprocess.run(
            [sys.executable, "-m", "pytest", "--spread", "-p", "no:cacheprovider", *args],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def containers(self) -> list[str]:
        return instances(self.tag)


def _project(root: Path) -> Iterator[LXDProject]:
    HOME.mkdir(exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\n")  # the project's own rootdir and settings
    project = LXDProject(root, uuid.uuid4().hex[:6])
    yield project
    left = project.containers()
    for name in left:
        subprocess.run(["lxc", "delete", "--force", name], capture_output=True, check=False)
    assert left == [], f"containers left behind: {left}"


@pytest.fixture
def lxd_project(tmp_path: Path, lxd_shared: None) -> Iterator[LXDProject]:
    """An empty project directory; no container of its systems may outlive the test."""
    yield from _project(tmp_path)


@pytest.fixture
def lxd_project_alone(tmp_path: Path, lxd_alone: None) -> Iterator[LXDProject]:
    """The same, for a test that has the daemon to itself."""
    yield from _project(tmp_path)

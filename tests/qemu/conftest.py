"""Fixtures for tests on real QEMU machines (TCG where KVM cannot run them).

The bootable Debian 12 image is built once by `.ci/build-images qemu` (cached by
recipe); each test gets a HOME of its own whose `~/.spread/qemu/` points at it,
so a user's real ~/.spread is never touched, and a TMPDIR of its own for the
machines' run directories.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def qemu_images() -> Path:
    """The directory holding debian-12.img."""
    result = subprocess.run(
        [str(REPO / ".ci/build-images"), "qemu"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.fail(f".ci/build-images qemu failed:\n{result.stderr}", False)
    return Path(result.stdout.strip()) / "qemu"


def qemu_processes(tmp: Path) -> list[str]:
    """QEMU processes whose command line mentions `tmp` (those of one test)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"qemu-system" in cmdline and str(tmp).encode() in cmdline:
                found.append(entry.name)
    return found


class QEMUProject:
    """A Spread project of one qemu system that a test runs."""

    def __init__(self, root: Path, home: Path, tmp: Path) -> None:
        self.root, self.home, self.tmp = root, home, tmp

    def image(self, name: str, path: Path) -> None:
        images = self.home / ".spread/qemu"
        images.mkdir(parents=True, exist_ok=True)
        (images / f"{name}.img").symlink_to(path)

    def write(self, system: str, tasks: dict[str, str]) -> None:
        (self.root / "spread.yaml").write_text(
            "project: qemu-test\npath: /srv/qemu-test\nbackends:\n    qemu:\n"
            "        memory: 1G\n        systems:\n"
            + textwrap.indent(textwrap.dedent(system), " " * 12)
            + "suites:\n    tests/:\n        summary: s\n"
        )
        for name, body in tasks.items():
            (self.root / "tests" / name).mkdir(parents=True, exist_ok=True)
            (self.root / "tests" / name / "task.yaml").write_text(textwrap.dedent(body))

    def env(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.home), "TMPDIR": str(self.tmp)}

    def popen(self, *command: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", *command],
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def run(self, *command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", *command],
            cwd=self.root,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@pytest.fixture
def qemu_project(tmp_path: Path):
    """An empty project with its own HOME and TMPDIR; no QEMU of it may outlive the test."""
    root, home = tmp_path / "project", tmp_path / "home"
    for directory in (root, home):
        directory.mkdir()
    # Short: QEMU's unix sockets live in it, and their paths may not pass 108 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="qemu-test-", dir="/tmp"))
    (root / "pytest.ini").write_text("[pytest]\n")
    yield QEMUProject(root, home, tmp)
    left = qemu_processes(tmp_path) + qemu_processes(tmp)
    for pid in left:
        os.kill(int(pid), 9)
    shutil.rmtree(tmp, ignore_errors=True)
    assert left == [], f"QEMU processes left running: {left}"

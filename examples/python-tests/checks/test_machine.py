"""Checks of the machine, written in Python: each runs once on every system of the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def scratch(spread_machine) -> Iterator[str]:
    """A task-level set-up of the test's own: a directory on the machine, removed after."""
    spread_machine.run("mkdir -p /tmp/scratch")
    yield "/tmp/scratch"
    spread_machine.run("rm -rf /tmp/scratch")


def test_suite_prepared_once_on_this_machine(spread_machine, spread_job):
    prepared = spread_machine.run("cat /root/suite-prepared", hide=True).stdout.split()
    assert prepared == [spread_job.system]


def test_files_go_there_and_back(spread_machine, scratch, tmp_path: Path):
    (tmp_path / "sent").write_text("hello machine\n")
    spread_machine.put(str(tmp_path / "sent"), f"{scratch}/sent")
    spread_machine.run(f"tr a-z A-Z < {scratch}/sent > {scratch}/back")
    spread_machine.get(f"{scratch}/back", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "HELLO MACHINE\n"


def test_sudo_and_the_job_environment(spread_machine, spread_job):
    if spread_machine.run("command -v sudo", warn=True, hide=True).failed:
        pytest.skip("this machine has no sudo")
    assert spread_machine.sudo("id -u", hide=True).stdout.strip() == "0"
    assert spread_job.environment["SPREAD_SYSTEM"] == spread_job.system
    assert spread_job.environment["GREETING"] == "hello"  # from spread.yaml

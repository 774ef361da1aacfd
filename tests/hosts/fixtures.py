"""Fixtures handing out real machines; every machine is stopped at the end, whatever happens."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_spread.backends.sandbox import Machine, MachinePath, start_machine

MachineFactory = Callable[..., Machine]


@pytest.fixture(scope="session", autouse=True)
def sandbox_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Machines started with the command line keep their records in the test's own directory.

    Whatever a test leaves running there is stopped when the session ends.
    """
    directory = tmp_path_factory.mktemp("sandbox") / "state"
    previous = os.environ.get("SPREAD_SANDBOX_DIR")
    os.environ["SPREAD_SANDBOX_DIR"] = str(directory)
    try:
        yield directory
    finally:
        if directory.exists():
            command = [sys.executable, "-m", "pytest_spread.backends.sandbox", "stop", "--all"]
            subprocess.run(command, check=False, timeout=120)
        if previous is None:
            del os.environ["SPREAD_SANDBOX_DIR"]
        else:
            os.environ["SPREAD_SANDBOX_DIR"] = previous


@pytest.fixture(scope="session")
def machine_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MachineFactory]:
    """Start machines on demand: `machine_factory(user="ubuntu", user_password="pw")`."""
    base = tmp_path_factory.mktemp("machines")
    started: list[Machine] = []

    def start(**kwargs: Any) -> Machine:
        kwargs.setdefault("password", secrets.token_hex(8))
        workdir = base / f"m{len(started)}"
        machine = start_machine(workdir, base / "cache", **kwargs)
        started.append(machine)
        return machine

    try:
        yield start
    finally:
        for machine in started:
            machine.stop()


@pytest.fixture
def machine(machine_factory: MachineFactory) -> Iterator[Machine]:
    """A fresh machine for one test, stopped after it."""
    machine = machine_factory()
    try:
        yield machine
    finally:
        machine.stop()


def machine_path(machine: Machine, inside: str) -> MachinePath:
    return machine.path(inside)

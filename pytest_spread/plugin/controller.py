"""The xdist controller's share of a run: one reuse file, and the machines of lost nodes.

The nodes of a run record their machines in one reuse file named after the
controller's pid (so `spread -reuse-pid=<pid> -discard` cleans up after a
`kill -9` of the whole run), each entry owned by the node that holds it. When
a node dies without discarding its machines (SIGKILL, a crash), the controller
discards the machines whose owner is gone, at once and again at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from pytest_spread.errors import SpreadError
from pytest_spread.machines.reuse import ReuseFile
from pytest_spread.machines.source import PoolOptions
from pytest_spread.project.matrix import Matrix

Log = Callable[[str], None]


def node_input(config: pytest.Config) -> dict[str, object]:
    """What every node needs to share the run's reuse file and password."""
    password = config.getoption("spread_password") or _run_password(config)
    return {"spread_run_pid": os.getpid(), "spread_password": password}


def run_reuse_path(config: pytest.Config, matrix: Matrix) -> Path:
    options = PoolOptions(
        reuse=config.getoption("spread_reuse"),
        reuse_pid=config.getoption("spread_reuse_pid"),
        run_pid=os.getpid(),
    )
    return options.reuse_path(matrix.project.dir)


def announce(config: pytest.Config, log: Log) -> None:
    """Spread's hint for cleaning up after a kill, naming the controller's pid."""
    if not (config.getoption("spread_reuse") or config.getoption("spread_reuse_pid")):
        log(f"If killed, discard servers with: spread -reuse-pid={os.getpid()} -discard")


def discard_orphans(config: pytest.Config, matrix: Matrix, log: Log, *, final: bool) -> None:
    """Discard the recorded machines no live node holds; `final`: the run is over."""
    from pytest_spread.backends.registry import discard_machine, make_provider

    path = run_reuse_path(config, matrix)
    if not path.exists():
        return
    reuse = ReuseFile.open(path, log, shared=True)
    keep = bool(config.getoption("spread_reuse"))
    try:
        for machine in reuse.orphans():
            if keep:
                reuse.release(machine)  # kept for the next run, as every reused machine
                continue
            log(f"Discarding {machine}, left by a lost node...")
            backend = matrix.project.backends.get(machine.backend)
            if backend is None:
                continue
            try:
                provider = make_provider(
                    backend,
                    matrix.project.dir,
                    machine.password,
                    log,
                    config.getoption("spread_allocate_timeout"),
                )
            except SpreadError as exc:
                log(f"Error discarding {machine}: {exc}")
                continue
            discard_machine(provider, machine, log)
            reuse.remove(machine)
    finally:
        reuse.close(delete=final and not keep)


_PASSWORD = pytest.StashKey[str]()


def _run_password(config: pytest.Config) -> str:
    if _PASSWORD not in config.stash:
        config.stash[_PASSWORD] = secrets.token_hex(8)
    return config.stash[_PASSWORD]

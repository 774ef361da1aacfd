"""Durations kept between runs, and the two-stage Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from pytest_spread.interrupts import Interrupts, discarding
from pytest_spread.run import durations


def test_durations_are_merged_into_pytests_cache_layout(tmp_path):
    path = durations.cache_file(tmp_path)
    assert path == tmp_path / ".pytest_cache" / "v" / "spread" / "durations"
    jobs = {"a", "b", "c"}
    durations.save(path, durations.spans({"a": (1.0, 3.5), "b": (2.0, 2.25)}), jobs)
    durations.save(path, {"b": 4.0}, jobs)
    assert durations.load(path) == {"a": 2.5, "b": 4.0}
    durations.save(path, {"c": 1.0}, {"b", "c"})  # a is gone from the project
    assert durations.load(path) == {"b": 4.0, "c": 1.0}
    assert (tmp_path / ".pytest_cache" / ".gitignore").read_text().endswith("*\n")


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"a": "slow", "b": -1}'])
def test_unusable_durations_are_ignored(tmp_path, text):
    path = tmp_path / "durations"
    path.write_text(text)
    assert durations.load(path) == {}


def test_first_sigint_asks_to_finish_the_second_to_hurry():
    calls: list[str] = []
    with Interrupts(lambda: calls.append("first"), lambda: calls.append("second")) as interrupts:
        assert not interrupts.requested
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupts.requested and not interrupts.hurried
        os.kill(os.getpid(), signal.SIGINT)
        assert interrupts.hurried
        os.kill(os.getpid(), signal.SIGINT)  # later ones change nothing
    assert calls == ["first", "second"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_while_discarding_sigint_only_hurries():
    interrupts = Interrupts()
    with discarding(hurry=interrupts.hurry):
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt
    assert interrupts.hurried


def test_an_interrupted_local_script_is_killed_with_its_children(tmp_path):
    from pytest_spread.transport.local import run_local
    from pytest_spread.transport.timeouts import limits

    pids = tmp_path / "pids"
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_local(
            f"sleep 30 & echo $$ $! > {pids}; wait",
            env=[],
            cwd=tmp_path,
            limits=limits([]),
            label="local script",
            warn=print,
        )
    for pid in map(int, pids.read_text().split()):
        assert _dies_soon(pid), f"process {pid} outlived the interrupted script"


def _dies_soon(pid: int, within: float = 5.0) -> bool:
    """True once `pid` is gone or a zombie: SIGKILL lands at once, the reaping may lag."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False

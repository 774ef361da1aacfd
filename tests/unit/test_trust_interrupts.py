"""Interrupts stop waits at once, and a second one waits for a machine to be recorded."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from pytest_spread.interrupts import STOPPING, Interrupts, shielded
from pytest_spread.transport.retry import retry


def test_a_wait_stops_as_soon_as_the_run_is_interrupted():
    def attempt() -> None:
        raise OSError("not yet")

    with Interrupts():
        threading.Timer(0.2, STOPPING.set).start()
        started = time.monotonic()
        with pytest.raises(OSError, match="not yet"):
            retry(attempt, errors=OSError, timeout=60, interval=5)
        assert time.monotonic() - started < 2
    assert not STOPPING.is_set()  # a new run starts afresh


def test_a_wait_that_belongs_to_a_running_job_goes_on():
    calls = []

    def attempt() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise OSError("rebooting")
        return "back"

    STOPPING.set()
    try:
        assert retry(attempt, errors=OSError, timeout=5, interval=0.01, stop=None) == "back"
    finally:
        STOPPING.clear()


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_sigterm_counts_as_ctrl_c_and_the_second_waits_for_the_shield(number):
    seen: list[str] = []

    def second() -> None:
        seen.append("second")
        raise KeyboardInterrupt

    with Interrupts(on_first=lambda: seen.append("first"), on_second=second) as interrupts:
        os.kill(os.getpid(), number)
        assert interrupts.requested and STOPPING.is_set()
        with pytest.raises(KeyboardInterrupt):
            with shielded():
                os.kill(os.getpid(), number)
                seen.append("recorded")  # the shield lets this finish first
        assert seen == ["first", "recorded", "second"]

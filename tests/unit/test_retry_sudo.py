"""The one retry helper and the one sudo rule (transport/retry.py, transport/sudo.py)."""

from __future__ import annotations

import time

import pytest

from pytest_spread.transport.retry import retry
from pytest_spread.transport.sudo import as_root, needs_sudo


class Flaky:
    """Fails `failures` times with `error`, then returns "ok"."""

    def __init__(self, failures: int, error: BaseException) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_retry_returns_once_an_attempt_works_and_reports_each_failure():
    attempt, seen = Flaky(3, OSError("refused")), list[OSError]()
    assert retry(attempt, errors=OSError, timeout=5, interval=0, on_error=seen.append) == "ok"
    assert attempt.calls == 4
    assert [str(error) for error in seen] == ["refused"] * 3


def test_retry_raises_the_last_error_at_the_deadline_without_overshooting():
    attempt = Flaky(10**6, OSError("still refused"))
    start = time.monotonic()
    with pytest.raises(OSError, match="still refused"):
        retry(attempt, errors=OSError, timeout=0.3, interval=0.25)
    assert attempt.calls in (2, 3)  # at 0 s, 0.25 s, and once at the deadline
    assert time.monotonic() - start < 1.0


def test_retry_gives_up_at_once_when_told():
    attempt = Flaky(5, ValueError("fatal"))
    with pytest.raises(ValueError, match="fatal"):
        retry(attempt, errors=ValueError, timeout=60, interval=10, give_up=lambda e: True)
    assert attempt.calls == 1


def test_retry_lets_other_errors_through():
    attempt = Flaky(1, KeyError("other"))
    with pytest.raises(KeyError):
        retry(attempt, errors=OSError, timeout=60, interval=0)
    assert attempt.calls == 1


@pytest.mark.parametrize(
    ("username", "sudo", "command"),
    [
        ("", False, "reboot"),
        ("root", False, "reboot"),
        ("ubuntu", True, "sudo -i reboot"),
    ],
)
def test_only_users_other_than_root_go_through_sudo(username, sudo, command):
    assert needs_sudo(username) is sudo
    assert as_root("reboot", needs_sudo(username)) == command

"""Interactive shells (-shell, -shell-before, -shell-after, -debug) on a real terminal (a PTY)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import termios
import time

import pytest

from .test_lifecycle import spread_yaml, write_tasks

PROMPT = b"/tests/a# "  # PS1: "adhoc:ubuntu-24.04 .../tests/a# "


class Terminal:
    """The spread command on a pseudo-terminal of 100x30, as a user's terminal would run it."""

    def __init__(
        self, cwd, *flags: str, command: tuple[str, ...] = ("-m", "pytest_spread")
    ) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        self.process = subprocess.Popen(
            [sys.executable, *command, *flags],
            cwd=cwd,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, "TERM": "xterm"},
        )
        os.close(slave)
        self.seen = b""
        self.mark = 0  # where the next wait_for starts looking

    def wait_for(self, text: bytes, timeout: float = 30) -> None:
        """Until `text` appears after what earlier waits found."""
        deadline = time.monotonic() + timeout
        while text not in self.seen[self.mark :]:
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never came; got:\n{self.seen.decode()}")
            if select.select([self.master], [], [], 0.2)[0]:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:  # the command ended
                    raise AssertionError(f"{text!r} never came:\n{self.seen.decode()}") from None
        self.mark = self.seen.index(text, self.mark) + len(text)

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def finish(self) -> str:
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(f"still running:\n{self.seen.decode()}") from None
        while select.select([self.master], [], [], 0.2)[0]:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                break
            if not data:
                break
            self.seen += data
        os.close(self.master)
        return self.seen.decode("utf-8", "replace").replace("\r\n", "\n")


@pytest.fixture
def project(pytester, machine):
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {"tests/a": "summary: t\nexecute: |\n    touch /root/executed\n    test -e /root/ok\n"},
    )
    return pytester.path


def test_shell_replaces_the_execute(project, machine):
    terminal = Terminal(project, "-shell", "-seed=1")
    terminal.wait_for(PROMPT)
    terminal.type('echo "$SPREAD_JOB $TERM $COLUMNS" > /root/from-shell; pwd >> /root/from-shell\n')
    terminal.type("exit\n")
    out = terminal.finish()
    assert terminal.process.returncode == 0, out
    assert "Starting shell instead of executing adhoc:ubuntu-24.04:tests/a..." in out
    assert "Continuing..." in out and "Successful tasks: 1" in out
    job, pwd = machine.path("/root/from-shell").read_text().splitlines()
    assert job == "adhoc:ubuntu-24.04:tests/a xterm 100"
    assert pwd == "/srv/spread-p/tests/a"
    assert not machine.path("/root/executed").exists()


def test_shell_before_and_after_surround_the_execute(project, machine):
    machine.path("/root/ok").write_text("")
    terminal = Terminal(project, "-shell-before", "-shell-after", "-seed=1")
    terminal.wait_for(PROMPT)
    terminal.type("test -e /root/executed || echo before > /root/order; exit\n")
    terminal.wait_for(b"Starting shell after executing adhoc:ubuntu-24.04:tests/a...")
    terminal.wait_for(PROMPT)
    terminal.type("test -e /root/executed && echo after >> /root/order; exit\n")
    out = terminal.finish()
    assert terminal.process.returncode == 0, out
    assert machine.path("/root/order").read_text().split() == ["before", "after"]


def test_debug_opens_a_shell_where_a_script_failed(project, machine):
    terminal = Terminal(project, "-debug", "-seed=1")
    terminal.wait_for(b"Starting shell to debug...")
    terminal.wait_for(PROMPT)
    terminal.type("ls /root > /root/looked; exit\n")
    out = terminal.finish()
    assert terminal.process.returncode == 1
    assert out.index("Error executing adhoc:ubuntu-24.04:tests/a") < out.index("Starting shell")
    assert "Failed tasks: 1" in out
    assert "executed" in machine.path("/root/looked").read_text().split()


def test_without_a_terminal_the_shell_is_skipped_with_an_error(project, pytester):
    result = pytester.run(sys.executable, "-m", "pytest_spread", "-shell", "-seed=1")
    result.stdout.fnmatch_lines(
        [
            "*Starting shell instead of executing adhoc:ubuntu-24.04:tests/a...",
            "*Error running debug shell: cannot get local terminal size: *",
            "*Continuing...",
        ]
    )
    assert result.ret == 0


PYTEST = ("-m", "pytest", "--spread", "-p", "no:cacheprovider")


def test_under_pytest_debug_opens_a_shell_at_the_failure(project, machine):
    terminal = Terminal(project, "-s", "-n0", "--spread-debug", command=PYTEST)
    terminal.wait_for(b"Error executing adhoc:ubuntu-24.04:tests/a")  # Spread's messages show
    terminal.wait_for(b"Starting shell to debug...")
    terminal.wait_for(PROMPT)
    terminal.type("ls /root > /root/looked; exit\n")
    out = terminal.finish()
    assert terminal.process.returncode == pytest.ExitCode.TESTS_FAILED, out
    assert "1 failed" in out
    assert "executed" in machine.path("/root/looked").read_text().split()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--spread-shell"], "*--spread-shell needs the terminal: add -s and -n0*"),
        (["-s", "-n", "2", "--spread-debug"], "*--spread-debug needs the terminal*"),
        (["-s", "--spread-debug", "--spread-abend"], "*cannot have more than one of*"),
    ],
)
def test_pytest_shells_need_the_terminal_and_exclude_each_other(pytester, options, message):
    result = pytester.runpytest("--spread", *options)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])

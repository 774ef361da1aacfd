"""Interactive shells on a machine: `-shell`, `-shell-before`, `-shell-after`, `-debug` (spec §4.9).

The local terminal is put in raw mode and joined to a remote PTY (its TERM
and size copied from here) until the remote shell exits; log messages wait
meanwhile, so that they do not run into what the user types.
"""

from __future__ import annotations

import os
import select
import signal
import termios
import threading
import time
import tty
from dataclasses import dataclass
from typing import Any

from pytest_spread.errors import SpreadError
from pytest_spread.log import held_messages
from pytest_spread.transport.ssh import Connection, RemoteError

EOF = b"\x04"  # Ctrl-D: what a terminal sends at the end of input
HANGUP_AFTER = 1.0
_ONE_AT_A_TIME = threading.Lock()  # one terminal: shells of parallel workers take turns


class ShellError(SpreadError):
    """The shell could not be run."""


@dataclass(frozen=True)
class ShellModes:
    """Which interactive shells a run opens (Spread's -debug, -shell, -shell-before/after)."""

    debug: bool = False
    shell: bool = False
    shell_before: bool = False
    shell_after: bool = False

    @property
    def any(self) -> bool:
        return self.debug or self.shell or self.shell_before or self.shell_after


def run_shell(connection: Connection, command: str, fd_in: int = 0, fd_out: int = 1) -> None:
    """Run `command` on a remote PTY joined to the local terminal until it exits."""
    try:
        columns, lines = os.get_terminal_size(fd_out)
    except OSError as exc:
        raise ShellError(f"cannot get local terminal size: {exc.strerror or exc}") from exc
    term = os.environ.get("TERM") or "vt100"
    with _ONE_AT_A_TIME, held_messages():
        try:
            channel = connection.open_pty_session(command, term, columns, lines)
        except RemoteError as exc:
            raise ShellError(str(exc)) from exc
        try:
            with _raw(fd_in), _resizing(channel, fd_out):
                _pump(channel, fd_in, fd_out)
        finally:
            channel.close()


def _pump(channel: Any, fd_in: int, fd_out: int) -> None:
    """Copy the terminal to the channel and back until the remote side ends.

    When the local input ends (EOF) nobody can type into the shell any more:
    it gets a Ctrl-D and is hung up (the session closes) if still there
    HANGUP_AFTER seconds later.
    """
    watched = [channel, fd_in]
    hangup_at: float | None = None
    while True:
        if hangup_at is not None and time.monotonic() >= hangup_at:
            return  # the caller closes the session: the remote shell gets SIGHUP
        readable, _, _ = select.select(watched, [], [], 0.5)
        if channel in readable:
            data = channel.recv(65536)
            if not data:
                return
            os.write(fd_out, data)
        if fd_in in readable:
            try:
                data = os.read(fd_in, 4096)
            except OSError:
                data = b""
            if data:
                channel.sendall(data)
            else:
                channel.sendall(EOF)
                watched = [channel]
                hangup_at = time.monotonic() + HANGUP_AFTER
        if channel.exit_status_ready() and not channel.recv_ready():
            return


class _raw:
    """The terminal in raw mode while the shell runs (restored whatever happens)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[Any] | None = None

    def __enter__(self) -> None:
        if os.isatty(self.fd):
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd)

    def __exit__(self, *exc_info: object) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


class _resizing:
    """Window size changes here follow to the remote PTY (main thread only)."""

    def __init__(self, channel: Any, fd: int) -> None:
        self.channel = channel
        self.fd = fd
        self.previous: Any = None

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGWINCH, self._resize)

    def __exit__(self, *exc_info: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGWINCH, self.previous)

    def _resize(self, signum: int, frame: object) -> None:
        try:
            columns, lines = os.get_terminal_size(self.fd)
            self.channel.resize_pty(width=columns, height=lines)
        except (OSError, EOFError):
            pass

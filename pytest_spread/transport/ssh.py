"""SSH to a machine: one connection per machine, a new session per command (spec §11).

Password authentication (keyboard-interactive as a fallback), host keys not
verified, TCP_NODELAY on the socket (without it each command waits ~40 ms for
delayed ACKs). paramiko stays inside this module; a Connection is not shared
between threads.
"""

from __future__ import annotations

import logging
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from pytest_spread.errors import SpreadError
from pytest_spread.transport import hostkeys


def _import_paramiko() -> Any:
    """paramiko, without the optional `invoke` it imports for `Match exec` in ssh_config.

    We never read an ssh_config; `invoke` would add ~40 ms to every start.
    """
    if "invoke" in sys.modules:
        import paramiko
    else:
        sys.modules["invoke"] = None  # type: ignore[assignment]  # makes `import invoke` fail
        try:
            import paramiko
        finally:
            del sys.modules["invoke"]
    return paramiko


paramiko = _import_paramiko()

logging.getLogger("paramiko").setLevel(logging.CRITICAL)

DEFAULT_PORT = 22
OPEN_TIMEOUT = 10.0  # a new session must be granted within this
EARLY_OPEN_TIMEOUT = 2.0  # a session started while a command runs holds up its output this long
KEEPALIVE = 15.0  # seconds between keepalive packets on an idle connection
IDLE_PROBE = 30.0  # a command silent this long: check the machine still answers
SEND_TIMEOUT = 60.0  # sending input (an upload) may not stall longer than this
CHUNK = 1 << 18
WINDOW = 1 << 26  # large windows: uploads are not held back by flow control


class RemoteError(SpreadError):
    """The connection failed or broke while running a command."""


class HostKeyError(RemoteError):
    """The machine's host key is not the one SPREAD_KNOWN_HOSTS lists (trying again is useless)."""


@dataclass
class Result:
    """What a command did: its exit status (-1 when unknown), output, and whether it was killed."""

    status: int
    output: bytes
    killed: bool = False

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace")


def split_address(address: str) -> tuple[str, int]:
    """`host[:port]` (IPv6 as `[::1]:22`) to (host, port); port 22 when absent."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else DEFAULT_PORT
    host, sep, port = address.rpartition(":")
    if not sep or ":" in host:
        return address, DEFAULT_PORT
    return host, int(port)


class Connection:
    """An authenticated SSH connection to one machine."""

    def __init__(self, transport: Any, address: str, username: str) -> None:
        self._transport = transport
        self.address = address
        self.username = username
        self._lost = ""  # why the connection is no longer usable
        self._spare: tuple[str, bool, Any] | None = None  # (command, combine, session) ahead

    @classmethod
    def open(
        cls, address: str, username: str, password: str, *, timeout: float = 10.0
    ) -> Connection:
        """Connect and authenticate; RemoteError with the reason on failure."""
        host, port = split_address(address)
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise RemoteError(f"cannot connect to {address}: {exc.strerror or exc}") from exc
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if hasattr(socket, "TCP_QUICKACK"):
            sock = _QuickAckSocket(sock.family, sock.type, sock.proto, fileno=sock.detach())
        transport = paramiko.Transport(sock, default_window_size=WINDOW)
        transport.packetizer.REKEY_BYTES = 1 << 40  # no rekeying pauses mid-upload
        transport.packetizer.REKEY_PACKETS = 1 << 40
        try:
            transport.start_client(timeout=timeout)
            refused = hostkeys.problem(transport.get_remote_server_key(), host, port)
            if refused:  # only with SPREAD_KNOWN_HOSTS: Spread checks no host key
                transport.close()
                raise HostKeyError(f"cannot connect to {address}: {refused}")
            _authenticate(transport, username, password)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            transport.close()
            raise RemoteError(f"cannot connect to {address}: {_reason(exc)}") from exc
        transport.set_keepalive(int(KEEPALIVE))
        return cls(transport, address, username)

    @property
    def alive(self) -> bool:
        return not self._lost and bool(self._transport.is_active())

    @property
    def transport(self) -> Any:
        """The authenticated paramiko transport, for clients that share it (Python tests)."""
        return self._transport

    def close(self) -> None:
        self._drop_spare()
        self._transport.close()

    def run(
        self,
        command: str,
        stdin: bytes | IO[bytes] = b"",
        *,
        combine: bool = True,
        kill_after: float | None = None,
        tick: float | None = None,
        on_tick: Callable[[bytes], None] | None = None,
        stdout: IO[bytes] | None = None,
        ahead: bool = False,
        early: bool = False,
        fresh: bool = False,
    ) -> Result:
        """Run `command` in a new session, feeding `stdin`, until it ends or is killed.

        `on_tick(output so far)` is called every `tick` seconds while it runs;
        after `kill_after` seconds the command is killed (Result.killed).
        With `stdout`, output is streamed there instead of kept. A machine
        that stops answering (gone without closing the connection) fails the
        command within OPEN_TIMEOUT, SEND_TIMEOUT or IDLE_PROBE + OPEN_TIMEOUT
        seconds, and every later command at once.

        With `ahead`, the session for the next run of the same command is
        started as soon as this one ends, while the caller prepares that run:
        the remote process start (~3 ms: sshd's fork, the shells) is then off
        the critical path. With `early` too, it starts as soon as this
        command has its input, while the command runs: the caller must make
        sure what that start reads (login files) cannot change meanwhile, or
        check it. Any other use of the connection closes that session
        first, unused; `fresh` never takes it.
        """
        if self._lost:
            raise RemoteError(self._lost)
        try:
            if fresh:
                self._drop_spare()
            channel = self._take_spare(command, combine) or self._start(command, combine)
            channel.settimeout(SEND_TIMEOUT)
            _feed(channel, stdin)
            if ahead and early:
                self._start_early_spare(command, combine)
            result = _collect(channel, kill_after, tick, on_tick, stdout, self._probe)
            if result.killed:  # a killed command may mean a machine gone
                self._drop_spare()
            elif ahead and not early:
                self._start_spare(command, combine)
            return result
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._lost = f"connection to {self.address} lost: {_reason(exc)}"
            self._transport.close()
            raise RemoteError(self._lost) from exc

    def _start(self, command: str, combine: bool, timeout: float = OPEN_TIMEOUT) -> Any:
        channel = self._transport.open_session(timeout=timeout)
        channel.set_combine_stderr(combine)
        _exec_without_reply(channel, command)
        return channel

    def _start_spare(self, command: str, combine: bool) -> None:
        """Start the next session ahead; if that fails, the command that ended stands."""
        try:
            self._spare = (command, combine, self._start(command, combine))
        except (paramiko.SSHException, OSError, EOFError) as exc:
            self._lost = f"connection to {self.address} lost: {_reason(exc)}"
            self._transport.close()  # the next command says why

    def _start_early_spare(self, command: str, combine: bool) -> None:
        """Start the next session while the current command runs; on failure, none.

        A failure here is not the running command's: whether the machine is
        still there is for that command's own collection to find out.
        """
        try:
            self._spare = (command, combine, self._start(command, combine, EARLY_OPEN_TIMEOUT))
        except (paramiko.SSHException, OSError, EOFError):
            self._spare = None

    def _take_spare(self, command: str, combine: bool) -> Any:
        """The session started ahead for this command, if it is still open; else None."""
        spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare[:2] == (command, combine) and not (spare[2].closed or spare[2].eof_received):
            return spare[2]
        _end_unused(spare[2])
        return None

    def _drop_spare(self) -> None:
        spare, self._spare = self._spare, None
        if spare is not None:
            _end_unused(spare[2])

    def _probe(self) -> None:
        """Check that the machine still answers: it must grant a new session in time."""
        self._transport.open_session(timeout=OPEN_TIMEOUT).close()

    def open_pty_session(self, command: str, term: str, columns: int, lines: int) -> Any:
        """A new session running `command` on a PTY (for interactive shells)."""
        self._drop_spare()
        try:
            channel = self._transport.open_session(timeout=OPEN_TIMEOUT)
            channel.get_pty(term=term, width=columns, height=lines)
            channel.exec_command(command)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise RemoteError(f"connection to {self.address} lost: {_reason(exc)}") from exc
        return channel


class _QuickAckSocket(socket.socket):
    """A socket that acknowledges what it receives at once (no delayed ACKs).

    sshd leaves Nagle's algorithm on until a connection's first session starts,
    so it holds the reply to the first channel open until its previous packet
    is acknowledged: with delayed ACKs, ~40 ms more for every new connection.
    """

    def recv(self, size: int, flags: int = 0) -> bytes:
        self.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return super().recv(size, flags)


def _end_unused(channel: Any) -> None:
    """End a session started ahead and never used: its shell reads no input and exits."""
    try:
        channel.shutdown_write()
        channel.close()
    except (paramiko.SSHException, OSError, EOFError):
        pass  # the connection is going anyway


def _authenticate(transport: Any, username: str, password: str) -> None:
    try:
        transport.auth_password(username, password)
    except paramiko.BadAuthenticationType as exc:
        if "keyboard-interactive" not in exc.allowed_types:
            raise
        transport.auth_interactive(username, lambda _t, _i, prompts: [password] * len(prompts))


def _feed(channel: Any, stdin: bytes | IO[bytes]) -> None:
    if isinstance(stdin, bytes):
        if stdin:
            channel.sendall(stdin)
    else:
        while chunk := stdin.read(CHUNK):
            channel.sendall(chunk)
    channel.shutdown_write()


def _collect(
    channel: Any,
    kill_after: float | None,
    tick: float | None,
    on_tick: Callable[[bytes], None] | None,
    stdout: IO[bytes] | None,
    probe: Callable[[], None],
) -> Result:
    start = time.monotonic()
    kill_at = start + kill_after if kill_after is not None else None
    next_tick = start + tick if tick else None
    next_probe = start + IDLE_PROBE
    chunks: list[bytes] = []
    while True:
        now = time.monotonic()
        deadlines = [d for d in (kill_at, next_tick, next_probe) if d is not None]
        channel.settimeout(max(min(deadlines) - now, 0.001))
        try:
            data = channel.recv(CHUNK)
        except TimeoutError:
            data = None
        if data:
            (stdout.write(data) if stdout is not None else chunks.append(data))
            next_probe = time.monotonic() + IDLE_PROBE
            continue
        if data == b"":
            break  # end of output
        now = time.monotonic()
        if now >= next_probe:
            probe()
            next_probe = time.monotonic() + IDLE_PROBE
        if kill_at is not None and now >= kill_at:
            _kill(channel)
            return Result(-1, b"".join(chunks), killed=True)
        if next_tick is not None and tick and now >= next_tick:
            next_tick = now + tick
            if on_tick is not None:
                on_tick(b"".join(chunks))
    channel.settimeout(None)
    status = channel.recv_exit_status()
    channel.close()
    return Result(status, b"".join(chunks))


def _exec_without_reply(channel: Any, command: str) -> None:
    """Start `command` without waiting a round trip for the server's consent.

    A refused exec closes the channel without an exit status, which `_collect`
    reports like a lost connection.
    """
    _channel_request(channel, "exec", command)


def _channel_request(channel: Any, kind: str, argument: str) -> None:
    message = paramiko.Message()
    message.add_byte(paramiko.common.cMSG_CHANNEL_REQUEST)
    message.add_int(channel.remote_chanid)
    message.add_string(kind)
    message.add_boolean(False)
    message.add_string(argument)
    channel.transport._send_user_message(message)


def _kill(channel: Any) -> None:
    """Ask the server to SIGKILL the session's process, then close the session."""
    try:
        _channel_request(channel, "signal", "KILL")
    finally:
        channel.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, paramiko.AuthenticationException):
        return "ssh: unable to authenticate (wrong username or password?)"
    if isinstance(exc, EOFError):
        return "connection closed by the remote side"
    text = str(exc)
    return text or type(exc).__name__

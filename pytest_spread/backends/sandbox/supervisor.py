"""The process that owns one machine: its SSH port, its boots and its clean-up.

It binds 127.0.0.1 port 0 itself and hands every connection it accepts to the
machine's pid 1, which starts `sshd -i` on it inside the machine; so the port
cannot belong to anyone else and the machine needs no network but `lo`. When
the machine's pid 1 ends (a `reboot`), it boots the machine again on the same
layer. It answers `status`, `root` (an fd of the machine's root directory) and
`stop` on a unix socket in the machine's directory, for root only.

Started by `launch` in machine.py, which sends the machine's spec as one JSON
line on stdin and reads one JSON line back ({"address": ...} or {"error": ...}).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import boot, kernel, state

BOOT_TIMEOUT = 20.0
SLIRP_DNS = "10.0.2.3"
NAMESPACES = (
    kernel.CLONE_NEWNS
    | kernel.CLONE_NEWPID
    | kernel.CLONE_NEWUTS
    | kernel.CLONE_NEWIPC
    | kernel.CLONE_NEWCGROUP
)
SSHD_CONFIG = f"""\
HostKey {boot.PRIVATE}/host_key
PermitRootLogin yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PidFile none
MaxSessions 200
StrictModes no
Subsystem sftp internal-sftp
"""


class BootError(Exception):
    """The machine did not come up; the message says why."""


class Supervisor:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.workdir = Path(spec["workdir"])
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port: int = self.listener.getsockname()[1]
        dir_fd = os.open(self.workdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            os.unlink("control", dir_fd=dir_fd)
        self.control.bind(f"/proc/self/fd/{dir_fd}/control")
        os.close(dir_fd)
        self.control.listen(16)
        self.boots = 0
        self.init_pid = 0
        self.pidfd = -1
        self.channel: socket.socket | None = None
        self.slirp: subprocess.Popen[bytes] | None = None
        self.slirp_exit = -1
        self.stopping = False
        self.selector = selectors.DefaultSelector()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def boot(self) -> None:
        """Start the machine's pid 1 in new namespaces and wait until it serves."""
        setup = None
        if self.boots == 0:
            setup = f"{self.spec['password']}\n{self.spec['user_password']}\n".encode()
        spec = boot.BootSpec(
            workdir=str(self.workdir),
            hostname=os.uname().nodename,
            sshd_config=SSHD_CONFIG,
            host_key=Path(self.spec["host_key"]).read_bytes(),
            nameserver=SLIRP_DNS if self.spec["network"] else None,
            user=self.spec["user"],
            setup=setup,
        )
        flags = NAMESPACES | kernel.CLONE_NEWNET
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid_read, pid_write = os.pipe()
        ready_read, ready_write = os.pipe()
        middle = os.fork()
        if middle == 0:  # pragma: no cover - runs in the child
            try:
                ours.close()
                os.close(pid_read)
                os.close(ready_read)
                kernel.unshare(flags)
                init = os.fork()
                if init == 0:
                    try:
                        os.close(pid_write)
                        boot.run_init(spec, theirs, ready_write)
                    finally:
                        os._exit(1)  # never back into the supervisor's code
                os.write(pid_write, struct.pack("i", init))
                os._exit(0)
            except BaseException as exc:
                os.write(pid_write, struct.pack("i", -1) + str(exc).encode())
                os._exit(1)
        theirs.close()
        os.close(pid_write)
        os.close(ready_write)
        os.waitpid(middle, 0)
        # Its parent is gone: the machine's pid 1 is now this process's child
        # (a subreaper), so its pid stays its own until this process reaps it.
        answer = os.read(pid_read, 4096)
        os.close(pid_read)
        init = struct.unpack("i", answer[:4])[0] if len(answer) >= 4 else -1
        if init <= 0:
            os.close(ready_read)
            ours.close()
            raise BootError(answer[4:].decode(errors="replace") or "cannot create namespaces")
        self.init_pid = init
        self.pidfd = os.pidfd_open(init)
        self.boots += 1
        report = _read_until_closed(ready_read, BOOT_TIMEOUT)
        if report != b"ok":
            if not report:
                _, status = os.waitpid(self.init_pid, os.WNOHANG)
                report = f"the machine's init died (wait status {status})".encode()
            self._kill_init()
            ours.close()
            raise BootError(report.decode(errors="replace"))
        self.channel = ours
        if self.spec["network"]:
            try:
                self._start_network()
            except BootError:
                self._kill_init()
                ours.close()
                self.channel = None
                raise
        self.selector.register(self.pidfd, selectors.EVENT_READ, self._machine_down)
        self.selector.register(self.listener, selectors.EVENT_READ, self._connection)

    def _start_network(self) -> None:
        """Outbound network through slirp4netns: NAT in user space, nothing set up on the host.

        The machine gets tap0 (10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3); this
        computer's loopback stays out of its reach (--disable-host-loopback).
        """
        program = shutil.which("slirp4netns")
        if program is None:
            raise BootError(
                "a machine with network needs slirp4netns (apt-get install slirp4netns)"
            )
        ready_read, ready_write = os.pipe()
        exit_read, self.slirp_exit = os.pipe()
        os.set_inheritable(self.slirp_exit, False)
        self.slirp = subprocess.Popen(
            [
                program,
                "--configure",
                "--mtu=65520",
                "--disable-host-loopback",
                "--enable-seccomp",
                f"--ready-fd={ready_write}",
                f"--exit-fd={exit_read}",
                str(self.init_pid),  # pinned: our unreaped child
                "tap0",
            ],
            pass_fds=(ready_write, exit_read),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        os.close(ready_write)
        os.close(exit_read)
        if _read_until_closed(ready_read, BOOT_TIMEOUT, first=True)[:1] != b"1":
            self._stop_network()
            raise BootError("slirp4netns did not set up the machine's network")

    def _stop_network(self) -> None:
        if self.slirp is None:
            return
        os.close(self.slirp_exit)
        try:
            self.slirp.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.slirp.kill()  # our child: its pid is its own until we reap it
            self.slirp.wait()
        self.slirp = None

    def _kill_init(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.init_pid, 0)
        os.close(self.pidfd)
        self.pidfd = -1
        self.init_pid = 0

    def _connection(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            if self.channel is not None:
                with contextlib.suppress(OSError):
                    socket.send_fds(self.channel, [b"c"], [connection.fileno()])

    def _machine_down(self) -> None:
        """Pid 1 ended: a reboot, unless we are stopping."""
        self.selector.unregister(self.pidfd)
        self.selector.unregister(self.listener)
        os.waitpid(self.init_pid, 0)
        os.close(self.pidfd)
        self.pidfd, self.init_pid = -1, 0
        self._stop_network()
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if not self.stopping:
            time.sleep(0.02)
            try:
                self.boot()
            except (OSError, BootError) as exc:
                print(f"spread-sandbox: cannot boot {self.address} again: {exc}", file=sys.stderr)
                self.stop()

    def _control(self) -> None:
        connection, _ = self.control.accept()
        with connection:
            connection.settimeout(5)
            credentials = connection.getsockopt(
                socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
            )
            if struct.unpack("3i", credentials)[1] != os.geteuid():
                return
            try:
                command = connection.recv(64).strip()
            except OSError:
                return
            if command == b"status":
                status = {"address": self.address, "boots": self.boots, "pid": self.init_pid}
                connection.sendall(json.dumps(status).encode())
            elif command == b"root":
                self._send_root(connection)
            elif command == b"stop":
                self.stop()
                connection.sendall(b"stopped")

    def _send_root(self, connection: socket.socket) -> None:
        if not self.init_pid:
            connection.sendall(b"down")
            return
        # The pid is pinned (an unreaped child of ours): /proc/PID is the machine's pid 1.
        try:
            fd = os.open(f"/proc/{self.init_pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            connection.sendall(b"down")
            return
        try:
            socket.send_fds(connection, [b"ok"], [fd])
        finally:
            os.close(fd)

    def stop(self, remove: bool = True) -> None:
        """Kill the machine, remove its directory and record; the loop then ends."""
        if self.stopping:
            return
        self.stopping = True
        if self.pidfd >= 0:
            self.selector.unregister(self.pidfd)
            self.selector.unregister(self.listener)
            self._kill_init()
        self._stop_network()
        self.listener.close()
        self.control.close()
        state_dir = self.spec.get("state_dir")
        if state_dir:
            with contextlib.suppress(OSError, state.UnsafeStateError):
                dir_fd = state.open_state_dir(Path(state_dir), create=False)
                state.remove_record(dir_fd, self.port)
                os.close(dir_fd)
        if remove:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def record(self) -> None:
        """Leave a record for `stop`, `list` and `stop --all` (command-line machines)."""
        dir_fd = state.open_state_dir(Path(self.spec["state_dir"]), create=False)
        try:
            pid = os.getpid()
            record = {
                "address": self.address,
                "pid": pid,
                "start": state.start_time(pid),
                "workdir": str(self.workdir),
            }
            state.write_record(dir_fd, self.port, record)
        finally:
            os.close(dir_fd)

    def run(self, lifeline: int | None) -> None:
        """Serve until stopped (or until `lifeline`, the caller's pipe, closes)."""
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_write)
        for signum in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda _signum, _frame: None)
        self.selector.register(wake_read, selectors.EVENT_READ, self.stop)
        self.selector.register(self.control, selectors.EVENT_READ, self._control)
        if lifeline is not None:
            self.selector.register(lifeline, selectors.EVENT_READ, self.stop)
        while not self.stopping:
            for key, _ in self.selector.select():
                key.data()
                if self.stopping:
                    break


def _read_until_closed(fd: int, timeout: float, first: bool = False) -> bytes:
    """What `fd` gives until it closes (or, with `first`, its first data), then close it."""
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                break
            chunk = os.read(fd, 4096)
            data += chunk
            if not chunk or first:
                break
    os.close(fd)
    return data


def main() -> None:
    """Entry point of the supervisor process (see machine.launch)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the test run, not its machines
    spec = json.loads(sys.stdin.readline())
    kernel.prctl(kernel.PR_SET_CHILD_SUBREAPER, 1)
    try:
        supervisor = Supervisor(spec)
        try:
            supervisor.boot()
            if spec.get("state_dir"):
                supervisor.record()
        except BaseException:
            supervisor.stop(remove=False)  # the caller shows the log, then removes it
            raise
    except (OSError, BootError, state.UnsafeStateError) as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        sys.exit(1)
    print(json.dumps({"address": supervisor.address}), flush=True)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 1)
    os.close(null)
    lifeline = None if spec.get("detached") else sys.stdin.fileno()
    supervisor.run(lifeline)

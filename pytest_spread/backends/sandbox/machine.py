"""Start a machine (its supervisor process) and talk to it: address, boots, files, stop."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import state
from .files import MachinePath

# The package's parent directory: the supervisor imports only the sandbox's own
# modules (stdlib only), without the package's __init__, to start fast.
SOURCE = str(Path(__file__).resolve().parents[3])
BOOTSTRAP = (
    "import sys, types; package = types.ModuleType('pytest_spread'); "
    "package.__path__ = [sys.argv[1] + '/pytest_spread']; sys.modules['pytest_spread'] = package; "
    "from pytest_spread.backends.sandbox.supervisor import main; main()"
)


# Supervisors that outlive this process: kept, so Python does not warn they still run.
_DETACHED: list[subprocess.Popen[bytes]] = []


def host_key(cache: Path) -> Path:
    """One ed25519 host key for every machine that shares `cache`."""
    key = cache / "host_key"
    if not key.exists():
        cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        new = cache / f"host_key.{os.getpid()}"  # then renamed: starts may race
        with contextlib.suppress(FileNotFoundError):
            new.unlink()
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(new)],
            check=True,
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        new.with_suffix(new.suffix + ".pub").unlink()
        new.replace(key)
    return key


@dataclass
class Machine:
    """A running machine: SSH at `address` as root with `password`."""

    workdir: Path
    port: int
    password: str
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _lifeline: IO[bytes] | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _request(self, command: str, timeout: float = 30.0) -> tuple[bytes, list[int]]:
        directory = os.open(self.workdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(f"/proc/self/fd/{directory}/control")
                sock.sendall(command.encode() + b"\n")
                message, fds, _, _ = socket.recv_fds(sock, 65536, 1)
                return message, fds
        finally:
            os.close(directory)

    def status(self) -> dict[str, Any]:
        status: dict[str, Any] = json.loads(self._request("status")[0])
        return status

    @property
    def boots(self) -> int:
        """How many times the machine booted (1 + its reboots)."""
        return int(self.status()["boots"])

    @property
    def pid(self) -> int:
        """The host pid of the machine's pid 1 (0 while it reboots)."""
        return int(self.status()["pid"])

    def _open_root(self) -> int:
        for _ in range(200):
            message, fds = self._request("root")
            if message == b"ok" and fds:
                return fds[0]
            for fd in fds:
                os.close(fd)
            time.sleep(0.05)
        raise OSError(f"machine {self.address} did not come back from its reboot")

    def path(self, inside: str) -> MachinePath:
        """A file of the machine, resolved inside it (see files.MachinePath)."""
        return MachinePath(self._open_root, inside, self.address)

    def stop(self) -> None:
        """Discard the machine: its processes, its layer and its directory."""
        if self._process is None:
            with contextlib.suppress(OSError):
                self._request("stop")
            return
        if self._process.poll() is None:
            with contextlib.suppress(OSError):
                self._request("stop")
        if self._lifeline is not None:
            with contextlib.suppress(OSError):
                self._lifeline.close()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()  # our own child: its pid is still its own
            self._process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def launch(
    workdir: Path,
    host_key_file: Path,
    *,
    password: str,
    user: str = "",
    user_password: str = "",
    network: bool = False,
    state_dir: Path | None = None,
) -> Machine:
    """Start a supervisor for a machine in `workdir`; a detached one when `state_dir` is given.

    A machine with a `state_dir` lives on after this process (the command line's
    machines); any other ends when this process does.
    """
    for secret in (password, user_password):
        if "\n" in secret:
            raise ValueError("a password cannot hold a newline")
    for name in ("upper", "work", "root"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o700)  # the machine's layer holds its files: its setuid ones too
    if any(char in str(workdir) for char in ",:\n"):
        raise ValueError(f"cannot use {workdir} for a machine: no ',' or ':' allowed")
    spec = {
        "workdir": str(workdir),
        "password": password,
        "user": user,
        "user_password": user_password,
        "network": network,
        "host_key": str(host_key_file),
        "detached": state_dir is not None,
        "state_dir": str(state_dir) if state_dir else None,
    }
    log_path = workdir / "supervisor.log"
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    log = os.open(log_path, flags, 0o600)
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", BOOTSTRAP, SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
            start_new_session=True,
        )
    finally:
        os.close(log)
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(spec).encode() + b"\n")
    process.stdin.flush()
    if state_dir is not None:
        process.stdin.close()
    line = process.stdout.readline()
    process.stdout.close()
    answer = json.loads(line) if line.startswith(b"{") else {}
    if "address" not in answer:
        if not process.stdin.closed:
            process.stdin.close()
        process.wait()
        output = ""
        with contextlib.suppress(OSError):
            output = log_path.read_text(errors="replace").strip()
        reason = answer.get("error") or f"the supervisor exited with status {process.returncode}"
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError(f"machine did not start: {reason}" + (f"\n{output}" if output else ""))
    port = int(answer["address"].rpartition(":")[2])
    if state_dir is not None:
        _DETACHED.append(process)
        return Machine(workdir, port, password)
    return Machine(workdir, port, password, process, process.stdin)


def start_machine(
    workdir: Path,
    cache: Path,
    *,
    password: str,
    user: str = "",
    user_password: str = "",
    network: bool = False,
) -> Machine:
    """Start a machine for this process: it is stopped with `stop()` or when this process ends."""
    return launch(
        workdir,
        host_key(cache),
        password=password,
        user=user,
        user_password=user_password,
        network=network,
    )


def attach(address: str, state_dir: Path | None = None) -> Machine:
    """A machine the command line started, by its address (KeyError if there is none)."""
    port = address.rpartition(":")[2]
    dir_fd = state.open_state_dir(state_dir or state.state_dir(), create=False)
    try:
        record = state.read_record(dir_fd, f"{int(port)}.json")
    except (FileNotFoundError, ValueError):
        raise KeyError(address) from None
    finally:
        os.close(dir_fd)
    return Machine(Path(record["workdir"]), int(port), "")

"""Disposable local machines: try Spread projects on a bare Linux box, and test with them.

A machine is this computer's own root filesystem seen through an overlay (its
writes go to a private layer), in a private mount and PID namespace, with its
own root password, an empty /root/.bashrc and an sshd on a loopback port.
`reboot` inside it ends the namespace; a supervisor boots it again on the same
layer with a new boot id, as a real reboot would look to Spread. Needs root,
unshare (util-linux) and sshd (openssh-server).

    python -m pytest_spread.backends.sandbox start PASSWORD    # prints the address
    python -m pytest_spread.backends.sandbox stop ADDRESS
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
BOOT_SCRIPT = textwrap.dedent("""\
    set -eu
    W=$1
    R=$W/root
    mount -t overlay overlay -o lowerdir=/,upperdir=$W/upper,workdir=$W/work $R
    mount -t proc proc $R/proc
    cat /proc/sys/kernel/random/uuid > $W/boot_id
    mount --bind $W/boot_id $R/proc/sys/kernel/random/boot_id
    mount --rbind $R/proc/sys $R/proc/sys
    mount -o remount,bind,ro $R/proc/sys
    mount -t tmpfs -o mode=755 tmpfs $R/dev
    for node in null zero full random urandom tty; do
        touch $R/dev/$node
        mount --bind /dev/$node $R/dev/$node
    done
    mkdir $R/dev/pts $R/dev/shm
    mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
    ln -s pts/ptmx $R/dev/ptmx
    mount -t tmpfs tmpfs $R/dev/shm
    mount -t tmpfs tmpfs $R/tmp
    mount -t tmpfs tmpfs $R/run
    mkdir -p $R/run/sshd
    install -m 644 $W/sshd_config $R/etc/ssh/spread_sandbox_config
    install -m 600 $W/host_key $R/etc/ssh/spread_sandbox_key
    exec chroot $R /usr/sbin/sshd -D -e -f /etc/ssh/spread_sandbox_config
""")
# Runs chrooted in the machine, so every path (and every symlink, such as
# /usr/sbin/reboot -> /bin/systemctl) resolves inside it, never on this computer.
# Passwords are hashed with SHA-512 at 1000 rounds rather than yescrypt: these
# are throwaway machines, and it halves the cost of each SSH login (45 -> 19 ms).
SETUP_SCRIPT = textwrap.dedent("""\
    set -eu
    : > /root/.bashrc
    rm -f /usr/sbin/reboot
    printf '#!/bin/sh\\nkill -TERM 1\\n' > /usr/sbin/reboot
    chmod 755 /usr/sbin/reboot
    echo "root:$ROOT_PASSWORD" | chpasswd -c SHA512 -s 1000
    if [ -n "$USER_NAME" ]; then
        useradd -m -s /bin/bash "$USER_NAME"
        echo "$USER_NAME:$USER_PASSWORD" | chpasswd -c SHA512 -s 1000
        echo "$USER_NAME ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/spread-sandbox
        : > "/home/$USER_NAME/.bashrc"
    fi
""")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def host_key(cache: Path) -> Path:
    """One ed25519 host key for every machine of the session."""
    key = cache / "host_key"
    if not key.exists():
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


@dataclass
class Machine:
    """A running machine: SSH at `address` as root with `password`."""

    workdir: Path
    port: int
    password: str
    boots: int = 0
    _process: subprocess.Popen[bytes] | None = None
    _stopping: bool = False
    _ready: threading.Event = field(default_factory=threading.Event)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def group(self) -> int:
        """The process group of the machine (kill it to stop the machine)."""
        assert self._process is not None
        return self._process.pid

    @property
    def pid(self) -> int:
        """The host pid of the machine's init (its sshd)."""
        assert self._process is not None
        children = Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children")
        return int(children.read_text().split()[0])

    def path(self, inside: str) -> Path:
        """Where a file of the machine is visible from this computer.

        Symlinks are resolved inside the machine: an absolute link must not
        lead to this computer's own files.
        """
        root = Path(f"/proc/{self.pid}/root")
        resolved: list[str] = []
        pending = [part for part in inside.split("/") if part]
        for _ in range(64):
            if not pending:
                return root.joinpath(*resolved)
            part = pending.pop(0)
            if part == "..":
                resolved = resolved[:-1]
                continue
            candidate = root.joinpath(*resolved, part)
            if candidate.is_symlink():
                target = os.readlink(candidate)
                if target.startswith("/"):
                    resolved = []
                pending = [p for p in target.split("/") if p and p != "."] + pending
            else:
                resolved.append(part)
        raise OSError(f"too many symlinks in {inside} on the machine")

    def boot(self) -> None:
        with open(self.workdir / "sshd.log", "ab") as log:
            self._process = subprocess.Popen(
                [
                    "unshare",
                    "--mount",
                    "--pid",
                    "--fork",
                    "--propagation",
                    "private",
                    "bash",
                    "-c",
                    BOOT_SCRIPT,
                    "boot",
                    str(self.workdir),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.boots += 1
        wait_for_ssh(self.port, self._process, self.workdir / "sshd.log")

    def supervise(self) -> None:
        """Boot again whenever the machine goes down by itself (a reboot)."""

        def loop() -> None:
            while not self._stopping and self._process is not None:
                self._process.wait()
                if self._stopping:
                    return
                time.sleep(0.05)
                self.boot()

        threading.Thread(target=loop, daemon=True).start()

    def stop(self) -> None:
        self._stopping = True
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def wait_for_ssh(
    port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 10.0
) -> None:
    """Until the sshd answers with its banner; RuntimeError with its log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"machine on port {port} did not start:\n{log.read_text()}")


def start_machine(
    workdir: Path, cache: Path, *, password: str, user: str = "", user_password: str = ""
) -> Machine:
    """Create the machine's layer, set its credentials, boot it and keep it up."""
    for name in ("upper", "work", "root"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    port = free_port()
    shutil.copy(host_key(cache), workdir / "host_key")
    (workdir / "sshd_config").write_text(
        textwrap.dedent(f"""\
        Port {port}
        ListenAddress 127.0.0.1
        HostKey /etc/ssh/spread_sandbox_key
        PermitRootLogin yes
        PasswordAuthentication yes
        KbdInteractiveAuthentication no
        UsePAM no
        UseDNS no
        PidFile none
        MaxSessions 200
        MaxStartups 200
        StrictModes no
        """)
    )
    _configure(workdir, password, user, user_password)
    machine = Machine(workdir, port, password)
    machine.boot()
    machine.supervise()
    return machine


def _configure(workdir: Path, password: str, user: str, user_password: str) -> None:
    """Set passwords and files in the machine's layer, chrooted in a throwaway namespace."""
    script = (
        "set -eu\n"
        f"mount -t overlay overlay -o lowerdir=/,upperdir={workdir}/upper,"
        f"workdir={workdir}/work {workdir}/root\n"
        f'exec chroot {workdir}/root /bin/bash -c "$SETUP"\n'
    )
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "SETUP": SETUP_SCRIPT,
        "ROOT_PASSWORD": password,
        "USER_NAME": user,
        "USER_PASSWORD": user_password,
    }
    subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
        check=True,
        capture_output=True,
        env=env,
    )


STATE_DIR = Path(os.environ.get("SPREAD_SANDBOX_DIR", "/tmp/spread-sandbox"))


def main(argv: list[str]) -> int:
    """`start PASSWORD` prints a new machine's address; `stop ADDRESS` discards it."""
    if len(argv) == 2 and argv[0] == "start":
        return _start(argv[1])
    if len(argv) == 2 and argv[0] == "stop":
        _stop(argv[1])
        return 0
    print(
        "usage: python -m pytest_spread.backends.sandbox start PASSWORD | stop ADDRESS",
        file=sys.stderr,
    )
    return 2


def _start(password: str) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="machine-", dir=_state_dir()))
    try:
        machine = start_machine(workdir, STATE_DIR / "keys", password=password)
    except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"cannot start a local machine: {exc}", file=sys.stderr)
        return 1
    (STATE_DIR / f"{machine.port}.pid").write_text(f"{machine.group}\n{workdir}\n")
    print(machine.address)
    return 0


def _stop(address: str) -> None:
    record = STATE_DIR / f"{address.rpartition(':')[2]}.pid"
    if not record.exists():
        return
    group, workdir = record.read_text().split()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(int(group), signal.SIGKILL)
    shutil.rmtree(workdir, ignore_errors=True)
    record.unlink()


def _state_dir() -> Path:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    return STATE_DIR


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

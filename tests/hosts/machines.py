"""Real, disposable SSH machines for the integration tests.

A machine is this computer's own root filesystem seen through an overlay (its
writes go to a private layer), in a private mount and PID namespace, with its
own root password, an empty /root/.bashrc and an sshd on a loopback port.
`reboot` inside it ends the namespace; a supervisor boots it again on the same
layer with a new boot id, as a real reboot would look to Spread.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
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
    mount --rbind /dev $R/dev
    mount -t tmpfs tmpfs $R/tmp
    mount -t tmpfs tmpfs $R/run
    mkdir -p $R/run/sshd $R/etc/ssh
    cat /proc/sys/kernel/random/uuid > $W/boot_id
    mount --bind $W/boot_id $R/proc/sys/kernel/random/boot_id
    cp $W/sshd_config $W/host_key $R/etc/ssh/
    chmod 600 $R/etc/ssh/host_key
    exec chroot $R /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
""")
SETUP_SCRIPT = textwrap.dedent("""\
    set -eu
    R=$1
    : > $R/root/.bashrc
    printf '#!/bin/sh\\nkill -TERM 1\\n' > $R/usr/sbin/reboot
    chmod 755 $R/usr/sbin/reboot
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
    def pid(self) -> int:
        """The host pid of the machine's init (its sshd)."""
        assert self._process is not None
        children = Path(f"/proc/{self._process.pid}/task/{self._process.pid}/children")
        return int(children.read_text().split()[0])

    def path(self, inside: str) -> Path:
        """Where a file of the machine is visible from this computer."""
        return Path(f"/proc/{self.pid}/root") / inside.lstrip("/")

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
        HostKey /etc/ssh/host_key
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
    """Set passwords and files in the machine's layer, in a throwaway namespace."""
    commands = [f"echo 'root:{password}' | chroot $R chpasswd"]
    if user:
        commands += [
            f"chroot $R useradd -m -s /bin/bash {user}",
            f"echo '{user}:{user_password}' | chroot $R chpasswd",
            f"echo '{user} ALL=(ALL) NOPASSWD:ALL' > $R/etc/sudoers.d/spread-test",
            f": > $R/home/{user}/.bashrc",
        ]
    script = (
        f"set -eu\nW={workdir}\nR=$W/root\n"
        "mount -t overlay overlay -o lowerdir=/,upperdir=$W/upper,workdir=$W/work $R\n"
        + SETUP_SCRIPT.replace("set -eu\nR=$1\n", "")
        + "\n".join(commands)
        + "\n"
    )
    subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
        check=True,
        capture_output=True,
    )

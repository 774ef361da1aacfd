"""A machine's first process: builds its root, gives up powers, then serves SSH connections.

It runs as pid 1 of the machine's new PID namespace, already in its own mount,
UTS, IPC, network and cgroup namespaces. Everything that needs this computer's
files happens before `pivot_root`; after it, the old root is detached and only
the machine's own files can be reached. The capability bounding set is cut down
before the first program of the machine is executed, so a program a task put in
the machine never runs with more power than the task itself had.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import traceback
import uuid
from dataclasses import dataclass
from typing import NoReturn

from . import kernel, seccomp

# Docker's default capabilities, less MKNOD (Docker guards device nodes with its
# device cgroup, which this sandbox does not have): CHOWN, DAC_OVERRIDE, FOWNER,
# FSETID, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT,
# AUDIT_WRITE, SETFCAP.
KEEP_CAPABILITIES = frozenset({0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 29, 31})
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
MASKED_FILES = (
    "/proc/kcore",
    "/proc/keys",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/latency_stats",
    "/proc/sched_debug",
)
MASKED_DIRS = ("/proc/acpi", "/proc/asound", "/proc/scsi", "/sys/firmware")
READ_ONLY = ("/proc/sys", "/proc/sysrq-trigger", "/proc/bus", "/proc/fs", "/proc/irq")
PRIVATE = "/run/spread-sandbox"  # the machine's sshd config, host key, boot id and sshd log
SSHD = "/usr/sbin/sshd"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Runs in the machine on its first boot, with its reduced powers; the passwords
# come on stdin. SHA-512 at 1000 rounds rather than yescrypt: these machines are
# throwaway, and it halves the cost of each SSH login. `reboot` ends pid 1, and
# the supervisor boots the machine again.
SETUP_SCRIPT = """\
set -eu
IFS= read -r ROOT_PASSWORD
IFS= read -r USER_PASSWORD
: > /root/.bashrc
rm -f /usr/sbin/reboot
printf '#!/bin/sh\\nkill -TERM 1\\n' > /usr/sbin/reboot
chmod 755 /usr/sbin/reboot
echo "root:$ROOT_PASSWORD" | chpasswd -c SHA512 -s 1000
if [ -n "$USER_NAME" ]; then
    useradd -m -s /bin/bash "$USER_NAME"
    echo "$USER_NAME:$USER_PASSWORD" | chpasswd -c SHA512 -s 1000
    if [ -d /etc/sudoers.d ]; then
        echo "$USER_NAME ALL=(ALL) NOPASSWD:ALL" > /etc/sudoers.d/spread-sandbox
    fi
    : > "/home/$USER_NAME/.bashrc"
fi
"""


@dataclass(frozen=True)
class BootSpec:
    """What a boot needs; `setup` (the passwords, for SETUP_SCRIPT) only on the first boot."""

    workdir: str
    hostname: str
    sshd_config: str
    host_key: bytes
    nameserver: str | None  # with outbound network (slirp4netns): its DNS address
    user: str = ""
    setup: bytes | None = None


def run_init(spec: BootSpec, channel: socket.socket, ready_fd: int) -> NoReturn:
    """Become the machine: report "ok" (or the error) on `ready_fd`, then serve `channel`."""
    try:
        _close_other_fds({channel.fileno(), ready_fd, 0, 1, 2})
        _build(spec)
        if spec.setup is not None:
            _setup(spec)
    except BaseException as exc:
        traceback.print_exc()
        os.write(ready_fd, f"{exc}".encode() or b"boot failed")
        os._exit(1)
    # Nothing of this computer stays open in the machine: not even the log it inherited.
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.write(ready_fd, b"ok")
    os.close(ready_fd)
    _serve(channel)


def _close_other_fds(keep: set[int]) -> None:
    low = 0
    for fd in sorted(keep):
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, 65536)


def _build(spec: BootSpec) -> None:
    kernel.mount("none", "/", None, kernel.MS_REC | kernel.MS_PRIVATE)
    root = f"{spec.workdir}/root"
    layers = f"lowerdir=/,upperdir={spec.workdir}/upper,workdir={spec.workdir}/work"
    kernel.mount("overlay", root, "overlay", kernel.MS_NODEV, layers)
    devices = {name: os.stat(f"/dev/{name}").st_rdev for name in DEVICES}
    last_capability = kernel.last_capability()
    # The old root goes on top of the new one and is detached: nothing of this
    # computer's filesystem stays reachable.
    os.chdir(root)
    kernel.pivot_root(".", ".")
    kernel.umount(".", kernel.MNT_DETACH)
    os.chdir("/")
    _mount_kernel_files(spec)
    _mount_devices(devices)
    _mask()
    kernel.sethostname(spec.hostname)
    kernel.loopback_up()
    if spec.nameserver:
        _use_nameserver(spec.nameserver)
    seccomp.deny_host_calls()
    kernel.limit_capabilities(KEEP_CAPABILITIES, last_capability)


def _mount_kernel_files(spec: BootSpec) -> None:
    nosuid_nodev = kernel.MS_NOSUID | kernel.MS_NODEV
    kernel.mount("proc", "/proc", "proc", nosuid_nodev | kernel.MS_NOEXEC)
    kernel.mount("tmpfs", "/run", "tmpfs", nosuid_nodev, "mode=755")
    os.mkdir("/run/sshd", 0o755)
    os.mkdir(PRIVATE, 0o700)
    _write(f"{PRIVATE}/boot_id", f"{uuid.uuid4()}\n".encode(), 0o444)
    _write(f"{PRIVATE}/sshd_config", spec.sshd_config.encode(), 0o644)
    _write(f"{PRIVATE}/host_key", spec.host_key, 0o600)
    kernel.mount(f"{PRIVATE}/boot_id", "/proc/sys/kernel/random/boot_id", None, kernel.MS_BIND)
    kernel.mount("tmpfs", "/tmp", "tmpfs", nosuid_nodev, "mode=1777")
    read_only = kernel.MS_RDONLY | nosuid_nodev | kernel.MS_NOEXEC
    kernel.mount("sysfs", "/sys", "sysfs", read_only)


def _use_nameserver(address: str) -> None:
    """Point /etc/resolv.conf at the DNS of the machine's outbound network (inside the machine)."""
    text = f"nameserver {address}\n".encode()
    target = os.path.realpath("/etc/resolv.conf")  # resolved in the machine: pivoted already
    if target.startswith("/run/"):  # a resolver's stub file, in the machine's fresh /run
        os.makedirs(os.path.dirname(target), exist_ok=True)
        _write(target, text, 0o644)
    elif os.path.isfile(target):
        _write(f"{PRIVATE}/resolv.conf", text, 0o644)
        kernel.mount(f"{PRIVATE}/resolv.conf", target, None, kernel.MS_BIND)
    elif not os.path.lexists("/etc/resolv.conf"):
        _write("/etc/resolv.conf", text, 0o644)


def _mount_devices(devices: dict[str, int]) -> None:
    """A fresh /dev with the usual nodes only (the machine cannot make others: no MKNOD)."""
    kernel.mount("tmpfs", "/dev", "tmpfs", kernel.MS_NOSUID, "mode=755")
    for name, number in devices.items():
        os.mknod(f"/dev/{name}", stat.S_IFCHR | 0o666, number)
        os.chmod(f"/dev/{name}", 0o666)
    os.mkdir("/dev/pts", 0o755)
    options = "newinstance,ptmxmode=0666,mode=0620,gid=5"
    kernel.mount("devpts", "/dev/pts", "devpts", kernel.MS_NOSUID | kernel.MS_NOEXEC, options)
    os.symlink("pts/ptmx", "/dev/ptmx")
    for name, target in (("fd", ""), ("stdin", "/0"), ("stdout", "/1"), ("stderr", "/2")):
        os.symlink(f"/proc/self/fd{target}", f"/dev/{name}")
    os.mkdir("/dev/shm", 0o1777)
    kernel.mount("tmpfs", "/dev/shm", "tmpfs", kernel.MS_NOSUID | kernel.MS_NODEV, "mode=1777")
    os.mkdir("/dev/mqueue", 0o755)
    flags = kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC
    kernel.mount("mqueue", "/dev/mqueue", "mqueue", flags)


def _mask() -> None:
    """Hide what a container must not see, and make the kernel's knobs read-only (as Docker)."""
    for path in MASKED_FILES:
        if os.path.exists(path):
            kernel.mount("/dev/null", path, None, kernel.MS_BIND)
    for path in MASKED_DIRS:
        if os.path.isdir(path):
            kernel.mount("tmpfs", path, "tmpfs", kernel.MS_RDONLY, "size=0")
    flags = kernel.MS_NOSUID | kernel.MS_NODEV | kernel.MS_NOEXEC
    for path in READ_ONLY:
        if os.path.exists(path):
            kernel.mount(path, path, None, kernel.MS_BIND | kernel.MS_REC)
            remount = kernel.MS_BIND | kernel.MS_REMOUNT | kernel.MS_RDONLY | flags
            kernel.mount(path, path, None, remount)


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def _setup(spec: BootSpec) -> None:
    env = {"PATH": PATH, "HOME": "/root", "USER_NAME": spec.user, "LC_ALL": "C"}
    result = subprocess.run(
        ["/bin/bash", "-c", SETUP_SCRIPT],
        input=spec.setup,
        env=env,
        capture_output=True,
        cwd="/",
        check=False,
    )
    if result.returncode:
        output = (result.stdout + result.stderr).decode(errors="replace").strip()
        raise RuntimeError(f"first-boot setup failed (exit {result.returncode}): {output}")


def _serve(channel: socket.socket) -> NoReturn:
    """Start `sshd -i` on each connection the supervisor hands over; end with the supervisor."""

    def reap(_signum: int, _frame: object) -> None:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass

    signal.signal(signal.SIGCHLD, reap)
    signal.signal(signal.SIGTERM, lambda _signum, _frame: os._exit(0))  # `reboot`
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    log = os.open(f"{PRIVATE}/sshd.log", flags, 0o600)
    argv = [SSHD, "-i", "-e", "-f", f"{PRIVATE}/sshd_config"]
    env = {"PATH": PATH}
    while True:
        message, fds, _, _ = socket.recv_fds(channel, 16, 4)
        if not message:
            os._exit(0)
        for fd in fds:
            try:
                actions = [(os.POSIX_SPAWN_DUP2, fd, 0), (os.POSIX_SPAWN_DUP2, fd, 1)]
                actions.append((os.POSIX_SPAWN_DUP2, log, 2))
                os.posix_spawn(SSHD, argv, env, file_actions=actions, setsid=True)
            except OSError as exc:
                os.write(log, f"spread-sandbox: cannot start sshd: {exc}\n".encode())
            finally:
                os.close(fd)

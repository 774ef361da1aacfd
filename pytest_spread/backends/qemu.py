"""The qemu backend: local virtual machines booted from `~/.spread/qemu/<image>.img` (spec §12.2).

As Spread's `qemu.go`: `-snapshot` (the image is never written), `memory`
(default 1500 MiB), user networking with SSH forwarded on 127.0.0.1, a serial
console and a monitor, `bios: uefi`, `SPREAD_QEMU_GUI=1` for a window; discard
kills the process. Unlike Spread, the forwarded port is chosen by QEMU itself
(port 0, read back from the monitor: no races), serial and monitor are unix
sockets in a run directory that also keeps the serial log, whose tail is shown
when a machine never comes up, and where KVM cannot run the machine (nested
virtualisation, no /dev/kvm) it falls back to TCG with a note.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_spread.backends.base import AllocationError, Machine, ProviderBase
from pytest_spread.interrupts import STOPPING
from pytest_spread.project.gocompat import go_quote
from pytest_spread.project.model import System

MB = 1024 * 1024
DEFAULT_MEMORY = 1500  # MiB, as Spread
OVMF = "/usr/share/OVMF/OVMF_CODE.fd"
TCG_SLOWDOWN = 3  # a TCG machine boots about three times slower: wait that much longer
KVM_GRACE = 20.0  # seconds in which a KVM failure shows, if KVM cannot run the machine
SERIAL_TAIL = 2000  # characters of the serial log shown when a machine never comes up

_accel: str | None = None  # "kvm" or "tcg" once known for this process


def image_path(system: System) -> Path:
    return Path(os.path.expanduser("~/.spread/qemu")) / f"{system.image}.img"


def bios_path(name: str) -> str:
    """The firmware file for `bios:` (Spread's biosPath)."""
    local = Path(os.path.expanduser(f"~/.spread/qemu/bios/{name}.img"))
    if local.is_file():
        return str(local)
    fallback = os.environ.get("SPREAD_QEMU_FALLBACK_BIOS_PATH", "")
    if fallback:
        return os.path.expandvars(os.path.join(fallback, f"{name}.img"))
    if name == "uefi":
        return OVMF
    raise AllocationError(f"cannot find bios path for {go_quote(name)}")


def qemu_command(system: System, image: Path, memory: int, run_dir: Path, accel: str) -> list[str]:
    """The qemu-system-x86_64 command line of a machine (Spread's qemuCmd)."""
    command = ["qemu-system-x86_64"]
    if system.bios == "uefi":
        command += ["-bios", bios_path(system.bios)]
    elif system.bios:
        raise AllocationError(
            f'cannot set bios to {go_quote(system.bios)}, only "uefi" or unset are supported'
        )
    if os.environ.get("SPREAD_QEMU_GUI") != "1":
        command.append("-nographic")
    command += ["-enable-kvm"] if accel == "kvm" else ["-accel", "tcg"]
    serial = f"socket,id=serial,path={run_dir}/serial.sock,server=on,wait=off"
    command += [
        "-snapshot",
        "-m",
        str(memory),
        "-net",
        "nic",
        "-net",
        "user,hostfwd=tcp:127.0.0.1:0-:22",
        "-chardev",
        f"{serial},logfile={run_dir}/serial.log",
        "-serial",
        "chardev:serial",
        "-monitor",
        f"unix:{run_dir}/monitor.sock,server=on,wait=off",
    ]
    if "virtio" in system.flags:  # the disk as /dev/vda (snapd's UC20+ systems boot faster)
        command += ["-drive", f"file={image},if=virtio"]
    else:
        command.append(str(image))
    return command


class QEMUProvider(ProviderBase):
    """Boots a QEMU machine per allocation and kills it on discard."""

    def _prepare(self) -> None:
        self._processes: dict[int, subprocess.Popen[bytes]] = {}

    def allocate(self, system: System, username: str, password: str) -> Machine:
        image = image_path(system)
        if not image.exists() or image.is_dir():
            raise AllocationError(f"cannot find qemu image at {image}", fatal=True)
        memory = self.backend.memory // MB if self.backend.memory > 0 else DEFAULT_MEMORY
        accel = choose_accel(self.log)
        while True:
            machine, failure = self._boot(system, image, memory, accel, username, password)
            if machine is not None:
                return machine
            if failure != "kvm":
                raise AllocationError(failure)
            accel = fall_back_to_tcg(self.log, system)

    def discard(self, machine: Machine) -> None:
        try:
            self._stop(int(machine.data.get("pid") or 0))
        except OSError as exc:
            raise AllocationError(f"cannot discard qemu {machine}: {exc}") from None
        run_dir = str(machine.data.get("dir") or "")
        if run_dir and Path(run_dir).name.startswith("spread-qemu-"):
            shutil.rmtree(run_dir, ignore_errors=True)

    def _stop(self, pid: int) -> None:
        """SIGKILL the machine's process, as Spread does (already gone is fine)."""
        process = self._processes.pop(pid, None)
        if pid and is_qemu(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if process is not None:
            process.wait()

    def collect_garbage(self) -> None:
        """Spread's qemu backend collects nothing."""

    def interrupt(self) -> None:
        """The run is abandoned (a second Ctrl-C): kill every machine of this provider now,
        those still booting included (their allocation then fails at once)."""
        for pid in list(self._processes):
            self._stop(pid)

    # -- booting -------------------------------------------------------------

    def _boot(
        self, system: System, image: Path, memory: int, accel: str, username: str, password: str
    ) -> tuple[Machine | None, str]:
        """A machine with SSH up, or None and why not ("kvm" when KVM failed)."""
        run_dir = Path(tempfile.mkdtemp(prefix="spread-qemu-", dir=_short_tmp()))
        command = qemu_command(system, image, memory, run_dir, accel)
        self.log(
            f"Serial and monitor for {system.label} available at "
            f"{run_dir}/serial.sock and {run_dir}/monitor.sock."
        )
        try:
            with open(run_dir / "qemu.log", "wb") as output:
                process = subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C is Spread's to handle, not qemu's
                )
        except OSError as exc:
            shutil.rmtree(run_dir, ignore_errors=True)
            raise AllocationError(
                f"cannot launch qemu {system.label}: {exc.strerror}", fatal=True
            ) from None
        self._processes[process.pid] = process
        machine = Machine(
            self.backend.name,
            system.name,
            "",
            username,
            password,
            data={"pid": process.pid, "dir": str(run_dir)},
        )
        try:
            port = forwarded_port(run_dir, process)
            machine.address = f"localhost:{port}"
            self.log(f"Waiting for {system.label} to make SSH available...")
            scale = TCG_SLOWDOWN if accel == "tcg" else 1
            wait_for_ssh(port, process, run_dir, self.ssh_wait * scale, accel == "kvm")
        except _KVMFailed:
            self.discard(machine)
            return None, "kvm"
        except OSError as exc:
            self._stop_keeping_log(machine)
            return None, never_up(system, exc, run_dir)
        return machine, ""

    def _stop_keeping_log(self, machine: Machine) -> None:
        """Stop a machine that never came up, leaving its serial log to read."""
        self._stop(int(machine.data["pid"]))
        for name in ("serial.sock", "monitor.sock"):
            Path(str(machine.data["dir"]), name).unlink(missing_ok=True)


class _KVMFailed(Exception):
    """KVM could not run the machine."""


def choose_accel(log: Callable[[str], None]) -> str:
    """KVM when it is there and not refused (SPREAD_QEMU_KVM=0), else TCG, with a note."""
    global _accel
    if _accel is None:
        setting = os.environ.get("SPREAD_QEMU_KVM", "")
        if setting == "0":
            _accel = "tcg"
        elif setting != "1" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
            log("No usable /dev/kvm: QEMU machines run under TCG emulation (slower).")
            _accel = "tcg"
        else:
            _accel = "kvm"
    return _accel


def fall_back_to_tcg(log: Callable[[str], None], system: System) -> str:
    global _accel
    _accel = "tcg"
    log(
        f"KVM cannot run {system.label} here (KVM internal error, as on nested virtual "
        "machines): using TCG emulation, which is slower. SPREAD_QEMU_KVM=0 skips the attempt."
    )
    return _accel


def forwarded_port(run_dir: Path, process: subprocess.Popen[bytes]) -> int:
    """The host port QEMU chose for SSH, as its monitor's `info usernet` shows it."""
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            raise OSError(f"qemu exited with status {process.returncode}: {_qemu_error(run_dir)}")
        try:
            with socket.socket(socket.AF_UNIX) as monitor:
                monitor.settimeout(5)
                monitor.connect(str(run_dir / "monitor.sock"))
                text = _monitor_command(monitor, "info usernet")
            found = re.search(r"HOST_FORWARD\]\s+\d+\s+127\.0\.0\.1\s+(\d+)", text)
            if found:
                return int(found.group(1))
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise OSError("qemu did not report its forwarded SSH port")
        time.sleep(0.1)


def _monitor_command(monitor: socket.socket, command: str) -> str:
    text = _read_until(monitor, b"(qemu) ")
    monitor.sendall(command.encode() + b"\n")
    return text + _read_until(monitor, b"(qemu) ")


def _read_until(sock: socket.socket, end: bytes) -> str:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace")


def wait_for_ssh(
    port: int, process: subprocess.Popen[bytes], run_dir: Path, timeout: float, kvm: bool
) -> None:
    """Wait for sshd's banner through the forwarded port (QEMU accepts before the guest does)."""
    start = time.monotonic()
    while True:
        if process.poll() is not None:
            raise OSError(f"qemu exited with status {process.returncode}: {_qemu_error(run_dir)}")
        if STOPPING.is_set():
            raise OSError("interrupted")
        if (
            kvm
            and time.monotonic() - start < KVM_GRACE
            and "KVM internal error" in _qemu_error(run_dir)
        ):
            raise _KVMFailed()
        try:
            # A guest that is not up leaves QEMU's side of the forward silent: short timeout.
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                if conn.recv(4) == b"SSH-":
                    return
        except OSError:
            pass
        if time.monotonic() - start >= timeout:
            raise OSError(f"no SSH server answered within {timeout:.0f}s")
        time.sleep(0.5)


def _short_tmp() -> str:
    """$TMPDIR, unless too long for the unix socket paths in it (108 bytes at most)."""
    base = tempfile.gettempdir()
    return base if len(base) <= 60 else "/tmp"


def _qemu_error(run_dir: Path) -> str:
    try:
        return (run_dir / "qemu.log").read_text(errors="replace").strip()
    except OSError:
        return ""


def never_up(system: System, exc: OSError, run_dir: Path) -> str:
    """Why a machine never came up, with the tail of its serial console."""
    try:
        serial = (run_dir / "serial.log").read_text(errors="replace")
    except OSError:
        serial = ""
    tail = _printable(serial[-SERIAL_TAIL:]).strip()
    message = f"cannot connect to {system.label}: {exc}"
    if tail:
        kept = [line.rstrip() for line in tail.splitlines() if line.strip()]
        lines = "\n".join("    " + line for line in kept[-15:])
        message += f"\nSerial console ({run_dir}/serial.log) ends with:\n{lines}"
    return message


def _printable(text: str) -> str:
    """Console text without terminal control sequences."""
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\x1bc", "", text)
    return "".join(ch for ch in text if ch in "\n\t" or ch.isprintable())


def is_qemu(pid: int) -> bool:
    """Whether `pid` is still a QEMU process (a recorded pid may have been reused since)."""
    try:
        return b"qemu" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False

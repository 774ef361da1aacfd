#!/usr/bin/env python3
"""Real machines: how long from "allocate" to the first script, against the raw tools.

    python bench/machines.py                 # LXD, 3 rounds after a warm-up
    python bench/machines.py --rounds 5 --go /tmp/go-spread/bin/spread
    python bench/machines.py --qemu          # adds one QEMU boot of each kind (minutes)

LXD, per round and in turn, on the image `.ci/setup-lxd` imports:
* `lxc launch` + `lxc exec true`: the raw tools, until a command runs in the container;
* the same + SSH: until root logs in over SSH (address, sshd), what Spread needs;
* pytest-spread: the lxd provider's allocate (launch, address, sshd set-up), then
  SSH connect and a first command: allocate-to-first-script;
* a one-job project, wall time of the whole run: the spread command against the Go
  tool (snapcore/spread built by build-go-spread), same image, same daemon.
QEMU (`--qemu`, one boot each): a raw `qemu-system-x86_64` boot to a first command
over SSH against the qemu provider's allocate and first command under the same accelerator,
and the provider's first machine of a run, which also probes KVM.

`figures()` returns the medians in seconds; `main()` prints them as table rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from table import print_table  # noqa: E402

from pytest_spread.backends.lxd import LXDProvider  # noqa: E402
from pytest_spread.backends.qemu import QEMUProvider, choose_accel, forwarded_port  # noqa: E402
from pytest_spread.errors import SpreadError  # noqa: E402
from pytest_spread.project.model import Backend, System  # noqa: E402
from pytest_spread.transport.ssh import Connection  # noqa: E402

IMAGE = "pytest-spread/debian-12"
HOME = Path("/tmp/pytest-spread-lxd-home")  # the counter the LXD tests share
PASSWORD = "bench-password"
DEFAULT_GO = Path("/tmp/go-spread/bin/spread")
RAW_SSH_SETUP = (
    f"echo root:{PASSWORD} | chpasswd;"
    " sed -i 's/^#*PermitRootLogin.*/PermitRootLogin yes/' /etc/ssh/sshd_config;"
    " killall -HUP sshd || true"
)

ONE_JOB = """\
project: bench-machines
path: /srv/bench-machines
backends:
    lxd:
        systems: [debian-12]
suites:
    tests/:
        summary: s
"""


def _quiet(_: str) -> None:
    pass


def _sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def _login(address: str, username: str, password: str, timeout: float = 120) -> Connection:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return Connection.open(address, username, password)
        except SpreadError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _banner(host: str, port: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=5) as conn:
                if conn.recv(4) == b"SSH-":
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"no SSH banner at {host}:{port}")


# -- LXD ----------------------------------------------------------------------


def raw_lxc(name: str, ssh: bool) -> float:
    """`lxc launch` and `lxc exec true` (then, with ssh, a root login): seconds."""
    start = time.monotonic()
    _sh("lxc", "launch", IMAGE, name, "--ephemeral")
    try:
        while subprocess.run(["lxc", "exec", name, "true"], capture_output=True).returncode:
            time.sleep(0.1)
        if ssh:
            address = ""
            while not address:
                address = (
                    _sh("lxc", "list", name, "-c", "4", "--format", "csv").strip().split(" ")[0]
                )
                if not address:
                    time.sleep(0.1)
            _sh("lxc", "exec", name, "--", "sh", "-c", RAW_SSH_SETUP)
            _login(address, "root", PASSWORD).close()
        return time.monotonic() - start
    finally:
        subprocess.run(["lxc", "delete", "--force", name], capture_output=True)


def ours_lxd() -> float:
    """The lxd provider's allocate, SSH and a first command: seconds."""
    system = System(name="debian-12", backend="lxd", image="debian-12")
    backend = Backend(name="lxd", type="lxd", systems={"debian-12": system})
    provider = LXDProvider(backend, ROOT, PASSWORD, _quiet)
    start = time.monotonic()
    machine = provider.allocate(system, "", PASSWORD)
    try:
        connection = _login(machine.address, "root", PASSWORD)
        result = connection.run("true")
        elapsed = time.monotonic() - start
        connection.close()
        assert result.status == 0
        return elapsed
    finally:
        provider.discard(machine)


def one_job_run(command: list[str], project: Path) -> float:
    """Wall seconds of a whole one-job run of a spread command on the LXD project."""
    env = {"PATH": os.environ["PATH"], "HOME": str(HOME), "LC_ALL": "C"}
    start = time.monotonic()
    result = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if "Successful tasks: 1" not in result.stdout + result.stderr:
        raise SystemExit(f"{command[0]} failed:\n{result.stdout}{result.stderr}")
    return elapsed


# -- QEMU ---------------------------------------------------------------------


def raw_qemu(image: Path, accel: str) -> float:
    """qemu-system-x86_64 with -snapshot until a first command runs over SSH: seconds."""
    work = Path(tempfile.mkdtemp(prefix="bench-qemu-"))
    accel_args = ["-enable-kvm"] if accel == "kvm" else ["-accel", "tcg"]
    command = ["qemu-system-x86_64", "-nographic", *accel_args, "-snapshot", "-m", "1500"]
    command += ["-net", "nic", "-net", "user,hostfwd=tcp:127.0.0.1:0-:22", "-serial", "null"]
    command += ["-monitor", f"unix:{work}/monitor.sock,server=on,wait=off", str(image)]
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = forwarded_port(work, process)
        _banner("127.0.0.1", port, timeout=900)
        connection = _login(f"127.0.0.1:{port}", "root", "spread", timeout=300)
        assert connection.run("true").status == 0
        elapsed = time.monotonic() - start
        connection.close()
        return elapsed
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(work, ignore_errors=True)


def ours_qemu(home: Path) -> float:
    system = System(name="debian-12", backend="qemu", image="debian-12")
    backend = Backend(name="qemu", type="qemu", systems={"debian-12": system})
    provider = QEMUProvider(backend, ROOT, PASSWORD, _quiet, wait=900)
    old = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    try:
        start = time.monotonic()
        machine = provider.allocate(system, "root", "spread")
    finally:
        os.environ["HOME"] = old or "/root"
    try:
        connection = _login(machine.address, "root", "spread")
        assert connection.run("true").status == 0
        elapsed = time.monotonic() - start
        connection.close()
        return elapsed
    finally:
        provider.discard(machine)


# -- figures --------------------------------------------------------------------


def figures(rounds: int = 3, go: Path | None = DEFAULT_GO, qemu: bool = False) -> dict[str, float]:
    """Median seconds of each measure (keys as in the table), after one warm-up round."""
    subprocess.run([str(ROOT / ".ci/setup-lxd"), "image"], check=True, capture_output=True)
    HOME.mkdir(exist_ok=True)
    project = Path(tempfile.mkdtemp(prefix="bench-machines-"))
    (project / "spread.yaml").write_text(ONE_JOB)
    (project / "tests/one").mkdir(parents=True)
    (project / "tests/one/task.yaml").write_text("summary: one\nexecute: 'true'\n")
    ours_cmd = [sys.executable, "-m", "pytest_spread"]
    measures: dict[str, Callable[[], float]] = {
        "lxd: lxc launch + lxc exec true": lambda: raw_lxc("bench-raw", ssh=False),
        "lxd: lxc launch + exec + root SSH login": lambda: raw_lxc("bench-raw", ssh=True),
        "lxd: pytest-spread allocate to first script": ours_lxd,
        "lxd: one-job run, spread (pytest-spread)": lambda: one_job_run(ours_cmd, project),
    }
    if go is not None and go.exists():
        measures["lxd: one-job run, spread (Go)"] = lambda: one_job_run([str(go)], project)
    samples: dict[str, list[float]] = {label: [] for label in measures}
    try:
        for round_ in range(rounds + 1):
            for label, measure in measures.items():
                seconds = measure()
                if round_:
                    samples[label].append(seconds)
    finally:
        shutil.rmtree(project, ignore_errors=True)
    result = {label: statistics.median(values) for label, values in samples.items()}
    if qemu:
        result.update(qemu_figures())
    return result


def qemu_figures() -> dict[str, float]:
    """One boot each (they take minutes under TCG): raw QEMU to sshd, the provider to a script."""
    out = _sh(str(ROOT / ".ci/build-images"), "qemu").strip()
    image = Path(out) / "qemu/debian-12.img"
    home = Path(tempfile.mkdtemp(prefix="bench-qemu-home-"))
    (home / ".spread/qemu").mkdir(parents=True)
    (home / ".spread/qemu/debian-12.img").symlink_to(image)
    try:
        first = ours_qemu(home)  # the first machine of a run probes KVM (falls back to TCG)
        accel = choose_accel(_quiet)
        raw = raw_qemu(image, accel)
        ours = ours_qemu(home)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {
        f"qemu ({accel}): raw boot to a first command over SSH": raw,
        f"qemu ({accel}): pytest-spread allocate to first script": ours,
        f"qemu ({accel}): the same, first machine (KVM probe)": first,
    }


def rows(result: dict[str, float]) -> list[tuple[str, ...]]:
    """Table rows: measure, seconds, and the ratio to the raw tool / the Go tool."""
    table: list[tuple[str, ...]] = [("real machines", "median s", "ratio")]
    raw_ssh = result.get("lxd: lxc launch + exec + root SSH login")
    go = result.get("lxd: one-job run, spread (Go)")
    for label, seconds in result.items():
        ratio = ""
        if label == "lxd: pytest-spread allocate to first script" and raw_ssh:
            ratio = f"{seconds / raw_ssh:.2f}x raw+SSH"
        elif label == "lxd: one-job run, spread (pytest-spread)" and go:
            ratio = f"{seconds / go:.2f}x Go"
        elif label.startswith("qemu") and "raw" not in label:
            raw = next(v for k, v in result.items() if k.startswith("qemu") and "raw" in k)
            ratio = f"{seconds / raw:.2f}x raw"
        table.append((label, f"{seconds:.2f}", ratio))
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--go", type=Path, default=DEFAULT_GO)
    parser.add_argument("--qemu", action="store_true", help="also boot QEMU machines (minutes)")
    args = parser.parse_args(argv)
    print_table(rows(figures(args.rounds, args.go, args.qemu)))


if __name__ == "__main__":
    main()

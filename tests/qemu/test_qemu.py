"""QEMU machines for real: a TCG job with a reboot, a machine that never boots, no image."""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import pytest

from .conftest import qemu_processes

EXAMPLE = Path(__file__).resolve().parents[2] / "examples/qemu"


@pytest.mark.slow
def test_the_example_a_job_with_a_reboot(qemu_project, qemu_images):
    qemu_project.image("debian-12", qemu_images / "debian-12.img")
    shutil.copytree(EXAMPLE, qemu_project.root, dirs_exist_ok=True)
    result = qemu_project.run("pytest_spread", "-v", timeout=900)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Serial and monitor for qemu:debian-12 available at" in out
    assert "Rebooting on qemu:debian-12 (qemu:debian-12:tests/main/reboot) as requested..." in out
    assert "Successful tasks: 1" in out
    assert "Discarding qemu:debian-12..." in out
    assert list(qemu_project.tmp.iterdir()) == []  # the run directory goes with the machine


def test_a_machine_that_never_boots(qemu_project):
    # A disk whose boot sector loops for ever: the firmware boots it and nothing answers.
    disk = qemu_project.home / "hang.img"
    sector = b"\xeb\xfe" + bytes(508) + b"\x55\xaa"
    disk.write_bytes(sector + bytes(1024 * 1024 - len(sector)))
    qemu_project.image("hang-1", disk)
    qemu_project.write("- hang-1:\n    password: x\n", {"t": "summary: t\n"})
    result = qemu_project.run(
        "pytest", "--spread", "-p", "no:cacheprovider", "--spread-allocate-timeout=10", timeout=300
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        "cannot allocate qemu:hang-1: cannot connect to qemu:hang-1: no SSH server answered" in out
    ), out
    assert "Serial console (" in out
    assert "    SeaBIOS (version" in out, out  # the tail of its serial console
    assert "Traceback" not in out
    (run_dir,) = qemu_project.tmp.iterdir()  # kept for its serial log, sockets gone
    assert sorted(p.name for p in run_dir.iterdir()) == ["qemu.log", "serial.log"]


def test_a_missing_image_is_fatal(qemu_project):
    qemu_project.write("- debian-99:\n    password: x\n", {"t": "summary: t\n"})
    result = qemu_project.run("pytest_spread", timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    path = qemu_project.home / ".spread/qemu/debian-99.img"
    assert f"cannot find qemu image at {path}" in out
    assert out.count("Allocating qemu:debian-99") == 1


def test_ctrl_c_while_a_machine_boots(qemu_project):
    disk = qemu_project.home / "hang.img"
    sector = b"\xeb\xfe" + bytes(508) + b"\x55\xaa"
    disk.write_bytes(sector + bytes(1024 * 1024 - len(sector)))
    qemu_project.image("hang-1", disk)
    qemu_project.write("- hang-1:\n    password: x\n", {"t": "summary: t\n"})
    run = qemu_project.popen("pytest_spread")
    assert run.stdout is not None
    seen = ""
    for line in run.stdout:
        seen += line
        if "to make SSH available" in line:
            break
    assert qemu_processes(qemu_project.tmp)  # booting
    run.send_signal(signal.SIGINT)
    rest, _ = run.communicate(timeout=60)
    out = seen + rest
    assert run.returncode != 0
    assert "Cannot allocate qemu:hang-1: interrupted" in out, out
    assert "Traceback" not in out
    assert qemu_processes(qemu_project.tmp) == []

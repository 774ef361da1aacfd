"""The QEMU command line, as Spread's qemuCmd builds it (bios, GUI, memory, sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_spread.backends.base import AllocationError
from pytest_spread.backends.qemu import OVMF, qemu_command
from pytest_spread.project.model import System


def command(
    tmp_path: Path, bios: str = "", accel: str = "kvm", flags: tuple[str, ...] = ()
) -> list[str]:
    system = System(
        name="ubuntu-22.04", backend="qemu", image="ubuntu-22.04", bios=bios, flags=flags
    )
    return qemu_command(system, tmp_path / "ubuntu-22.04.img", 1500, tmp_path / "run", accel)


def test_the_default_command(tmp_path, monkeypatch):
    monkeypatch.delenv("SPREAD_QEMU_GUI", raising=False)
    run = tmp_path / "run"
    assert command(tmp_path) == [
        "qemu-system-x86_64",
        "-nographic",
        "-enable-kvm",
        "-snapshot",
        "-m",
        "1500",
        "-net",
        "nic",
        "-net",
        "user,hostfwd=tcp:127.0.0.1:0-:22",
        "-chardev",
        f"socket,id=serial,path={run}/serial.sock,server=on,wait=off,logfile={run}/serial.log",
        "-serial",
        "chardev:serial",
        "-monitor",
        f"unix:{run}/monitor.sock,server=on,wait=off",
        str(tmp_path / "ubuntu-22.04.img"),
    ]


def test_gui_and_tcg(tmp_path, monkeypatch):
    monkeypatch.setenv("SPREAD_QEMU_GUI", "1")
    argv = command(tmp_path, accel="tcg")
    assert "-nographic" not in argv
    assert argv[1:3] == ["-accel", "tcg"]


def test_uefi_firmware_in_spreads_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SPREAD_QEMU_FALLBACK_BIOS_PATH", raising=False)
    assert command(tmp_path, bios="uefi")[1:3] == ["-bios", OVMF]
    monkeypatch.setenv("SPREAD_QEMU_FALLBACK_BIOS_PATH", "/opt/fw")
    assert command(tmp_path, bios="uefi")[1:3] == ["-bios", "/opt/fw/uefi.img"]
    local = tmp_path / ".spread/qemu/bios/uefi.img"
    local.parent.mkdir(parents=True)
    local.write_bytes(b"")
    assert command(tmp_path, bios="uefi")[1:3] == ["-bios", str(local)]


def test_unknown_bios_is_an_error(tmp_path):
    with pytest.raises(AllocationError, match='cannot set bios to "legacy", only "uefi" or unset'):
        command(tmp_path, bios="legacy")


def test_the_virtio_flag_puts_the_disk_on_virtio(tmp_path, project):
    project.spread(
        """\
        project: p
        path: /r
        backends:
            qemu:
                systems:
                    - ubuntu-core-20-64:
                        image: ubuntu-20.04-64
                        flags: [virtio]
        suites:
            tests/:
                summary: s
        """
    )
    project.task("tests/t")
    (system,) = project.matrix().project.backends["qemu"].systems.values()
    assert system.flags == ("virtio",)
    argv = command(tmp_path, flags=system.flags)
    assert argv[-2:] == ["-drive", f"file={tmp_path / 'ubuntu-22.04.img'},if=virtio"]

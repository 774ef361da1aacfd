"""The sandbox machines are isolated from this computer (they must never change it)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pytest_spread.transport.ssh import Connection


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_machine_writes_stay_in_the_machine(machine):
    host_systemctl = digest("/usr/bin/systemctl")
    host_bashrc = digest("/root/.bashrc")
    connection = Connection.open(machine.address, "root", machine.password)
    try:
        script = (
            "set -e; echo mine > /root/marker; test ! -s /root/.bashrc; "
            "head -1 /usr/sbin/reboot; echo shm > /dev/shm/spread-sandbox-test; "
            "! echo 1 > /proc/sys/kernel/printk_ratelimit 2>/dev/null"
        )
        result = connection.run(f"bash -c '{script}'")
    finally:
        connection.close()
    assert result.status == 0, result.text
    assert result.text.startswith("#!/bin/sh")
    assert machine.path("/root/marker").read_text() == "mine\n"
    assert machine.path("/usr/sbin/reboot").read_text().endswith("kill -TERM 1\n")
    assert not Path("/root/marker").exists()
    assert not Path("/dev/shm/spread-sandbox-test").exists()
    assert digest("/usr/bin/systemctl") == host_systemctl
    assert digest("/root/.bashrc") == host_bashrc


def test_machines_are_isolated_from_each_other(machine_factory):
    one, two = machine_factory(), machine_factory()
    for machine, text in ((one, "one"), (two, "two")):
        connection = Connection.open(machine.address, "root", machine.password)
        connection.run(f"echo {text} > /root/name")
        connection.close()
    assert one.path("/root/name").read_text() == "one\n"
    assert two.path("/root/name").read_text() == "two\n"


def test_stop_leaves_nothing_behind(machine_factory):
    machine = machine_factory()
    workdir = machine.workdir
    machine.stop()
    assert not workdir.exists()
    assert str(workdir) not in Path("/proc/mounts").read_text()

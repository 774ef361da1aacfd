"""Spread projects run for real on LXD containers: the spread command and pytest --spread."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from pytest_spread.backends.lxdapi import LXD

from .conftest import instances

TASKS = {
    "one": """\
        summary: prepare, execute and restore
        prepare: |
            echo "prepared $SPREAD_SYSTEM" > /tmp/one
        execute: |
            grep "prepared $SPREAD_SYSTEM" /tmp/one
            test -e /tmp/suite-ready
            grep -q '^ID=debian' /etc/os-release
        restore: |
            rm /tmp/one
            echo "restored $SPREAD_SYSTEM" >> /tmp/restored
        """,
    "two": 'summary: two\nexecute: test -n "$SPREAD_SYSTEM"\n',
    "three": 'summary: three\nexecute: test "$(id -u)" = 0\n',
    "reboot": """\
        summary: a reboot in the middle
        execute: |
            if [ "$SPREAD_REBOOT" = 0 ]; then
                cat /proc/sys/kernel/random/boot_id > /var/tmp/before
                REBOOT
            fi
            test "$(cat /proc/sys/kernel/random/boot_id)" != "$(cat /var/tmp/before)"
        """,
    "artifacts": """\
        summary: files brought back
        artifacts: [report.txt]
        execute: |
            echo "made on $SPREAD_SYSTEM by $(hostname)" > report.txt
        """,
}

SUITE_SCRIPTS = """\
prepare-each: |
    touch /tmp/suite-ready
"""


def test_two_systems_with_two_workers_each(lxd_project, tmp_path):
    lxd_project.write(
        "- SYS_A:\n    image: debian-12\n    workers: 2\n"
        "- SYS_B:\n    image: debian-bookworm\n    workers: 2\n",
        TASKS,
        SUITE_SCRIPTS,
    )
    artifacts = tmp_path / "artifacts"
    result = lxd_project.spread("-v", f"-artifacts={artifacts}")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Successful tasks: 10" in out
    allocated = re.findall(r"Allocated lxd:(\S+) \((spread-\d+-\S+)\)\.", out)
    assert sorted(system for system, _ in allocated) == sorted(
        [lxd_project.system("a")] * 2 + [lxd_project.system("b")] * 2
    )
    assert all(name.endswith(system) for system, name in allocated)
    assert out.count("Rebooting on lxd:") == 2
    for letter in "ab":
        system = lxd_project.system(letter)
        assert f"Restoring lxd:{system}:tests/main/one" in out
        report = artifacts / f"lxd:{system}:tests/main/artifacts" / "report.txt"
        assert report.read_text().startswith(f"made on {system} by spread-")
    assert "Traceback" not in out
    assert lxd_project.containers() == []


def test_reuse_keeps_containers_then_discard_removes_them(lxd_project):
    lxd_project.write(
        "- SYS_A:\n    image: debian-12\n",
        {"mark": "summary: m\nexecute: echo run >> /root/runs; wc -l < /root/runs\n"},
    )
    first = lxd_project.spread("-reuse", "-v")
    assert first.returncode == 0, first.stdout + first.stderr
    (name,) = lxd_project.containers()
    record = yaml.safe_load((lxd_project.root / ".spread-reuse.yaml").read_text())
    (entry,) = record["backends"]["lxd"]["systems"]
    data = entry[lxd_project.system("a")]
    assert data["data"] == {"name": name}
    assert not LXD().get(f"instances/{name}")["ephemeral"]  # kept across its own reboots

    second = lxd_project.spread("-reuse", "-vv")
    out = second.stdout + second.stderr
    assert second.returncode == 0, out
    assert f"Reusing lxd:{lxd_project.system('a')} ({name})..." in out
    assert "Allocating" not in out
    assert lxd_project.containers() == [name]
    runs = LXD().execute(name, ["wc", "-l", "/root/runs"])
    assert runs.output.split()[0] == "2"  # both runs on the same container

    discard = lxd_project.spread("-discard")
    assert discard.returncode == 0, discard.stdout + discard.stderr
    assert f"Discarding lxd:{lxd_project.system('a')} ({name})..." in discard.stdout
    assert lxd_project.containers() == []


def test_pytest_spread_in_parallel(lxd_project):
    lxd_project.write(
        "- SYS_A:\n    image: debian-12\n    workers: 2\n- SYS_B:\n    image: debian-12\n",
        {name: body for name, body in TASKS.items() if name != "artifacts"},
        SUITE_SCRIPTS,
    )
    result = lxd_project.pytest("-n", "auto", "-q")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "8 passed" in out
    assert "Successful tasks: 8" in out
    assert lxd_project.containers() == []


def test_the_example_runs(lxd_project):
    example = Path(__file__).resolve().parents[2] / "examples/lxd"
    shutil.copytree(example, lxd_project.root, dirs_exist_ok=True)
    result = lxd_project.spread("-artifacts=artifacts")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Successful tasks: 6" in out
    names = re.findall(r"Allocated lxd:debian-\S+ \((spread-\d+-debian-\S+)\)\.", out)
    assert len(names) == 4  # two workers for each of the two systems
    assert not set(names) & set(instances("spread-"))  # all discarded
    assert (lxd_project.root / "artifacts/lxd:debian-12:tests/main/artifacts/report.txt").exists()

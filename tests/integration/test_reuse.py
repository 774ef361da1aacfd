"""Machine reuse (spec §9): -reuse keeps and reuses, -resend, -reuse-pid and -discard."""

from __future__ import annotations

import os
import sys

import yaml

from .test_lifecycle import spread_yaml, write_tasks


def spread(pytester, *args):
    return pytester.run(sys.executable, "-m", "pytest_spread", "-seed=1", *args)


def project(pytester, machine, discard_log):
    pytester.makefile(".yaml", spread=spread_yaml(machine, discard_log=str(discard_log)))
    write_tasks(
        pytester,
        {
            "tests/a": "summary: t\nexecute: |\n"
            "    echo run >> /root/runs\n"
            "    cat $SPREAD_PATH/version\n"
        },
    )
    (pytester.path / "version").write_text("one\n")


def test_reuse_keeps_then_reuses_the_machine(pytester, machine, tmp_path):
    log = tmp_path / "discard.log"
    project(pytester, machine, log)
    first = spread(pytester, "-reuse")
    assert first.ret == 0, first.stdout.str()
    first.stdout.fnmatch_lines([f"* Keeping adhoc:ubuntu-24.04 at {machine.address}"])
    record = yaml.safe_load((pytester.path / ".spread-reuse.yaml").read_text())
    assert record == {
        "backends": {
            "adhoc": {
                "systems": [
                    {"ubuntu-24.04": {"password": machine.password, "address": machine.address}}
                ]
            }
        }
    }
    assert not log.exists()

    (pytester.path / "version").write_text("two\n")
    second = spread(pytester, "-reuse", "-vv")
    assert second.ret == 0
    second.stdout.fnmatch_lines(
        ["* Reusing adhoc:ubuntu-24.04...", "* Reusing project data on adhoc:ubuntu-24.04..."]
    )
    second.stdout.fnmatch_lines(["one"])  # the project sent the first time
    assert "Allocating" not in second.stdout.str()

    third = spread(pytester, "-reuse", "-resend", "-vv")
    assert third.ret == 0
    third.stdout.fnmatch_lines(
        [
            "* Removing project data from adhoc:ubuntu-24.04 at /srv/spread-p...",
            "* Sending project content to adhoc:ubuntu-24.04...",
        ]
    )
    third.stdout.fnmatch_lines(["two"])
    assert machine.path("/root/runs").read_text().split() == ["run"] * 3

    discard = spread(pytester, "-discard")
    assert discard.ret == 0
    discard.stdout.fnmatch_lines(["* Discarding adhoc:ubuntu-24.04..."])
    assert "Successful tasks" not in discard.stdout.str()
    assert log.read_text().split() == [machine.address]
    assert (pytester.path / ".spread-reuse.yaml").read_text() == ""


def test_every_run_records_its_machines_for_crash_recovery(pytester, machine, tmp_path):
    log = tmp_path / "discard.log"
    project(pytester, machine, log)
    # A run that is killed leaves its record; simulate one with a stale pid file.
    result = spread(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["* If killed, discard servers with: spread -reuse-pid=* -discard"])
    assert not list(pytester.path.glob(".spread-reuse*"))  # removed at the end of the run
    stale = pytester.path / ".spread-reuse.4242.yaml"
    stale.write_text(
        yaml.safe_dump(
            {
                "backends": {
                    "adhoc": {
                        "systems": [
                            {
                                "ubuntu-24.04": {
                                    "password": machine.password,
                                    "address": machine.address,
                                }
                            }
                        ]
                    }
                }
            }
        )
    )
    cleanup = spread(pytester, "-reuse-pid=4242", "-discard")
    assert cleanup.ret == 0
    assert log.read_text().split() == [machine.address] * 2
    assert not stale.exists()
    assert os.listdir(pytester.path).count(".spread-reuse.yaml") == 0


def test_gc_runs_nothing(pytester, machine, tmp_path):
    project(pytester, machine, tmp_path / "discard.log")
    text = (
        (pytester.path / "spread.yaml")
        .read_text()
        .replace("suites:\n", "    lxd:\n        systems: [ubuntu-16.04]\nsuites:\n")
    )
    (pytester.path / "spread.yaml").write_text(text)
    result = spread(pytester, "-gc")
    assert result.ret == 0
    assert "Error collecting garbage" not in result.stdout.str()  # lxd collects nothing
    assert "Executing" not in result.stdout.str()
    assert not machine.path("/root/runs").exists()

"""Spread's final report (spec §6.6) and timeout selection (spec §5)."""

from __future__ import annotations

import pytest

from pytest_spread.project.model import Timeouts
from pytest_spread.run.report import Report
from pytest_spread.transport.ssh import split_address
from pytest_spread.transport.timeouts import Limits, limits

S = 1_000_000_000


def test_report_messages_are_spread_blocks():
    report = Report(successful=3, aborted=2)
    report.failed_tasks += ["lxd:b:tests/z", "lxd:a:tests/y:v", "lxd:a:tests/y:v"]
    report.failed_suite_prepare.append("lxd:a:tests/")
    assert report.messages() == [
        "Successful tasks: 3",
        "Aborted tasks: 2",
        "Failed tasks: 3\n    - lxd:a:tests/y:v\n    - lxd:a:tests/y:v\n    - lxd:b:tests/z",
        "Failed suite prepare: 1\n    - lxd:a:tests/",
    ]
    assert not report.ok


def test_report_merge_and_round_trip():
    one, two = Report(successful=1), Report(aborted=1, failed_project_restore=["a:b:project"])
    one.merge(Report.from_dict(two.to_dict()))
    assert one.messages() == [
        "Successful tasks: 1",
        "Aborted tasks: 1",
        "Failed project restore: 1\n    - a:b:project",
    ]
    assert Report(successful=5).ok


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        ([], Limits(300, 899)),  # defaults: kill is a multiple of warn, one second less
        (
            [Timeouts(), Timeouts(kill=600 * S), Timeouts(), Timeouts(warn=120 * S)],
            Limits(120, 599),
        ),  # spec scenario 49: task scripts
        ([Timeouts(), Timeouts(), Timeouts(warn=120 * S)], Limits(120, 900)),  # suite scripts
        ([Timeouts(warn=1 * S, kill=3 * S)], Limits(1, 2)),
        ([Timeouts(warn=2 * S, kill=5 * S)], Limits(2, 5)),
        ([Timeouts(kill=-1)], Limits(300, 365 * 24 * 3600 - 1)),
        ([Timeouts(warn=-1, kill=-1)], Limits(365 * 24 * 3600, 365 * 24 * 3600 - 1)),
    ],
)
def test_limits(levels, expected):
    assert limits(levels) == expected


@pytest.mark.parametrize(
    ("address", "parts"),
    [
        ("10.1.1.1:2222", ("10.1.1.1", 2222)),
        ("host", ("host", 22)),
        ("[::1]:2200", ("::1", 2200)),
        ("::1", ("::1", 22)),
        ("[::1]", ("::1", 22)),
    ],
)
def test_split_address(address, parts):
    assert split_address(address) == parts

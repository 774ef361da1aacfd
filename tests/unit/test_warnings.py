"""`spread -list` warns about keys Spread ignores, and exits as Spread does on flag errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SPREAD_YAML = """\
project: p
path: /r
variants: [x]
backends:
    lxd:
        sytems: [ubuntu-18.04]
        systems:
            - ubuntu-16.04:
                kill-timeout: 10m
suites:
    tests/:
        summary: s
        samples: 2
"""
TASK_YAML = "summary: t\nprepare-each: echo hi\n"
WARNINGS = {
    "project": 'spread.yaml:3: variants: unknown project field "variants"',
    "backend": 'spread.yaml:6: backends.lxd.sytems: unknown backend "lxd" field "sytems"',
    "system": "spread.yaml:9: backends.lxd.systems.ubuntu-16.04.kill-timeout: "
    'unknown lxd:ubuntu-16.04 field "kill-timeout"',
    "suite": 'spread.yaml:13: suites.tests/.samples: unknown suite tests/ field "samples"',
    "task": 'tests/a/task.yaml:2: prepare-each: unknown tests/a field "prepare-each"',
}
ONE_OF = "cannot have more than one of -debug, -shell, -shell-before/after, -abend, and -restore"


def spread(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "LC_ALL": "C"}
    argv = [sys.executable, "-m", "pytest_spread", *args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def listing(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    (root / "spread.yaml").write_text(SPREAD_YAML)
    (root / "tests/a").mkdir(parents=True)
    (root / "tests/a/task.yaml").write_text(TASK_YAML)
    return spread(root, "-list")


def test_the_listing_still_works(listing):
    assert (listing.returncode, listing.stdout) == (0, "lxd:ubuntu-16.04:tests/a\n")
    assert all(line.startswith("warning: ") for line in listing.stderr.splitlines())


@pytest.mark.parametrize(
    "level",
    [
        "project",
        *list(WARNINGS)[1:],
    ],
)
def test_unknown_keys_are_warned_about(listing, level):
    expected = f"warning: {WARNINGS[level]} (Spread ignores it)"
    assert expected in listing.stderr.splitlines()


def test_help_exits_0_with_usage_on_stderr(tmp_path):
    done = spread(tmp_path, "-h")
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr.startswith("Usage of spread:\n")
    assert "  -list\n" in done.stderr


def test_unknown_flag_exits_2(tmp_path):
    done = spread(tmp_path, "-nope")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines()[:2] == [
        "flag provided but not defined: -nope",
        "Usage of spread:",
    ]


@pytest.mark.parametrize("args", [("-debug", "-abend"), ("-list", "-debug", "-abend")])
def test_exclusive_flags_exit_1(tmp_path, args):
    done = spread(tmp_path, *args)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"error: {ONE_OF}\n")

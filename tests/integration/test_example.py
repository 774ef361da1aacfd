"""The README's example project runs as a newcomer runs it, through both front ends."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"


def run_example(
    tmp_path: Path, *argv: str, example: Path = EXAMPLE
) -> subprocess.CompletedProcess[str]:
    """Run argv in a copy of the example project (hello unless told) under tmp_path."""
    project = tmp_path / example.name
    shutil.copytree(example, project)
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    return subprocess.run(
        argv, cwd=project, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_spread_runs_the_example(tmp_path):
    done = run_example(tmp_path, sys.executable, "-m", "pytest_spread", "-seed=7")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.endswith("Successful tasks: 4") for line in lines)
    assert any("Rebooting on local:local-sandbox" in line for line in lines)
    assert any(line.endswith("Discarding local:local-sandbox...") for line in lines)


def test_pytest_runs_the_example(tmp_path):
    done = run_example(
        tmp_path, sys.executable, "-m", "pytest", "--spread", "-q", "-p", "no:cacheprovider"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout

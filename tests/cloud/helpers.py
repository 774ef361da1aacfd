"""Helpers of the cloud backend tests: projects, runs, and the secret check."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def project(pytester: pytest.Pytester, backend: str, tasks: int = 3, extra: str = "") -> None:
    """A project with one backend (YAML text under `backends:`) and `tasks` tasks."""
    pytester.makefile(
        ".yaml",
        spread="project: p\npath: /srv/spread-p\n"
        + extra
        + "backends:\n"
        + textwrap.indent(textwrap.dedent(backend), "    ")
        + "suites:\n    tests/:\n        summary: s\n",
    )
    for index in range(tasks):
        task = pytester.path / "tests" / f"t{index}"
        task.mkdir(parents=True, exist_ok=True)
        (task / "task.yaml").write_text(
            "summary: t\nexecute: |\n    echo ran $SPREAD_JOB >> /root/runs\n"
        )


def spread(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.run(sys.executable, "-m", "pytest_spread", "-seed=1", *args, timeout=120)


def written_files(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def assert_hidden(secrets: list[str], result: pytest.RunResult, root: Path) -> None:
    """No secret (nor any long line of one) in the run's output or any file under `root`."""
    parts = [s for s in secrets if s]
    for secret in secrets:
        parts += [line.strip() for line in secret.splitlines() if len(line.strip()) >= 16]
    texts = {"stdout": result.stdout.str(), "stderr": result.stderr.str()}
    for path in written_files(root):
        texts[str(path)] = path.read_text(errors="replace")
    for where, text in texts.items():
        for part in parts:
            assert part not in text, f"a secret shows in {where}"


def interrupt_during_allocation(
    pytester: pytest.Pytester, allocating: Callable[[], bool], *args: str, times: int = 2
) -> tuple[int, str]:
    """Run spread, press Ctrl-C `times` once `allocating()` holds; (exit status, output)."""
    log = pytester.path / "interrupted.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest_spread", *args],
            cwd=pytester.path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while not allocating() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert allocating(), log.read_text()
            for _ in range(times):
                process.send_signal(signal.SIGINT)
                time.sleep(0.2)
            status = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return status, log.read_text()

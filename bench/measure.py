"""Time whole commands side by side: alternating runs, medians, ratios pair by pair.

Each run is a fresh process started from here; its wall time is a monotonic
clock read around start and reap, its CPU time and peak memory the kernel's
own accounting of the reaped child (`wait4`). Commands compared with one
another run in turn (A B A B ...), after an uncounted warm-up of each, and
their ratio is the median of the ratios of each round, so a machine whose
speed drifts during the benchmark still gives a fair comparison.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

Check = Callable[[str], str]  # the output -> "" when it is right, else what is wrong


@dataclass(frozen=True)
class Command:
    """One command to time: what it is called in the table, how to run it, how to check it."""

    label: str
    argv: Sequence[str]
    cwd: Path
    env: dict[str, str]
    check: Check = lambda _output: ""


@dataclass(frozen=True)
class Run:
    """One finished run: wall, user and system seconds, peak resident MB, what it printed."""

    wall: float
    user: float
    system: float
    peak_mb: float
    output: str


@dataclass
class Series:
    """Every counted run of one command."""

    command: Command
    runs: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(run.wall for run in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(run.user + run.system for run in self.runs)

    @property
    def peak_mb(self) -> float:
        return max(run.peak_mb for run in self.runs)

    def ratio(self, other: Series) -> float:
        """Median over rounds of this command's wall time over the other's in that round."""
        return statistics.median(
            mine.wall / theirs.wall for mine, theirs in zip(self.runs, other.runs, strict=True)
        )


class BenchmarkFailed(SystemExit):
    """A command failed or printed something wrong: no figure can be given."""


# Commands are started by a small process of their own: a child's peak memory starts
# at its parent's (the parent's pages count until exec), and the bench itself grows.
_LAUNCHER = r"""
import json, os, subprocess, sys, time
for line in sys.stdin:
    job = json.loads(line)
    with open(job["out"], "wb") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            job["argv"], cwd=job["cwd"], env=job["env"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    result = {"status": os.waitstatus_to_exitcode(status), "wall": wall,
              "user": usage.ru_utime, "system": usage.ru_stime, "maxrss": usage.ru_maxrss}
    print(json.dumps(result), flush=True)
"""
_launcher: list[subprocess.Popen[str]] = []


def _launch(argv: Sequence[str], cwd: Path, env: dict[str, str], out: Path) -> dict[str, float]:
    if not _launcher:
        _launcher.append(
            subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _LAUNCHER],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    launcher = _launcher[0]
    assert launcher.stdin is not None and launcher.stdout is not None
    job = {"argv": list(argv), "cwd": str(cwd), "env": env, "out": str(out)}
    launcher.stdin.write(json.dumps(job) + "\n")
    launcher.stdin.flush()
    line = launcher.stdout.readline()
    if not line:
        raise BenchmarkFailed("the process that starts the commands died")
    result: dict[str, float] = json.loads(line)
    return result


def run_once(command: Command) -> Run:
    """Run the command to its end; its output (stdout and stderr) goes through a file."""
    with tempfile.TemporaryDirectory(prefix="spread-bench-out-") as tmp:
        out = Path(tmp) / "output"
        result = _launch(command.argv, command.cwd, command.env, out)
        output = out.read_bytes().decode("utf-8", "replace")
    status = int(result["status"])
    if status != 0:
        raise BenchmarkFailed(
            f"{command.label} failed (exit status {status}): "
            f"{' '.join(command.argv)} in {command.cwd}\n{_tail(output)}"
        )
    problem = command.check(output)
    if problem:
        raise BenchmarkFailed(f"{command.label}: {problem}\n{_tail(output)}")
    peak = result["maxrss"] / 1024
    return Run(result["wall"], result["user"], result["system"], peak, output)


def alternate(commands: Sequence[Command], rounds: int, warmup: int = 1) -> list[Series]:
    """Run the commands in turn, `warmup` uncounted rounds first, then `rounds` counted."""
    series = [Series(command) for command in commands]
    for index in range(warmup + rounds):
        for one in series:
            run = run_once(one.command)
            if index >= warmup:
                one.runs.append(run)
        _progress(f"  round {index + 1 - warmup}/{rounds}" if index >= warmup else "  warm-up")
    return series


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _tail(output: str, lines: int = 30) -> str:
    return "\n".join(output.rstrip().splitlines()[-lines:])


def count_lines(expected: int) -> Check:
    """The output must have exactly `expected` non-empty lines that are job names."""

    def check(output: str) -> str:
        names = [
            line
            for line in output.splitlines()
            if line and not line.startswith(("warning:", " ", "\t"))
        ]
        return "" if len(names) == expected else f"{len(names)} jobs listed, not {expected}"

    return check


def spread_succeeded(jobs: int) -> Check:
    """Spread's final report must say that `jobs` tasks succeeded, and nothing failed."""

    def check(output: str) -> str:
        if f"Successful tasks: {jobs}\n" not in output:
            return f"the report does not say 'Successful tasks: {jobs}'"
        if "Failed tasks" in output or "Error " in output:
            return "something failed or reported an error"
        return ""

    return check


def pytest_passed(jobs: int) -> Check:
    """pytest's summary must say that `jobs` tests passed, and nothing else."""

    def check(output: str) -> str:
        last = output.strip().splitlines()[-1] if output.strip() else ""
        return "" if last.startswith(f"{jobs} passed") else f"last line {last!r}"

    return check

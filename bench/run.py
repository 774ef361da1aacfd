#!/usr/bin/env python3
"""pytest-spread benchmarks: run them all and print one table.

    python bench/run.py                 # every benchmark (best of 3), then makespans
    python bench/run.py --repeat 1 list-snapd
    python bench/run.py makespan        # only the makespan table (bench/makespan.py)

Each benchmark runs a command in a fresh process and records its wall time
and its peak resident memory (the process's own maximum RSS).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

from table import print_table  # noqa: E402

from pytest_spread.backends.sandbox import Machine, start_machine  # noqa: E402

CORPUS = (ROOT / ".." / "shared" / "corpus").resolve()
PYTHON = sys.executable


@dataclass
class Result:
    seconds: float
    peak_mb: float
    detail: str


@dataclass
class Benchmark:
    name: str
    what: str
    target: str
    reference: str
    setup: Callable[[Path], Path]  # makes the project under the work dir, returns it
    run: Callable[[Path], Result]


def measure(argv: list[str], cwd: Path, count_lines: Callable[[str], int]) -> Result:
    """Run `argv` once; wall time, peak RSS and a count taken from its stdout."""
    env = {**os.environ, "LC_ALL": "C"}
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, cwd=cwd, stdout=out, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(argv)} in {cwd}")
    return Result(seconds, usage.ru_maxrss / 1024, f"{count_lines(text)} jobs")


def corpus(name: str) -> Callable[[Path], Path]:
    """A copy of one of the shared corpora (expected lists left out)."""

    def setup(work: Path) -> Path:
        target = work / name
        if not target.exists():
            shutil.copytree(
                CORPUS / name, target, symlinks=True, ignore=shutil.ignore_patterns("expected")
            )
        return target

    return setup


_MACHINE: list[Machine] = []


def machine(work: Path) -> Machine:
    """One real machine (tests/hosts) shared by the run benchmarks."""
    if not _MACHINE:
        _MACHINE.append(start_machine(work / "machine", work / "keys", password="bench-pw"))
    return _MACHINE[0]


def adhoc_project(work: Path, name: str, tasks: int, data: int = 0) -> Path:
    """A project on the machine: `tasks` tasks of `execute: true`, `data` random bytes."""
    target = work / name
    if target.exists():
        return target
    address = machine(work).address
    (target / "tests").mkdir(parents=True)
    (target / "spread.yaml").write_text(
        f"project: {name}\npath: /srv/{name}\n"
        f"backends:\n    adhoc:\n        allocate: ADDRESS {address}\n"
        "        systems:\n            - ubuntu-24.04:\n                password: bench-pw\n"
        "suites:\n    tests/:\n        summary: s\n"
        f"restore: rm -rf /srv/{name}\n"
    )
    for index in range(tasks):
        (target / "tests" / f"t{index}").mkdir()
        (target / "tests" / f"t{index}" / "task.yaml").write_text("summary: t\nexecute: true\n")
    if data:
        (target / "data.bin").write_bytes(os.urandom(data))
    return target


def count_jobs(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith(("=", " ")))


def count_items(text: str) -> int:
    return sum(1 for line in text.splitlines() if "::" in line)


def spread_command() -> str:
    """The `spread` script installed beside this Python."""
    return shutil.which("spread", path=str(Path(PYTHON).parent)) or "spread"


def spread_list(project: Path) -> Result:
    return measure([spread_command(), "-list"], project, count_jobs)


def pytest_collect(project: Path) -> Result:
    argv = [PYTHON, "-m", "pytest", "--spread", "--collect-only", "-q", "-p", "no:cacheprovider"]
    return measure(argv, project, count_items)


def spread_run(project: Path) -> Result:
    return measure([spread_command(), "-seed=1"], project, count_executed)


def pytest_run(project: Path) -> Result:
    argv = [PYTHON, "-m", "pytest", "--spread", "-n0", "-q", "-p", "no:cacheprovider"]
    return measure(argv, project, count_passed)


def count_executed(text: str) -> int:
    return sum(1 for line in text.splitlines() if " Executing " in line)


def count_passed(text: str) -> int:
    last = text.strip().splitlines()[-1] if text.strip() else ""
    return int(last.split()[0]) if last.split() and last.split()[0].isdigit() else 0


BENCHMARKS = [
    Benchmark(
        "list-snapd",
        "spread -list, snapd (147,811 jobs)",
        "< 5 s, < 500 MB",
        "Go: ~50 s, 2.4 GiB",
        corpus("snapd"),
        spread_list,
    ),
    Benchmark(
        "list-snapd-2024",
        "spread -list, snapd 2024 (60,262 jobs)",
        "-",
        "Go: 13.5 s, 0.9 GiB",
        corpus("snapcore-snapd"),
        spread_list,
    ),
    Benchmark(
        "collect-snapd",
        "pytest --spread --collect-only -q, snapd",
        "< 25 s, < 1 GiB",
        "-",
        corpus("snapd"),
        pytest_collect,
    ),
    Benchmark(
        "list-snapcraft",
        "spread -list, snapcraft (1,607 jobs)",
        "-",
        "-",
        corpus("snapcraft"),
        spread_list,
    ),
    Benchmark(
        "run-200-spread",
        "spread: 200 x execute: true, 1 machine, whole run",
        "<= Go",
        "Go: 1.8 s",
        lambda work: adhoc_project(work, "run200", 200),
        spread_run,
    ),
    Benchmark(
        "run-200-pytest",
        "pytest --spread -n0: the same 200 jobs",
        "<= 1.5x Go (2.7 s)",
        "Go: 1.8 s",
        lambda work: adhoc_project(work, "run200", 200),
        pytest_run,
    ),
    Benchmark(
        "upload-100mb",
        "spread: 1 job, project with 100 MB incompressible file",
        "< 5 s",
        "Go: 5.9 s; tar cz | ssh tar xz: 5.4 s",
        lambda work: adhoc_project(work, "upload", 1, data=100_000_000),
        spread_run,
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per benchmark (best kept)")
    options = parser.parse_args()
    chosen = [b for b in BENCHMARKS if not options.names or b.name in options.names]
    with_makespan = not options.names or "makespan" in options.names
    if not chosen and not with_makespan:
        names = [b.name for b in BENCHMARKS] + ["makespan"]
        parser.error("known benchmarks: " + ", ".join(names))
    if chosen:
        print_table(run_benchmarks(chosen, options.repeat))
    if with_makespan:
        from makespan import makespans

        print()
        print_table(makespans([1, 2, 4, 8]))
    return 0


def run_benchmarks(chosen: list[Benchmark], repeat: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        ("benchmark", "what", "best s", "peak MB", "result", "target", "reference")
    ]
    with tempfile.TemporaryDirectory(prefix="spread-bench-") as tmp:
        work = Path(tmp)
        try:
            for bench in chosen:
                project = bench.setup(work)
                results = [bench.run(project) for _ in range(repeat)]
                best = min(results, key=lambda r: r.seconds)
                peak = max(r.peak_mb for r in results)
                rows.append(
                    (
                        bench.name,
                        bench.what,
                        f"{best.seconds:.2f}",
                        f"{peak:.0f}",
                        best.detail,
                        bench.target,
                        bench.reference,
                    )
                )
                print(f"done: {bench.name}", file=sys.stderr, flush=True)
        finally:
            for started in _MACHINE:
                started.stop()
    return rows


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""pytest-spread benchmarks: run them all and print one table.

    python bench/run.py                 # every benchmark, best of 3
    python bench/run.py --repeat 1 list-snapd

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
    corpus: str
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


def count_jobs(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith(("=", " ")))


def count_items(text: str) -> int:
    return sum(1 for line in text.splitlines() if "::" in line)


def spread_list(project: Path) -> Result:
    spread = shutil.which("spread", path=str(Path(PYTHON).parent)) or "spread"
    return measure([spread, "-list"], project, count_jobs)


def pytest_collect(project: Path) -> Result:
    argv = [PYTHON, "-m", "pytest", "--spread", "--collect-only", "-q", "-p", "no:cacheprovider"]
    return measure(argv, project, count_items)


BENCHMARKS = [
    Benchmark(
        "list-snapd",
        "spread -list, snapd (147,811 jobs)",
        "< 5 s, < 500 MB",
        "Go: ~50 s, 2.4 GiB",
        "snapd",
        spread_list,
    ),
    Benchmark(
        "list-snapd-2024",
        "spread -list, snapd 2024 (60,262 jobs)",
        "-",
        "Go: 13.5 s, 0.9 GiB",
        "snapcore-snapd",
        spread_list,
    ),
    Benchmark(
        "collect-snapd",
        "pytest --spread --collect-only -q, snapd",
        "< 25 s, < 1 GiB",
        "-",
        "snapd",
        pytest_collect,
    ),
    Benchmark(
        "list-snapcraft", "spread -list, snapcraft (1,607 jobs)", "-", "-", "snapcraft", spread_list
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
    if not chosen:
        parser.error("known benchmarks: " + ", ".join(b.name for b in BENCHMARKS))
    rows = [("benchmark", "what", "best s", "peak MB", "result", "target", "reference")]
    with tempfile.TemporaryDirectory(prefix="spread-bench-") as tmp:
        work = Path(tmp)
        for corpus in sorted({b.corpus for b in chosen}):
            shutil.copytree(
                CORPUS / corpus,
                work / corpus,
                symlinks=True,
                ignore=shutil.ignore_patterns("expected"),
            )
        for bench in chosen:
            results = [bench.run(work / bench.corpus) for _ in range(options.repeat)]
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
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        print(" | ".join(cells).rstrip())
        if index == 0:
            print("-+-".join("-" * width for width in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main())

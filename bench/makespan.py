#!/usr/bin/env python3
"""Makespan of parallel runs against the lower bound, with and without known durations.

    python bench/makespan.py                 # 1, 2, 4 and 8 workers
    python bench/makespan.py --workers 4

400 jobs of `sleep` (varied lengths, 0.02 s to 1 s) on 8 lanes: 8 systems
of an adhoc backend whose machines are real local ones (pytest_spread.backends.sandbox,
started beforehand and handed out from a pool). Each lane has its own tasks,
so the lanes' loads differ. `pytest --spread -n W` runs them on W xdist
workers; each system allows up to 8 machines, so workers that finish a lane
help on others.

For comparison, the spread command runs the same jobs in Spread's model: one
worker bound to each system, so a lane with more work ends later.

Each run is made twice in a fresh project: first with nothing known
(the order Spread would use), then with the durations the first run left in
pytest's cache (longest first, lanes by work left). The makespan is the time
from the first job's start to the last job's end; the lower bound is
max(longest job, total job time / workers), from the jobs' measured times
(a job's time includes the machine allocation it waited for).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from table import print_table  # noqa: E402

from pytest_spread.backends.sandbox import Machine, start_machine  # noqa: E402
from pytest_spread.command.runner import run_jobs  # noqa: E402
from pytest_spread.machines.source import PoolOptions  # noqa: E402
from pytest_spread.project.loader import load_project  # noqa: E402
from pytest_spread.project.matrix import build_matrix  # noqa: E402
from pytest_spread.project.order import Hints  # noqa: E402
from pytest_spread.run import durations  # noqa: E402

LANES = 8
JOBS = 400
PASSWORD = "bench-pw"


def sleeps(seed: int = 5) -> list[float]:
    """Varied job lengths: many short jobs, a few long ones."""
    rng = random.Random(seed)
    return [round(min(1.0, 0.02 + rng.expovariate(1 / 0.1)), 2) for _ in range(JOBS)]


def write_project(root: Path, pool: Path, workers: int = 8) -> Path:
    """400 tasks, each on one of the 8 systems; machines come from the `pool` directory."""
    project = root
    (project / "tests").mkdir(parents=True)
    systems = "".join(
        f"            - lane-{n}:\n"
        f"                workers: {workers}\n"
        f"                password: {PASSWORD}\n"
        for n in range(1, LANES + 1)
    )
    # Machines are files in the pool directory; renaming one claims it, no lock needed.
    claim = f"{pool}.claimed/$$"
    take = (
        f'mkdir -p {pool}.claimed; for f in {pool}/*; do mv "$f" {claim} 2>/dev/null && '
        f"{{ cat {claim}; rm {claim}; break; }}; done"
    )
    give_back = f"echo $SPREAD_SYSTEM_ADDRESS > {pool}/${{SPREAD_SYSTEM_ADDRESS#*:}}"
    (project / "spread.yaml").write_text(
        "project: makespan\npath: /srv/makespan\n"
        "backends:\n    local:\n        type: adhoc\n"
        f'        allocate: ADDRESS "$({take})"\n'
        f"        discard: {give_back}\n"
        f"        systems:\n{systems}"
        "suites:\n    tests/:\n        summary: s\n"
        "restore: rm -rf /srv/makespan\n"
    )
    lanes = random.Random(7)
    for index, seconds in enumerate(sleeps()):
        task = project / "tests" / f"t{index:03}"
        task.mkdir()
        lane = lanes.randint(1, LANES)
        (task / "task.yaml").write_text(
            f"summary: t\nsystems: [lane-{lane}]\nexecute: sleep {seconds}\n"
        )
    return project


def bounds(spans: list[tuple[float, float]], workers: int) -> tuple[float, float]:
    """(makespan, lower bound) of jobs that ran over these (start, end) spans."""
    if len(spans) != JOBS:
        raise SystemExit(f"{len(spans)} of {JOBS} jobs ran")
    makespan = max(end for _, end in spans) - min(start for start, _ in spans)
    lengths = [end - start for start, end in spans]
    return makespan, max(max(lengths), sum(lengths) / workers)


def spread_once(project: Path) -> tuple[float, float]:
    """One run of the spread command's runner (Spread's model: workers bound to systems)."""
    matrix = build_matrix(load_project(project))
    cache = durations.cache_file(project)
    timings: dict[str, tuple[float, float]] = {}
    hints = Hints(durations=durations.load(cache))
    report = run_jobs(matrix, matrix.jobs, PoolOptions(), 1, lambda _: None, hints, timings)
    if not report.ok:
        raise SystemExit(f"the run failed: {report.messages()}")
    durations.save(cache, durations.spans(timings), {job.name for job in matrix.jobs})
    workers = sum(
        system.workers
        for backend in matrix.project.backends.values()
        for system in backend.systems.values()
    )
    return bounds(list(timings.values()), workers)


def pytest_once(project: Path, workers: int) -> tuple[float, float]:
    """One `pytest --spread -n workers` run: (makespan, lower bound)."""
    log = project / "makespan.log"
    log.unlink(missing_ok=True)
    env = {**os.environ, "MAKESPAN_LOG": str(log), "PYTHONPATH": str(HERE)}
    argv = [sys.executable, "-m", "pytest", "--spread", "-n", str(workers), "-q"]
    argv += ["-p", "makespan_probe", "-p", "no:randomly"]
    done = subprocess.run(argv, cwd=project, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the run failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    spans = []
    for line in log.read_text().splitlines():
        start, end, _ = line.split(maxsplit=2)
        spans.append((float(start), float(end)))
    return bounds(spans, workers)


def makespans(counts: list[int]) -> list[tuple[str, ...]]:
    """The table rows (header first) for these worker counts."""
    rows: list[tuple[str, ...]] = [
        ("run", "workers", "durations", "makespan s", "lower bound s", "ratio", "target")
    ]
    machines: list[Machine] = []
    with tempfile.TemporaryDirectory(prefix="spread-makespan-") as tmp:
        work = Path(tmp)
        pool = work / "pool"
        pool.mkdir()
        try:
            for index in range(max(counts) + 2):
                machines.append(start_machine(work / f"m{index}", work / "keys", password=PASSWORD))
                (pool / str(machines[-1].port)).write_text(f"{machines[-1].address}\n")
            runs: list[tuple[str, int, Path, Callable[[Path], tuple[float, float]]]] = [
                (
                    f"pytest -n {n}",
                    n,
                    write_project(work / f"n{n}", pool),
                    partial(pytest_once, workers=n),
                )
                for n in counts
            ]
            spread = write_project(work / "spread", pool, workers=1)
            runs.append(("spread, 1 per system", LANES, spread, spread_once))
            for name, workers, project, run in runs:
                for label in ("unknown", "known"):
                    makespan, bound = run(project)
                    target = "<= 1.10" if label == "known" and name.startswith("pytest") else "-"
                    ratio = f"{makespan / bound:.3f}"
                    cells = (name, str(workers), label, f"{makespan:.2f}", f"{bound:.2f}")
                    rows.append((*cells, ratio, target))
                    print(f"done: {name}, {label}", file=sys.stderr, flush=True)
        finally:
            for machine in machines:
                machine.stop()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, action="append", help="xdist workers")
    options = parser.parse_args()
    print_table(makespans(options.workers or [1, 2, 4, 8]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

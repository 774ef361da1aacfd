#!/usr/bin/env python3
"""Makespan of parallel runs against a lower bound from the declared work.

    python bench/makespan.py                  # W = 8 workers
    python bench/makespan.py --workers 16     # W = 16 as well

400 jobs of `sleep S` (S from 0.02 s to 1 s, many short, a few long) on 8
systems of an adhoc backend whose machines are local sandbox machines handed
out from a pool. Every job is pinned to one system, so the systems' loads
differ. With W workers in all:

- bound to systems (Spread's model, W/8 `workers:` per system): the Go tool,
  our `spread` command and `pytest --spread -n W` on the same project;
- free to move (every system allows W workers; pytest's xdist scheduler
  sends its W nodes where most work is left): `pytest --spread -n W`,
  without and with job durations.

The makespan is the whole command's wall time, start-up and shut-down
included. The lower bound is what no scheduler can beat: the largest of the
longest job, the total work over W and (bound to systems) each system's work
over its workers, where a job's work is its declared sleep plus c, the fixed
cost of a job, measured separately as the smallest per-job cost of the three
commands on trivial jobs (the slope from 1 to 101 jobs on one machine).

"unknown" runs start with no job durations (the order Spread would use).
"known" runs start with the durations our spread command saved after
running a perturbed workload (the same tasks, each sleep scaled by a random
factor from 0.6 to 1.4, another seed): trained on one run, measured on another.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import projects  # noqa: E402
from measure import Command, pytest_passed, run_once, spread_succeeded  # noqa: E402
from table import print_table  # noqa: E402

from pytest_spread.run import durations  # noqa: E402

LANES = 8
JOBS = 400
KNOWN_TARGET = 1.10


def sleeps(seed: int = 5) -> list[float]:
    """Varied job lengths: many short jobs, a few long ones."""
    rng = random.Random(seed)
    return [round(min(1.0, 0.02 + rng.expovariate(1 / 0.1)), 2) for _ in range(JOBS)]


def perturbed(work: list[float], seed: int = 11) -> list[float]:
    """The same jobs, each longer or shorter by a random factor from 0.6 to 1.4."""
    rng = random.Random(seed)
    return [round(s * rng.uniform(0.6, 1.4), 2) for s in work]


def lanes(seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [f"lane-{rng.randint(1, LANES)}" for _ in range(JOBS)]


def write(root: Path, work: list[float], per_system: int, pool: Path) -> Path:
    allocate, discard = projects.pool_scripts(pool)
    pinned = lanes()
    return projects.write_project(
        root,
        tasks={f"t{index:03}": f"sleep {seconds}" for index, seconds in enumerate(work)},
        systems={f"lane-{n}": per_system for n in range(1, LANES + 1)},
        allocate=allocate,
        discard=discard,
        task_systems={f"t{index:03}": lane for index, lane in enumerate(pinned)},
    )


def lower_bound(work: list[float], cost: float, workers: int, per_system: int) -> float:
    """max(longest job, total / workers, each system's work / its workers), cost c per job."""
    jobs = [seconds + cost for seconds in work]
    by_lane: dict[str, float] = {}
    for lane, seconds in zip(lanes(), jobs, strict=True):
        by_lane[lane] = by_lane.get(lane, 0.0) + seconds
    return max(max(jobs), sum(jobs) / workers, max(by_lane.values()) / per_system)


def makespans(go: Path, workers: list[int] | None = None, rounds: int = 1) -> list[tuple[str, ...]]:
    """The table rows (header first) for these total worker counts (multiples of 8)."""
    from run import spread_script

    counts = workers or [8]
    if any(count % LANES for count in counts):
        raise SystemExit(f"worker counts must be multiples of {LANES} (one per system or more)")
    rows: list[tuple[str, ...]] = [
        ("run", "W", "per system", "durations", "makespan s", "bound s", "ratio", "target")
    ]
    with tempfile.TemporaryDirectory(prefix="spread-makespan-") as tmp:
        work_dir = Path(tmp)
        machines = projects.Machines(work_dir)
        home = work_dir / "home"
        home.mkdir()
        env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "LC_ALL": "C"}
        spread = spread_script()
        try:
            cost = per_job_cost(go, spread, machines, work_dir, env)
            print(f"fixed cost per job: {cost * 1000:.1f} ms", file=sys.stderr, flush=True)
            pool = machines.pool("pool", max(counts) + 2)
            for count in counts:
                rows += _runs(go, spread, env, work_dir, pool, count, cost, rounds)
        finally:
            machines.stop()
    return rows


def _runs(
    go: Path,
    spread: str,
    env: dict[str, str],
    work_dir: Path,
    pool: Path,
    count: int,
    cost: float,
    rounds: int,
) -> list[tuple[str, ...]]:
    """The rows for W = count workers.

    Bound to systems (Spread's model: count/8 workers per system) the Go tool,
    our spread command and pytest run the same project; ordering cannot shorten
    a system's work there, so durations play no part. Free to move (every
    system allows all W workers, pytest's xdist scheduler moves its nodes to
    the system with the most work left) pytest runs with and without durations.
    """
    test, training = sleeps(), perturbed(sleeps())
    bound_to = count // LANES
    bound = write(work_dir / f"bound{count}", test, bound_to, pool)
    free = write(work_dir / f"free{count}", test, count, pool)
    trained = train(work_dir / f"train{count}", training, count, pool, spread, env)
    check = spread_succeeded(JOBS)
    pytest = [sys.executable, "-m", "pytest", "--spread", "-n", str(count), "-q"]
    runs: list[tuple[str, Command, int, Path | None]] = [
        ("Go spread", Command("Go", [str(go)], bound, env, check), bound_to, None),
        ("spread", Command("spread", [spread], bound, env, check), bound_to, None),
        (
            f"pytest -n {count}",
            Command("pytest", pytest, bound, env, pytest_passed(JOBS)),
            bound_to,
            None,
        ),
        (
            f"pytest -n {count}",
            Command("pytest", pytest, free, env, pytest_passed(JOBS)),
            count,
            None,
        ),
        (
            f"pytest -n {count}",
            Command("pytest", pytest, free, env, pytest_passed(JOBS)),
            count,
            trained,
        ),
    ]
    rows: list[tuple[str, ...]] = []
    for name, command, per_system, durations_file in runs:
        start = _with_durations(command.cwd, durations_file)
        times = []
        for _ in range(rounds):
            start()
            times.append(run_once(command).wall)
        makespan = statistics.median(times)
        limit = lower_bound(test, cost, count, per_system)
        ratio = makespan / limit
        known = "-" if per_system == bound_to else "known" if durations_file else "unknown"
        target = "-"
        if known == "known":
            target = f"<= {KNOWN_TARGET:.2f}" + ("" if ratio <= KNOWN_TARGET else " NOT MET")
        rows.append(
            (
                name,
                str(count),
                str(per_system),
                known,
                f"{makespan:.2f}",
                f"{limit:.2f}",
                f"{ratio:.3f}",
                target,
            )
        )
        print(f"done: {name}, {per_system} per system, {known}", file=sys.stderr, flush=True)
    return rows


def _with_durations(project: Path, trained: Path | None) -> Callable[[], None]:
    """Before each run: no durations at all, or exactly the trained ones."""

    def start() -> None:
        cache = durations.cache_file(project)
        shutil.rmtree(project / ".pytest_cache", ignore_errors=True)
        if trained is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(trained, cache)

    return start


def train(
    root: Path, work: list[float], per_system: int, pool: Path, spread: str, env: dict[str, str]
) -> Path:
    """Run the perturbed workload once with our spread command; its saved durations."""
    project = write(root, work, per_system, pool)
    run_once(Command("training run", [spread], project, env, spread_succeeded(JOBS)))
    cache = durations.cache_file(project)
    if not cache.exists():
        raise SystemExit("the training run saved no durations")
    return cache


def per_job_cost(
    go: Path, spread: str, machines: projects.Machines, work: Path, env: dict[str, str]
) -> float:
    """The smallest per-job cost of the three commands: (T(101 jobs) - T(1 job)) / 100."""
    machine = machines.start()
    slopes = []
    sizes = (1, 101)
    made = {
        size: projects.write_project(
            work / f"cost{size}",
            tasks=projects.trivial_tasks(size),
            systems={"lane-1": 1},
            allocate=f"ADDRESS {machine.address}",
        )
        for size in sizes
    }
    pytest = [sys.executable, "-m", "pytest", "--spread", "-n0", "-q", "-p", "no:cacheprovider"]
    for argv, check in (
        ([str(go)], spread_succeeded),
        ([spread, "-seed=1"], spread_succeeded),
        (pytest, pytest_passed),
    ):
        walls = {
            size: statistics.median(
                run_once(Command("cost", argv, made[size], env, check(size))).wall for _ in range(3)
            )
            for size in sizes
        }
        slopes.append((walls[101] - walls[1]) / 100)
    return max(0.0, min(slopes))


def main() -> int:
    from run import find_go

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, action="append", help="total workers (8, 16)")
    parser.add_argument("--go", help="the Go tool's spread binary")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each (median)")
    options = parser.parse_args()
    print_table(makespans(find_go(options.go), options.workers, options.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main())

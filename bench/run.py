#!/usr/bin/env python3
"""pytest-spread against the Go tool, side by side in one run: one table.

    python bench/run.py                      # every benchmark, then the makespan table
    python bench/run.py run-200 reboot       # some of them
    python bench/run.py --rounds 3 --go /tmp/go-spread/bin/spread
    python bench/run.py makespan             # only the makespan table (bench/makespan.py)
    python bench/run.py --machines [--qemu]  # plus real LXD (QEMU) machines (bench/machines.py)

Each benchmark runs our command(s) and the Go tool's on the same project and
the same machines, in turn (ours, Go's, ours, Go's ...), after one uncounted
warm-up round, and gives the median wall time of each and the median of the
per-round ratios ours/Go, against a target ratio. Every run is checked: the
job count of a listing, Spread's "Successful tasks: N", pytest's "N passed".

The Go tool is snapcore/spread at ded9133, built by build-go-spread
(`--go PATH`, default /tmp/go-spread/bin/spread); snapd's listing uses the
`spread-openstack` binary built beside it, since snapd declares openstack
backends. Both tools run in the same clean environment (PATH, HOME, LC_ALL=C).
Machines are local sandbox machines (see bench/projects.py).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import projects  # noqa: E402
from measure import (  # noqa: E402
    Command,
    Series,
    alternate,
    count_lines,
    pytest_passed,
    spread_succeeded,
)
from table import print_table  # noqa: E402

from pytest_spread.backends.sandbox import Machine  # noqa: E402

CORPUS = (ROOT / ".." / "shared" / "corpus").resolve()
DEFAULT_GO = Path("/tmp/go-spread/bin/spread")
SNAPD_JOBS = 147_811
SPREAD_TARGET = 0.8  # the spread command: at most 0.8x the Go tool's time
PYTEST_TARGET = 1.0  # pytest --spread: at most the Go tool's time


@dataclass
class Context:
    """What every benchmark needs: the tools, a work directory, the machines."""

    go: Path
    work: Path
    machines: projects.Machines
    rounds: int
    _single: Machine | None = None

    @property
    def env(self) -> dict[str, str]:
        home = self.work / "home"
        home.mkdir(exist_ok=True)
        return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LC_ALL": "C"}

    @property
    def single(self) -> Machine:
        """One machine shared by the single-machine benchmarks."""
        if self._single is None:
            self._single = self.machines.start()
        return self._single

    def go_command(self, project: Path, *args: str, binary: Path | None = None) -> Command:
        argv = [str(binary or self.go), *args]
        return Command("Go spread", argv, project, self.env)

    def spread_command(self, project: Path, *args: str) -> Command:
        return Command("spread", [spread_script(), *args], project, self.env)

    def pytest_command(self, project: Path, workers: int, jobs: int) -> Command:
        argv = [sys.executable, "-m", "pytest", "--spread", "-n", str(workers), "-q"]
        label = f"pytest --spread -n{workers}" if workers else "pytest --spread -n0"
        return Command(label, argv, project, self.env, pytest_passed(jobs))


@dataclass
class Benchmark:
    """A project, the Go tool's command on it and ours, each of ours with its target."""

    name: str
    what: str
    run: Callable[[Context], list[tuple[Command, float | None]]]  # Go's command first
    most_rounds: int = 100  # the Go tool lists snapd in about 35 s: 3 rounds are plenty


def spread_script() -> str:
    """The `spread` script installed beside this Python."""
    found = shutil.which("spread", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("no `spread` command beside this Python: pip install -e . first")
    return found


def list_snapd(ctx: Context) -> list[tuple[Command, float | None]]:
    project = ctx.work / "snapd"
    if not project.exists():
        shutil.copytree(
            CORPUS / "snapd", project, symlinks=True, ignore=shutil.ignore_patterns("expected")
        )
    openstack = ctx.go.with_name("spread-openstack")
    if not openstack.exists():
        raise SystemExit(f"{openstack} is missing: build-go-spread makes it beside {ctx.go}")
    check = count_lines(SNAPD_JOBS)
    go = ctx.go_command(project, "-list", binary=openstack)
    ours = ctx.spread_command(project, "-list")
    return [(_checked(go, check), None), (_checked(ours, check), SPREAD_TARGET)]


def _checked(command: Command, check: Callable[[str], str]) -> Command:
    return Command(command.label, command.argv, command.cwd, command.env, check)


def single_machine(
    name: str, tasks: dict[str, str], data: Callable[[Path], None] | None = None
) -> Callable[[Context], Path]:
    """A project on the shared single machine (written once)."""

    def setup(ctx: Context) -> Path:
        root = ctx.work / name
        if not root.exists():
            allocate = f"ADDRESS {ctx.single.address}"
            projects.write_project(
                root, tasks=tasks, systems={"ubuntu-24.04": 1}, allocate=allocate
            )
            if data is not None:
                data(root / "data.bin")
        return root

    return setup


def run_jobs(
    setup: Callable[[Context], Path], jobs: int, pytest_workers: int | None
) -> Callable[[Context], list[tuple[Command, float | None]]]:
    """Go's whole run, ours, and (unless None) pytest's with that many xdist workers."""

    def run(ctx: Context) -> list[tuple[Command, float | None]]:
        project = setup(ctx)
        check = spread_succeeded(jobs)
        commands: list[tuple[Command, float | None]] = [
            (_checked(ctx.go_command(project), check), None),
            (_checked(ctx.spread_command(project), check), SPREAD_TARGET),
        ]
        if pytest_workers is not None:
            # -n0 has a target; xdist's own start-up (a process per node) makes -nN a reference
            target = PYTEST_TARGET if pytest_workers == 0 else None
            commands.append((ctx.pytest_command(project, pytest_workers, jobs), target))
        return commands

    return run


def four_machines(ctx: Context) -> Path:
    root = ctx.work / "run200x4"
    if not root.exists():
        allocate, discard = projects.pool_scripts(ctx.machines.pool("pool4", 4))
        projects.write_project(
            root,
            tasks=projects.trivial_tasks(200),
            systems={"ubuntu-24.04": 4},
            allocate=allocate,
            discard=discard,
        )
    return root


MB100 = 100 * 1000 * 1000

BENCHMARKS = [
    Benchmark("list-snapd", f"-list, snapd ({SNAPD_JOBS:,} jobs)", list_snapd, most_rounds=3),
    Benchmark(
        "run-200",
        "200 x `execute: true`, 1 machine, whole run",
        run_jobs(single_machine("run200", projects.trivial_tasks(200)), 200, 0),
    ),
    Benchmark(
        "run-200x4",
        "200 x `execute: true`, 4 machines (workers: 4)",
        run_jobs(four_machines, 200, 4),
    ),
    Benchmark(
        "upload-random",
        "1 job, project with 100 MB incompressible",
        run_jobs(
            single_machine("random", {"t": "true"}, lambda p: projects.random_data(p, MB100)),
            1,
            None,
        ),
    ),
    Benchmark(
        "upload-text",
        "1 job, project with 100 MB compressible text",
        run_jobs(
            single_machine("text", {"t": "true"}, lambda p: projects.text_data(p, MB100)),
            1,
            None,
        ),
    ),
    Benchmark(
        "reboot",
        "1 job that reboots its machine once",
        run_jobs(single_machine("reboot", projects.reboot_task()), 1, 0),
    ),
]


def table_rows(
    bench: Benchmark, series: list[Series], targets: list[float | None]
) -> list[tuple[str, ...]]:
    go = series[0]
    rows: list[tuple[str, ...]] = []
    for ours, target in zip(series[1:], targets[1:], strict=True):
        ratio = ours.ratio(go)
        met = "-" if target is None else "met" if ratio <= target else "NOT MET"
        rows.append(
            (
                bench.name,
                ours.command.label,
                f"{ours.wall:.2f}",
                f"{go.wall:.2f}",
                f"{ratio:.2f}",
                "-" if target is None else f"<= {target:.1f}",
                met,
                f"{ours.peak_mb:.0f}",
                f"{go.peak_mb:.0f}",
            )
        )
    return rows


HEADER = ("benchmark", "ours", "ours s", "Go s", "ours/Go", "target", "", "ours MB", "Go MB")


def run_benchmarks(chosen: list[Benchmark], go: Path, rounds: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [HEADER]
    with tempfile.TemporaryDirectory(prefix="spread-bench-") as tmp:
        machines = projects.Machines(Path(tmp))
        ctx = Context(go, Path(tmp), machines, rounds)
        try:
            for bench in chosen:
                print(f"{bench.name}: {bench.what}", file=sys.stderr, flush=True)
                commands = bench.run(ctx)
                rounds_here = min(rounds, bench.most_rounds)
                series = alternate([command for command, _ in commands], rounds_here)
                rows += table_rows(bench, series, [target for _, target in commands])
        finally:
            machines.stop()
    return rows


def find_go(given: str | None) -> Path:
    path = Path(given) if given else DEFAULT_GO
    if not path.is_file():
        how = "--go names no such file" if given else f"{DEFAULT_GO} does not exist"
        raise SystemExit(
            f"error: {how}: build the Go tool with build-go-spread "
            "(../shared/tools/build-go-spread GIT_DIR_OF_SNAPCORE_SPREAD) or give --go PATH"
        )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [bench.name for bench in BENCHMARKS] + ["makespan"]
    parser.add_argument("names", nargs="*", help="benchmarks to run: " + ", ".join(names))
    parser.add_argument("--go", help=f"the Go tool's spread binary (default {DEFAULT_GO})")
    parser.add_argument("--rounds", type=int, default=5, help="counted rounds (default 5)")
    parser.add_argument(
        "--machines", action="store_true", help="also real LXD machines (bench/machines.py)"
    )
    parser.add_argument("--qemu", action="store_true", help="with --machines: QEMU boots too")
    options = parser.parse_args()
    unknown = sorted(set(options.names) - set(names))
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(names)}")
    go = find_go(options.go)
    chosen = [b for b in BENCHMARKS if not options.names or b.name in options.names]
    with_makespan = not options.names or "makespan" in options.names
    if chosen:
        print_table(run_benchmarks(chosen, go, options.rounds))
    if with_makespan:
        from makespan import makespans

        print()
        print_table(makespans(go, rounds=max(1, options.rounds // 2)))
    if options.machines:
        import machines

        print()
        print_table(machines.rows(machines.figures(options.rounds, go, options.qemu)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

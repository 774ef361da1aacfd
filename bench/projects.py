"""The projects and machines the benchmarks run on, the same for both tools.

Machines are real local ones (pytest_spread.backends.sandbox: an overlay of
this computer with its own sshd on a loopback port), started once and handed
out by the projects' adhoc `allocate` scripts, which print `ADDRESS host:port`
as both tools expect. With several machines they wait in a pool directory,
one file each: `allocate` claims one by renaming it, `discard` puts it back.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from pytest_spread.backends.sandbox import Machine, start_machine

PASSWORD = "bench-pw"


class Machines:
    """Sandbox machines started for the benchmarks; `stop()` ends them all."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.started: list[Machine] = []

    def start(self) -> Machine:
        index = len(self.started)
        machine = start_machine(self.work / f"m{index}", self.work / "keys", password=PASSWORD)
        self.started.append(machine)
        return machine

    def pool(self, name: str, count: int) -> Path:
        """A pool directory holding `count` new machines."""
        pool = self.work / name
        pool.mkdir()
        for _ in range(count):
            machine = self.start()
            (pool / str(machine.port)).write_text(f"{machine.address}\n")
        return pool

    def stop(self) -> None:
        for machine in self.started:
            machine.stop()
        self.started.clear()


def pool_scripts(pool: Path) -> tuple[str, str]:
    """adhoc `allocate` and `discard` scripts taking machines from `pool` and giving them back."""
    claimed = f"{pool}.claimed"
    claim = f"{claimed}/$$"
    allocate = (
        f'ADDRESS "$(mkdir -p {claimed}; for f in {pool}/*; do mv "$f" {claim} 2>/dev/null && '
        f'{{ cat {claim}; rm {claim}; break; }}; done)"'
    )
    discard = f"echo $SPREAD_SYSTEM_ADDRESS > {pool}/${{SPREAD_SYSTEM_ADDRESS#*:}}"
    return allocate, discard


def write_project(
    root: Path,
    *,
    tasks: dict[str, str],
    systems: dict[str, int],
    allocate: str,
    discard: str = "",
    task_systems: dict[str, str] | None = None,
) -> Path:
    """A project of one adhoc backend: `tasks` maps a task name to its execute script.

    `systems` maps a system name to its `workers:`; `task_systems` pins a task
    to one system. The project's restore removes its remote copy, so every run
    sends the content to an empty directory.
    """
    name = root.name
    (root / "tests").mkdir(parents=True)
    listed = "".join(
        f"            - {system}:\n"
        f"                workers: {workers}\n"
        f"                password: {PASSWORD}\n"
        for system, workers in systems.items()
    )
    discard_line = f"        discard: {discard}\n" if discard else ""
    (root / "spread.yaml").write_text(
        f"project: {name}\npath: /srv/{name}\n"
        "backends:\n    adhoc:\n"
        f"        allocate: {allocate}\n{discard_line}"
        f"        systems:\n{listed}"
        "suites:\n    tests/:\n        summary: s\n"
        f"restore: rm -rf /srv/{name}\n"
    )
    for task, execute in tasks.items():
        (root / "tests" / task).mkdir()
        pinned = f"systems: [{task_systems[task]}]\n" if task_systems else ""
        body = execute if "\n" not in execute else "|\n    " + execute.replace("\n", "\n    ")
        (root / "tests" / task / "task.yaml").write_text(f"summary: t\n{pinned}execute: {body}\n")
    return root


def trivial_tasks(count: int) -> dict[str, str]:
    return {f"t{index:03}": "true" for index in range(count)}


def reboot_task() -> dict[str, str]:
    """One task that reboots its machine once, then passes."""
    return {"reboot": 'if [ "$SPREAD_REBOOT" = 0 ]; then REBOOT; fi\ntest "$SPREAD_REBOOT" = 1'}


def random_data(path: Path, size: int) -> None:
    """`size` incompressible bytes."""
    with open(path, "wb") as out:
        for _ in range(size // (1 << 20)):
            out.write(os.urandom(1 << 20))


def text_data(path: Path, size: int, seed: int = 3) -> None:
    """`size` bytes of log-like text: gzip makes it about a fifth of its size."""
    rng = random.Random(seed)
    words = [f"{rng.getrandbits(24):06x}" for _ in range(4096)]
    total = 0
    with open(path, "w") as out:  # line by line: a child forked meanwhile stays small
        while total < size:
            line = f"{total:010d} " + " ".join(rng.choices(words, k=12)) + "\n"
            line = line[: size - total]
            out.write(line)
            total += len(line)

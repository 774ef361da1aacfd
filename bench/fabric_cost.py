"""Per-command cost of fabric against pytest-spread's own SSH runner, on one sandbox machine.

    python bench/fabric_cost.py [COMMANDS]     # 200 by default

Both run `true` COMMANDS times over one already open connection, as a job's
scripts do; the figure is the median of five rounds, in milliseconds per command.
"""

from __future__ import annotations

import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_spread.backends.sandbox import start_machine
from pytest_spread.transport.ssh import Connection


def per_command(run: Callable[[], object], count: int) -> float:
    rounds = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(count):
            run()
        rounds.append((time.perf_counter() - started) / count * 1000)
    return statistics.median(rounds)


def main(argv: list[str]) -> int:
    import fabric

    count = int(argv[0]) if argv else 200
    with tempfile.TemporaryDirectory(prefix="fabric-cost-") as temp:
        password = secrets.token_hex(8)
        machine = start_machine(Path(temp) / "m", Path(temp) / "cache", password=password)
        try:
            host, _, port = machine.address.rpartition(":")
            ours = Connection.open(machine.address, "root", password)
            theirs = fabric.Connection(
                host, user="root", port=int(port), connect_kwargs={"password": password}
            )
            theirs.open()
            ours_ms = per_command(lambda: ours.run("true"), count)
            fabric_ms = per_command(lambda: theirs.run("true", hide=True, in_stream=False), count)
            ours.close()
            theirs.close()
        finally:
            machine.stop()
    print(f"pytest-spread transport: {ours_ms:.2f} ms per command")
    print(f"fabric Connection.run:   {fabric_ms:.2f} ms per command ({fabric_ms / ours_ms:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

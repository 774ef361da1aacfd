"""The reuse file (spec §9), alone and shared by the processes of one run (xdist nodes)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from pytest_spread.backends.base import Machine
from pytest_spread.machines.reuse import ReuseFile


def machine(port: int, system: str = "ubuntu") -> Machine:
    return Machine("adhoc", system, f"127.0.0.1:{port}", "", "secret")


def no_log(message: str) -> None:
    raise AssertionError(f"unexpected log: {message}")


@contextmanager
def another_process(path: Path, port: int) -> Iterator[int]:
    """A process that records a machine in the shared file and holds it until the block ends."""
    script = textwrap.dedent(f"""\
        import sys
        from pathlib import Path
        from pytest_spread.machines.reuse import ReuseFile
        from pytest_spread.backends.base import Machine
        reuse = ReuseFile.open(Path({str(path)!r}), print, shared=True)
        reuse.add(Machine("adhoc", "ubuntu", "127.0.0.1:{port}", "", "secret"))
        print("held", flush=True)
        sys.stdin.readline()
    """)
    with subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None and process.stdout.readline() == "held\n"
        try:
            yield process.pid
        finally:
            assert process.stdin is not None
            process.stdin.close()


def test_a_shared_file_names_the_owner_of_each_machine(tmp_path):
    path = tmp_path / ".spread-reuse.1.yaml"
    mine = ReuseFile.open(path, no_log, shared=True)
    mine.add(machine(1))
    with another_process(path, 2) as other:
        entries = yaml.safe_load(path.read_text())["backends"]["adhoc"]["systems"]
        owners = [entry["ubuntu"]["owner"] for entry in entries]
        assert owners[1] == other and owners[0] != other
        # The other process holds its machine: nobody else may take it.
        assert mine.reserve("adhoc", "ubuntu") is None
        assert mine.orphans() == []
    # Its owner is gone: the machine is an orphan now, taken by whoever asks first.
    (orphan,) = mine.orphans()
    assert orphan.address == "127.0.0.1:2"
    assert mine.orphans() == []
    mine.remove(orphan)
    mine.close(delete=True)
    assert path.exists()  # machine 1 is still recorded: a shared file stays


def test_a_shared_file_is_deleted_when_empty(tmp_path):
    path = tmp_path / ".spread-reuse.1.yaml"
    with another_process(path, 3):
        pass
    reuse = ReuseFile.open(path, no_log, shared=True)
    (orphan,) = reuse.orphans()
    reuse.remove(orphan)
    reuse.close(delete=True)
    assert not path.exists()


def test_released_machines_are_free_for_the_next_run(tmp_path):
    path = tmp_path / ".spread-reuse.yaml"
    first = ReuseFile.open(path, no_log, shared=True)
    first.add(machine(4))
    first.release(first.machines[0])
    assert "owner" not in path.read_text()
    second = ReuseFile.open(path, no_log, shared=True)
    reserved = second.reserve("adhoc", "ubuntu")
    assert reserved is not None and reserved.address == "127.0.0.1:4"
    assert first.reserve("adhoc", "ubuntu") is None  # the same process: held already
    first.close(delete=False)
    second.close(delete=False)


def test_a_single_process_file_has_no_owners_and_stays_locked(tmp_path):
    path = tmp_path / ".spread-reuse.yaml"
    reuse = ReuseFile.open(path, no_log)
    reuse.add(machine(5))
    assert "owner" not in path.read_text()
    assert yaml.safe_load(path.read_text()) == {
        "backends": {
            "adhoc": {"systems": [{"ubuntu": {"password": "secret", "address": "127.0.0.1:5"}}]}
        }
    }
    waits: list[str] = []
    blocked = threading.Thread(
        target=lambda: ReuseFile.open(path, waits.append).close(delete=False)
    )
    blocked.start()
    blocked.join(3.5)
    assert waits == ["Waiting for another process to release reuse lock."]
    reuse.close(delete=False)
    blocked.join(5)
    assert not blocked.is_alive()


def test_many_threads_recording_at_once_lose_nothing(tmp_path):
    path = tmp_path / ".spread-reuse.9.yaml"
    reuse = ReuseFile.open(path, no_log)
    threads = [threading.Thread(target=reuse.add, args=(machine(port),)) for port in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = yaml.safe_load(path.read_text())["backends"]["adhoc"]["systems"]
    assert sorted(entry["ubuntu"]["address"] for entry in entries) == sorted(
        f"127.0.0.1:{port}" for port in range(64)
    )
    assert not path.with_name(path.name + ".new").exists()
    reuse.close(delete=True)
    assert not path.exists()

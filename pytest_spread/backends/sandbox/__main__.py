"""`python -m pytest_spread.backends.sandbox start|stop|list|cat`: machines for adhoc backends.

    SPREAD_PASSWORD=secret python -m pytest_spread.backends.sandbox start   # prints ADDRESS
    python -m pytest_spread.backends.sandbox stop ADDRESS
    python -m pytest_spread.backends.sandbox stop --all
    python -m pytest_spread.backends.sandbox list
    python -m pytest_spread.backends.sandbox cat ADDRESS /root/log

A started machine lives (and comes back from its reboots) until `stop`. The
root password comes from $SPREAD_PASSWORD (Spread sets it for allocate scripts)
or, with --password-stdin, from the first line of stdin: never from the
command line, where `ps` would show it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from . import machine, state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_spread.backends.sandbox", description="Disposable local machines."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a machine and print its address")
    start.add_argument("--password-stdin", action="store_true", help="read the password on stdin")
    start.add_argument(
        "--network",
        action="store_true",
        help="outbound network through slirp4netns (default: only lo)",
    )
    start.add_argument("password", nargs="?", help=argparse.SUPPRESS)
    stop = commands.add_parser("stop", help="discard machines")
    stop.add_argument("addresses", nargs="*", metavar="ADDRESS")
    stop.add_argument("--all", action="store_true", help="every machine this command started")
    commands.add_parser("list", help="the running machines")
    cat = commands.add_parser("cat", help="print a file of a machine")
    cat.add_argument("address", metavar="ADDRESS")
    cat.add_argument("path", metavar="PATH")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        return _fail("the sandbox needs root (namespaces, mounts and sshd)")
    try:
        if args.command == "start":
            return _start(args.password, args.password_stdin, args.network)
        if args.command == "stop":
            if not args.addresses and not args.all:
                return _fail("stop: name the machines' addresses, or --all")
            return _stop(args.addresses, args.all)
        if args.command == "list":
            return _list()
        return _cat(args.address, args.path)
    except state.UnsafeStateError as exc:
        return _fail(f"refusing the sandbox state directory: {exc}")


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 1


def _start(argument: str | None, from_stdin: bool, network: bool) -> int:
    if argument is not None:
        return _fail(
            "start: the password is not taken from the command line (ps shows it to everyone):"
            " set SPREAD_PASSWORD or use --password-stdin"
        )
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = os.environ.get("SPREAD_PASSWORD", "")
    if not password:
        return _fail("start: no password: set SPREAD_PASSWORD or use --password-stdin")
    directory = state.state_dir()
    os.close(state.open_state_dir(directory))
    workdir = Path(tempfile.mkdtemp(prefix="machine-", dir=directory))
    try:
        key = machine.host_key(directory / "keys")
        started = machine.launch(
            workdir, key, password=password, network=network, state_dir=directory
        )
    except (OSError, RuntimeError, ValueError) as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        return _fail(f"cannot start a local machine: {exc}")
    print(started.address)
    return 0


def _stop(addresses: list[str], everything: bool) -> int:
    dir_fd = state.open_state_dir(state.state_dir())
    try:
        ports = state.records(dir_fd) if everything else [_port(a) for a in addresses]
        for port in ports:
            _stop_one(dir_fd, port)
    except ValueError as exc:
        return _fail(f"stop: {exc}")
    finally:
        os.close(dir_fd)
    return 0


def _port(address: str) -> int:
    port = address.rpartition(":")[2]
    if not port.isdigit():
        raise ValueError(f"not a machine address: {address!r}")
    return int(port)


def _stop_one(dir_fd: int, port: int) -> None:
    """Ask the supervisor to stop; if it cannot answer, kill it (verified) and clean up."""
    try:
        record = state.read_record(dir_fd, f"{port}.json")
    except FileNotFoundError:
        return  # already discarded
    workdir = Path(record["workdir"])
    if workdir.parent != state.state_dir():
        raise state.UnsafeStateError(f"record {port}.json names a directory outside the state")
    try:
        machine.Machine(workdir, port, "")._request("stop")
    except OSError:
        if state.kill_verified(int(record["pid"]), int(record["start"])):
            time.sleep(0.1)  # its machine ends when it sees its supervisor gone
        shutil.rmtree(workdir, ignore_errors=True)
        state.remove_record(dir_fd, port)


def _list() -> int:
    dir_fd = state.open_state_dir(state.state_dir())
    try:
        for port in state.records(dir_fd):
            try:
                record = state.read_record(dir_fd, f"{port}.json")
                status = machine.Machine(Path(record["workdir"]), port, "").status()
                line = f"up    boots={status['boots']}  supervisor={record['pid']}"
            except (OSError, ValueError):
                line = "stale (stop it to clean up)"
            print(f"127.0.0.1:{port}  {line}")
    finally:
        os.close(dir_fd)
    return 0


def _cat(address: str, path: str) -> int:
    try:
        found = machine.attach(address)
        sys.stdout.buffer.write(found.path(path).read_bytes())
    except KeyError:
        return _fail(f"cat: no machine at {address}")
    except OSError as exc:
        return _fail(f"cat: {address}:{path}: {exc.strerror or exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

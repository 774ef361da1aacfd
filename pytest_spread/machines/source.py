"""Machines for the workers of a run: allocation, project content and the reuse file.

A MachineSource is shared by a run's workers (threads of the spread command,
or the one worker of a pytest process): it allocates through the backend's
provider, sends the project content (packed once) and records every machine
in the reuse file. Thread-safe.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pytest_spread.backends.base import AllocationError, Machine, Provider
from pytest_spread.backends.registry import discard_machine, make_provider
from pytest_spread.errors import SpreadError
from pytest_spread.interrupts import shielded
from pytest_spread.log import add_secret
from pytest_spread.machines.reuse import ReuseFile, reuse_path
from pytest_spread.project.matrix import Job, Matrix
from pytest_spread.run.content import Content, ContentError, describe_size, is_empty, pack, send
from pytest_spread.run.execute import ScriptRunner
from pytest_spread.run.report import Report
from pytest_spread.run.worker import MachineWorker, RunOptions
from pytest_spread.transport.retry import retry, stopped
from pytest_spread.transport.ssh import Connection, HostKeyError, RemoteError
from pytest_spread.transport.sudo import as_root

Log = Callable[[str], None]


@dataclass
class PoolOptions:
    password: str = ""
    allocate_timeout: float = 300.0
    connect_timeout: float = 60.0
    reuse: bool = False  # keep machines and track them in .spread-reuse.yaml
    reuse_pid: int = 0  # use the machines a crashed run recorded
    resend: bool = False  # send the project again to reused machines
    run_pid: int = 0  # the xdist controller's pid: its nodes share the reuse file it names
    run: RunOptions = field(default_factory=RunOptions)

    def reuse_path(self, project_dir: Path, *, discard: bool = False) -> Path:
        """The reuse file of this run (spec §9), or the one `-discard` empties."""
        return reuse_path(
            project_dir,
            reuse=self.reuse,
            reuse_pid=self.reuse_pid,
            discard=discard,
            run_pid=0 if discard else self.run_pid,
        )


@dataclass
class Lane:
    """A worker's machine on one lane, connected, with its lifecycle state."""

    machine: Machine
    connection: Connection
    worker: MachineWorker


class MachineSource:
    """What the workers of a run share: providers, packed content, the reuse file."""

    def __init__(self, matrix: Matrix, backends: list[str], options: PoolOptions, log: Log):
        self.matrix = matrix
        self.backends = backends  # the backends with selected jobs (SPREAD_BACKENDS)
        self.options = options
        self.password = options.password or secrets.token_hex(8)
        add_secret(self.password)
        self.log = log
        self._lock = threading.RLock()
        self._providers: dict[str, Provider] = {}
        self._content: Content | None = None
        self._reuse: ReuseFile | None = None
        self._abandoned = False
        self._in_flight = 0  # allocations under way
        self._settled = threading.Condition(self._lock)

    @property
    def reuse_file(self) -> ReuseFile:
        """The run's reuse file, opened (and locked) on first need."""
        with self._lock:
            if self._reuse is None:
                options = self.options
                path = options.reuse_path(self.matrix.project.dir)
                self._reuse = ReuseFile.open(path, self.log, shared=bool(options.run_pid))
                if not (options.reuse or options.reuse_pid or options.run_pid):
                    self.log(
                        f"If killed, discard servers with: spread -reuse-pid={os.getpid()} -discard"
                    )
            return self._reuse

    def start(self, job: Job, report: Report) -> Lane:
        """A machine for the job's lane, with the project on it and a fresh worker."""
        reuse = self.reuse_file
        content = self._packed()
        found = self._reuse_tracked(job, content)
        if found is not None:
            machine, connection = found
        else:
            if self.options.reuse and reuse.tracked(job.backend.name, job.system.name):
                # Spread does not allocate beside tracked machines it could not use.
                raise SpreadError(f"cannot reuse any tracked {job.lane} machine")
            # Until the machine is recorded, a second Ctrl-C waits: it must not be lost.
            with shielded(), self._allocating():
                machine = self._allocate(job)
                reuse.add(machine)
                if stopped():  # interrupted while allocating: the machine goes at once
                    self.discard(machine)
                    raise SpreadError(f"cannot allocate {job.lane}: interrupted")
            connection = self._prepared(machine, content)

        def reconnect() -> Connection:
            return _login(machine, timeout=5)

        runner = ScriptRunner(
            machine, connection, self.matrix, self.log, reconnect, self.options.run.shells
        )
        worker = MachineWorker(runner, report, self.options.run)
        return Lane(machine, connection, worker)

    def discard(self, machine: Machine) -> None:
        """Discard the machine, or keep it recorded for reuse (-reuse)."""
        with self._lock:
            if self._abandoned and (self._reuse is None or not self._reuse.holds(machine)):
                return  # discarded already by abandon()
        if self.options.reuse:
            self.log(f"Keeping {machine} at {machine.address}")
            self.reuse_file.release(machine)
            self.options.run.observer.machine_event("kept", machine)
            return
        with shielded():  # a second Ctrl-C must not cut a discard short
            discard_machine(self.provider(machine.backend), machine, self.log)
            self.reuse_file.remove(machine)
        self.options.run.observer.machine_event("discarded", machine)

    def abandon(self) -> None:
        """Discard every machine the run holds at once, whatever its worker is doing."""
        with self._lock:
            self._abandoned = True
            held = self._reuse.held() if self._reuse is not None else []
            providers = list(self._providers.values())
        for provider in providers:
            interrupt = getattr(provider, "interrupt", None)  # cloud machines being allocated
            if interrupt is not None:
                interrupt()
        for machine in held:
            self.discard(machine)

    @contextmanager
    def _allocating(self) -> Iterator[None]:
        with self._lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1
                self._settled.notify_all()

    def close(self) -> None:
        """Discard what no worker took over, then release the content and the reuse file.

        Allocations still under way are waited for first (their machines are
        discarded as soon as they are recorded). A machine allocated but never
        handed to a worker (an interrupt came between) is discarded here. The
        reuse file is deleted unless reusing, and kept while it still lists a
        machine of this run, so that `spread -reuse-pid=N -discard` finds it.
        """
        with self._lock:
            if self._in_flight:
                self.log(f"Waiting for {self._in_flight} allocation(s) to discard them...")
            while self._in_flight:
                self._settled.wait()
            left = self._reuse.held() if self._reuse is not None else []
        for machine in left:
            try:
                self.discard(machine)
            except Exception as exc:  # the rest still goes
                self.log(f"Error discarding {machine}: {exc}")
        with self._lock:
            self._abandoned = True  # late discards of abandoned workers are no-ops
            if self._content is not None:
                self._content.close()
                self._content = None
            if self._reuse is not None:
                alive = self._reuse.held()  # not discarded: keep the way to discard them
                if alive and not self.options.reuse:
                    self.log(f"Keeping {self._reuse.path.name}: it lists machines not discarded")
                self._reuse.close(delete=not self.options.reuse and not alive)
                self._reuse = None

    def provider(self, backend_name: str) -> Provider:
        with self._lock:
            provider = self._providers.get(backend_name)
            if provider is None:
                backend = self.matrix.project.backends[backend_name]
                provider = make_provider(
                    backend,
                    self.matrix.project.dir,
                    self.password,
                    self.log,
                    # the adhoc SSH wait honours both limits
                    min(self.options.allocate_timeout, self.options.connect_timeout),
                    reuse=self.options.reuse,
                )
                self._providers[backend_name] = provider
            return provider

    # -- allocation ------------------------------------------------------------

    def _prepared(self, machine: Machine, content: Content) -> Connection:
        """Connect to a new machine and send it the project (discarding it on failure)."""
        try:
            connection = self._connect(machine)
            try:
                self.log(f"Sending project content to {machine}...")
                send(connection, self.matrix.remote_path, content, machine.sudo)
            except (ContentError, RemoteError) as exc:
                connection.close()
                self.log(f"Discarding {machine}, cannot send project content: {exc}")
                raise SpreadError(f"cannot send project content to {machine}: {exc}") from exc
        except SpreadError:
            self.discard(machine)
            raise
        return connection

    def _reuse_tracked(self, job: Job, content: Content) -> tuple[Machine, Connection] | None:
        """A machine a previous run left for this lane, connected and with the project."""
        if not (self.options.reuse or self.options.reuse_pid):
            return None
        while (machine := self.reuse_file.reserve(job.backend.name, job.system.name)) is not None:
            self.log(f"Reusing {machine}...")
            try:
                connection = _login(machine)
                self._refresh_content(machine, connection, content)
            except (RemoteError, ContentError) as exc:
                if self.options.reuse:
                    self.log(f"Cannot reuse {machine.system} at {machine.address}: {exc}")
                else:
                    self.log(f"Discarding {machine}: {exc}")
                    self.discard(machine)
                continue
            self.options.run.observer.machine_event("reused", machine)
            return machine, connection
        return None

    def _refresh_content(self, machine: Machine, connection: Connection, content: Content) -> None:
        path, sudo = self.matrix.remote_path, machine.sudo
        if self.options.resend:
            self.log(f"Removing project data from {machine} at {path}...")
            result = connection.run(as_root(f'rm -rf "{path}"', sudo))
            if result.status != 0:
                self.log(f"Cannot remove project data from {machine}: {result.text.strip()}")
        if not is_empty(connection, path, sudo):
            self.log(f"Reusing project data on {machine}...")
            return
        self.log(f"Sending project content to {machine}...")
        send(connection, path, content, sudo)

    def _packed(self) -> Content:
        with self._lock:
            if self._content is None:
                self._content = pack(self.matrix, self.backends, self.log)
                size = describe_size(self._content.size)
                self.log(f"Project content is packed for delivery ({size}).")
            return self._content

    def _allocate(self, job: Job) -> Machine:
        try:
            provider = self.provider(job.backend.name)
        except AllocationError as exc:
            self.log(f"Cannot allocate {job.lane}: {exc}")
            raise SpreadError(f"cannot allocate {job.lane}: {exc}") from None
        username, password = self.matrix.credentials.get(job.lane, ("", ""))
        password = password or self.password
        self.log(f"Allocating {job.lane}...")
        errors_seen: list[str] = []

        def note(exc: AllocationError) -> None:
            if not errors_seen or errors_seen[-1] != str(exc):
                self.log(f"Cannot allocate {job.lane}: {exc}")
                errors_seen.append(str(exc))

        try:
            machine = retry(
                lambda: provider.allocate(job.system, username, password),
                errors=AllocationError,
                timeout=self.options.allocate_timeout,
                interval=5.0,
                on_error=note,
                give_up=lambda exc: exc.fatal,
            )
        except AllocationError as exc:
            if stopped():
                self.log(f"Cannot allocate {job.lane}: interrupted")
                raise SpreadError(f"cannot allocate {job.lane}: interrupted") from None
            note(exc)
            raise SpreadError(f"cannot allocate {job.lane}: {exc}") from None
        self.log(f"Allocated {machine}.")
        self.options.run.observer.machine_event("allocated", machine)
        return machine

    def _connect(self, machine: Machine) -> Connection:
        self.log(f"Connecting to {machine}...")
        try:
            connection = retry(
                lambda: _login(machine),
                errors=RemoteError,
                timeout=self.options.connect_timeout,
                interval=0.2,
                give_up=lambda exc: isinstance(exc, HostKeyError),
            )
        except RemoteError as exc:
            self.log(f"Discarding {machine}, cannot connect: {exc}")
            raise
        self.log(f"Connected to {machine} at {machine.address}.")
        return connection


def _login(machine: Machine, timeout: float = 10.0) -> Connection:
    """An SSH connection to the machine as its user (root when it names none)."""
    return Connection.open(
        machine.address, machine.username or "root", machine.password, timeout=timeout
    )

"""The machines of one process: one per lane (backend:system), allocated on first need.

Each machine gets the project content once and a MachineWorker that keeps
Spread's lifecycle state; `close()` restores and discards everything this
process allocated, whatever happened before.
"""

from __future__ import annotations

import importlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .backends.base import AllocationError, Machine, Provider
from .errors import SpreadError
from .project.matrix import Job, Matrix
from .remote import Connection, RemoteError
from .run.content import Content, ContentError, describe_size, pack, send
from .run.execute import ScriptRunner
from .run.outcomes import JobAborted
from .run.report import Report
from .run.worker import MachineWorker, RunOptions

PROVIDERS = {"adhoc": "pytest_spread.backends.adhoc:AdhocProvider"}
Log = Callable[[str], None]


@dataclass
class PoolOptions:
    password: str = ""
    allocate_timeout: float = 300.0
    connect_timeout: float = 60.0
    reuse: bool = False
    run: RunOptions = field(default_factory=RunOptions)


@dataclass
class _Lane:
    machine: Machine
    connection: Connection
    worker: MachineWorker


class MachinePool:
    """Allocates, prepares and finally discards this process's machines."""

    def __init__(
        self,
        matrix: Matrix,
        backends: list[str],
        options: PoolOptions,
        log: Log,
        report: Report | None = None,
    ) -> None:
        self.matrix = matrix
        self.backends = backends  # the backends with selected jobs (SPREAD_BACKENDS)
        self.options = options
        self.password = options.password or secrets.token_hex(8)
        self.log = log
        self.report = report if report is not None else Report()
        self._providers: dict[str, Provider] = {}
        self._lanes: dict[str, _Lane] = {}
        self._failed_lanes: dict[str, str] = {}
        self._content: Content | None = None

    def worker_for(self, job: Job) -> MachineWorker:
        """The worker of the job's lane, allocating its machine first if needed."""
        lane = self._lanes.get(job.lane)
        if lane is not None:
            return lane.worker
        if job.lane in self._failed_lanes:
            self.report.aborted += 1
            raise JobAborted(self._failed_lanes[job.lane])
        try:
            lane = self._start_lane(job)
        except SpreadError as exc:
            self._failed_lanes[job.lane] = str(exc)
            self.report.aborted += 1
            raise JobAborted(str(exc)) from None
        self._lanes[job.lane] = lane
        return lane.worker

    def close_lane(self, name: str) -> None:
        """The lane has no more jobs: restore its levels and discard its machine."""
        lane = self._lanes.pop(name, None)
        if lane is None:
            return
        try:
            lane.worker.finish()
        except SpreadError as exc:
            self.log(f"Error restoring {lane.machine}: {exc}")
        finally:
            lane.connection.close()
            self._discard(lane.machine)

    def close(self) -> None:
        """Restore and discard every machine (unless reused); never raises."""
        for name in list(self._lanes):
            self.close_lane(name)
        if self._content is not None:
            self._content.close()

    # -- allocation ------------------------------------------------------------

    def _start_lane(self, job: Job) -> _Lane:
        content = self._packed()
        machine = self._allocate(job)
        try:
            connection = self._connect(machine)
            try:
                self.log(f"Sending project content to {machine}...")
                send(connection, self.matrix.remote_path, content, _sudo(machine))
            except (ContentError, RemoteError) as exc:
                connection.close()
                raise SpreadError(f"cannot send project content to {machine}: {exc}") from exc
        except SpreadError:
            self._discard(machine)
            raise

        def reconnect() -> Connection:
            return Connection.open(
                machine.address, machine.username or "root", machine.password, timeout=5
            )

        runner = ScriptRunner(machine, connection, self.matrix, self.log, reconnect)
        worker = MachineWorker(runner, self.report, self.options.run)
        return _Lane(machine, connection, worker)

    def _packed(self) -> Content:
        if self._content is None:
            self._content = pack(self.matrix, self.backends, self.log)
            size = describe_size(self._content.size)
            self.log(f"Project content is packed for delivery ({size}).")
        return self._content

    def _allocate(self, job: Job) -> Machine:
        try:
            provider = self._provider(job.backend.name)
        except AllocationError as exc:
            raise SpreadError(f"cannot allocate {job.lane}: {exc}") from None
        username, password = self.matrix.credentials.get(job.lane, ("", ""))
        password = password or self.password
        self.log(f"Allocating {job.lane}...")
        deadline = time.monotonic() + self.options.allocate_timeout
        last_error = ""
        while True:
            try:
                machine = provider.allocate(job.system, username, password)
            except AllocationError as exc:
                if str(exc) != last_error:
                    self.log(f"Cannot allocate {job.lane}: {exc}")
                    last_error = str(exc)
                if exc.fatal or time.monotonic() >= deadline:
                    raise SpreadError(f"cannot allocate {job.lane}: {exc}") from None
                time.sleep(min(5.0, max(deadline - time.monotonic(), 0)))
                continue
            self.log(f"Allocated {machine}.")
            return machine

    def _connect(self, machine: Machine) -> Connection:
        self.log(f"Connecting to {machine}...")
        deadline = time.monotonic() + self.options.connect_timeout
        while True:
            try:
                connection = Connection.open(
                    machine.address, machine.username or "root", machine.password
                )
            except RemoteError as exc:
                if time.monotonic() >= deadline:
                    self.log(f"Discarding {machine}, cannot connect: {exc}")
                    raise
                time.sleep(0.2)
                continue
            self.log(f"Connected to {machine} at {machine.address}.")
            return connection

    def _discard(self, machine: Machine) -> None:
        if self.options.reuse:
            self.log(f"Keeping {machine} at {machine.address}")
            return
        self.log(f"Discarding {machine}...")
        try:
            self._provider(machine.backend).discard(machine)
        except SpreadError as exc:
            self.log(f"Error discarding {machine}: {exc}")

    def _provider(self, backend_name: str) -> Provider:
        provider = self._providers.get(backend_name)
        if provider is None:
            backend = self.matrix.project.backends[backend_name]
            target = PROVIDERS.get(backend.type)
            if target is None:
                raise AllocationError(
                    f"the {backend.type} backend is not supported yet", fatal=True
                )
            module, _, name = target.partition(":")
            factory = getattr(importlib.import_module(module), name)
            provider = factory(
                backend,
                self.matrix.project.dir,
                self.password,
                self.log,
                wait=self.options.allocate_timeout,
            )
            self._providers[backend_name] = provider
        return provider


def _sudo(machine: Machine) -> bool:
    return bool(machine.username) and machine.username != "root"

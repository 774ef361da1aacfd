"""The adhoc backend: the project's own allocate and discard scripts (spec §12.5)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from pytest_spread.backends.base import AllocationError, Machine, ProviderBase
from pytest_spread.project.gocompat import go_quote
from pytest_spread.project.model import System
from pytest_spread.transport.local import LocalResult, run_local
from pytest_spread.transport.retry import retry, stopped
from pytest_spread.transport.scripts import find_address, output_error
from pytest_spread.transport.ssh import split_address
from pytest_spread.transport.timeouts import limits

PORT_RELOG = 15.0  # how often a port wait says it is still waiting (Spread's)


class AdhocProvider(ProviderBase):
    """Allocates machines by running the backend's `allocate` script locally."""

    def allocate(self, system: System, username: str, password: str) -> Machine:
        result = self._run(self.backend.allocate, system, username, password, address="")
        marker = result.marker
        if marker is not None and marker.name == "FATAL":
            raise AllocationError(marker.argument, fatal=True)
        if marker is not None and marker.name == "ERROR":
            raise AllocationError(marker.argument)
        if result.status != 0:
            raise AllocationError(_output_error(result.output, result.status))
        address = find_address(result.output) or ""
        if not address or " " in address:
            output = output_error(result.output, "")  # shows why, e.g. a command not found
            detail = f":{output}" if output.startswith("\n") else f": {output}" if output else ""
            raise AllocationError(
                f"backend {go_quote(self.backend.name)} allocate must print "
                f"ADDRESS=<SSH address> to stdout, got: {go_quote(address)}{detail}"
            )
        machine = Machine(self.backend.name, system.name, address, username, password)
        self.log(f"Waiting for {machine} to make SSH available at {address}...")
        try:
            wait_for_port(
                address, self.ssh_wait, lambda exc: self.log(f"Cannot connect to {machine}: {exc}")
            )
        except OSError as exc:
            self.discard(machine)
            reason = "interrupted" if stopped() else str(exc)
            raise AllocationError(f"cannot connect to {machine} at {address}: {reason}") from exc
        return machine

    def discard(self, machine: Machine) -> None:
        system = self.backend.systems[machine.system]
        result = self._run(
            self.backend.discard,
            system,
            machine.username,
            machine.password,
            address=machine.address,
        )
        if result.status != 0:
            raise AllocationError(
                f"cannot discard {machine}: " + _output_error(result.output, result.status)
            )

    def collect_garbage(self) -> None:
        """Adhoc machines are the project's business: nothing to collect."""

    def _run(
        self, script: str, system: System, username: str, password: str, address: str
    ) -> LocalResult:
        env = [
            ("SPREAD_BACKEND", self.backend.name),
            ("SPREAD_SYSTEM", system.name),
            ("SPREAD_SYSTEM_USERNAME", username),
            ("SPREAD_SYSTEM_PASSWORD", password),
            ("SPREAD_SYSTEM_ADDRESS", address),
        ]
        if not system.password:
            env.append(("SPREAD_PASSWORD", self.session_password))
        return run_local(
            script,
            env=env,
            cwd=self.project_dir,
            limits=limits([self.backend.timeouts]),
            label="local script",
            warn=self.log,
        )


def wait_for_port(
    address: str, timeout: float, progress: Callable[[OSError], None] = lambda exc: None
) -> None:
    """Wait until `address` accepts TCP connections; OSError after `timeout` seconds.

    `progress(error)` is called every PORT_RELOG seconds of waiting; an
    interrupted run stops waiting at once.
    """
    host, port = split_address(address)
    relog = time.monotonic() + PORT_RELOG

    def knock() -> None:
        left = max(deadline - time.monotonic(), 0.05)
        socket.create_connection((host, port), timeout=min(left, 1.0)).close()

    def waiting(exc: OSError) -> None:
        nonlocal relog
        if time.monotonic() >= relog:
            relog += PORT_RELOG
            progress(exc)

    deadline = time.monotonic() + timeout
    retry(knock, errors=OSError, timeout=timeout, interval=0.05, on_error=waiting)


def _output_error(output: str, status: int) -> str:
    return output_error(output, f"exit status {status}")

"""What a backend is: something that allocates machines for systems and discards them.

The cut follows Spread's provider interface (allocate, reuse, discard, garbage
collection); everything after allocation (SSH, scripts, content) is common
code that never looks at the backend type.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pytest_spread.errors import SpreadError
from pytest_spread.project.model import Backend, System
from pytest_spread.transport.sudo import needs_sudo


class AllocationError(SpreadError):
    """A machine could not be allocated; `fatal` ones are not retried."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


@dataclass
class Machine:
    """An allocated machine (Spread's "server")."""

    backend: str
    system: str
    address: str
    username: str
    password: str
    name: str = ""  # the backend's own name for it (container, instance...), if any
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def sudo(self) -> bool:
        """Commands on this machine go through `sudo -i` (its user is not root)."""
        return needs_sudo(self.username)

    @property
    def label(self) -> str:
        """The short form used in `(<label>)` of messages."""
        return self.name or f"{self.backend}:{self.system}"

    def __str__(self) -> str:
        lane = f"{self.backend}:{self.system}"
        return f"{lane} ({self.name})" if self.name else lane


class Provider(Protocol):
    """A backend: allocates and discards machines of its systems."""

    backend: Backend

    def allocate(self, system: System, username: str, password: str) -> Machine:
        """A new machine running `system`, reachable over SSH with these credentials."""

    def discard(self, machine: Machine) -> None:
        """Release the machine; it is not used again."""

    def collect_garbage(self) -> None:
        """Release what earlier runs left behind, where the backend can tell."""


class ProviderBase:
    """What every provider keeps of how the run builds it.

    The run builds a provider as `Class(backend, project_dir, password, log,
    wait=seconds)`; a subclass sets up its own state in `_prepare`.
    """

    def __init__(
        self,
        backend: Backend,
        project_dir: Path,
        password: str,
        log: Callable[[str], None],
        wait: float = 300.0,
    ) -> None:
        self.backend = backend
        self.project_dir = project_dir
        self.session_password = password
        self.log = log
        self.ssh_wait = wait  # seconds for a new machine's SSH to answer
        self._prepare()

    def _prepare(self) -> None:
        """The provider's own state (API clients, locks...), the common attributes set."""

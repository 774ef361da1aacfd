"""Disposable local machines: try Spread projects on a bare Linux box, and test with them.

A machine is this computer's root filesystem seen through an overlay (its
writes go to a private layer), in its own mount, PID, UTS, IPC, cgroup and
network namespaces, with Docker's default capabilities and seccomp rules and
masked kernel files (see docs/sandbox.md). Its supervisor listens on a loopback
port and starts `sshd -i` inside the machine for each connection. `reboot`
inside it ends its pid 1; the supervisor boots it again on the same layer with
a new boot id, as a real reboot would look to Spread. Needs root, Linux 5.6 or
later and sshd (openssh-server).

    SPREAD_PASSWORD=... python -m pytest_spread.backends.sandbox start   # prints the address
    python -m pytest_spread.backends.sandbox stop ADDRESS
"""

from __future__ import annotations

import socket

from .files import MachinePath
from .machine import Machine, attach, host_key, launch, start_machine
from .state import STATE_DIR, UnsafeStateError

__all__ = [
    "STATE_DIR",
    "Machine",
    "MachinePath",
    "UnsafeStateError",
    "attach",
    "free_port",
    "host_key",
    "launch",
    "start_machine",
]


def free_port() -> int:
    """A loopback port nobody listens on right now (for tests that need a closed port)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

"""A `fabric.Connection` over a pool machine's authenticated SSH transport (`spread_machine`).

No second login: the connection is built around the transport of the
machine's `transport.ssh.Connection`, as fabric's own `open()` would have
left it. Every command, transfer and outcome is noted (for the job's log
file, see run/joblogs.py). fabric is imported on first use only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

Note = Callable[[str], None]


def shared_connection(machine: Any, connection: Any, note: Note | None = None) -> Any:
    """A fabric Connection around `connection` (a `transport.ssh.Connection`) to `machine`."""
    import fabric

    from pytest_spread.transport.ssh import split_address

    host, port = split_address(machine.address)
    # Commands read no local stdin: pytest captures it, and jobs run unattended.
    overrides = {"sudo": {"password": machine.password}, "run": {"in_stream": False}}
    config = fabric.Config(overrides=overrides)
    shared = _connection_class()(host, user=connection.username, port=port, config=config)
    shared.client._transport = connection.transport  # what open() would have made
    shared.transport = connection.transport
    shared.spread_note = note
    return shared


def _framed(text: str) -> str:
    return f"\n-----\n{text.rstrip()}\n-----" if text.strip() else ""


@functools.cache
def _connection_class() -> type:
    import fabric

    class NotedConnection(fabric.Connection):  # type: ignore[misc]
        """fabric's Connection, noting what it runs and moves."""

        spread_note: Note | None = None

        def run(self, command: str, **kwargs: Any) -> Any:
            return self._noted("Running", command, super().run, command, **kwargs)

        def sudo(self, command: str, **kwargs: Any) -> Any:
            return self._noted("Running with sudo", command, super().sudo, command, **kwargs)

        def put(self, *args: Any, **kwargs: Any) -> Any:
            self._note(f"Putting {_describe(args, kwargs, 'local', 'remote')}")
            return super().put(*args, **kwargs)

        def get(self, *args: Any, **kwargs: Any) -> Any:
            self._note(f"Getting {_describe(args, kwargs, 'remote', 'local')}")
            return super().get(*args, **kwargs)

        def _note(self, text: str) -> None:
            if self.spread_note is not None:
                self.spread_note(text)

        def _noted(self, verb: str, command: str, call: Any, *args: Any, **kwargs: Any) -> Any:
            self._note(f"{verb}: {command}")
            try:
                result = call(*args, **kwargs)
            except Exception as exc:  # invoke's UnexpectedExit (non-zero status) has the result
                failed = getattr(exc, "result", None)
                if failed is not None:
                    self._note(f"Exit status {failed.exited}{_framed(_output(failed))}")
                raise
            self._note(f"Exit status {result.exited}{_framed(_output(result))}")
            return result

    return NotedConnection


def _output(result: Any) -> str:
    return f"{result.stdout}{result.stderr}"


def _describe(args: tuple[Any, ...], kwargs: dict[str, Any], first: str, second: str) -> str:
    source = args[0] if args else kwargs.get(first, "?")
    target = args[1] if len(args) > 1 else kwargs.get(second, "")
    return f"{source!r} to {target!r}" if target else repr(source)

"""Local evaluation of `$(HOST:...)` references and `$NAME` substitution (spec §3.4-3.5).

Each distinct command runs at most once per process (cached by its text),
in the process's current directory, with the process environment.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pytest_spread.errors import HostCommandError
from pytest_spread.project.model import Environment

HOST_RE = re.compile(r"\$\(HOST:.+?\)")
VAR_RE = re.compile(r"\$(?:\{([a-zA-Z_][a-zA-Z0-9_]*)\}|([a-zA-Z_][a-zA-Z0-9_]*))")


class HostCommands:
    """Runs `$(HOST:...)` commands once each and remembers their output or error."""

    def __init__(self, known: dict[str, tuple[bool, str]] | None = None) -> None:
        """`known`: results of another process's run (the xdist controller's), used as is."""
        self._results: dict[str, tuple[bool, str]] = {
            ref: (bool(ok), str(text)) for ref, (ok, text) in (known or {}).items()
        }

    def known(self) -> dict[str, tuple[bool, str]]:
        """Every command run so far, with its result (to hand to other processes)."""
        return dict(self._results)

    def prefetch(self, values: Iterable[str]) -> None:
        """Run the commands referenced by `values` concurrently (errors surface on use)."""
        pending = {
            ref
            for value in values
            if "$(HOST:" in value
            for ref in HOST_RE.findall(value)
            if ref not in self._results
        }
        if len(pending) < 2:
            return
        with ThreadPoolExecutor(max_workers=8) as pool:
            for ref, result in zip(pending, pool.map(_run, pending), strict=False):
                self._results[ref] = result

    def expand(
        self, value: str, context: str, *, file: Path | None = None, line: int = 0, field: str = ""
    ) -> str:
        """`value` with each `$(HOST:cmd)` replaced by the command's output."""
        if "$(HOST:" not in value:
            return value

        def replace(match: re.Match[str]) -> str:
            ref = match.group(0)
            result = self._results.get(ref)
            if result is None:
                result = self._results[ref] = _run(ref)
            ok, text = result
            if not ok:
                raise HostCommandError(
                    f"{ref} in {context} environment returned error: {text}",
                    file=file,
                    line=line,
                    field=field,
                )
            return text

        return HOST_RE.sub(replace, value)

    def expand_environment(self, env: Environment, context: str) -> Environment:
        """`env` with every value's `$(HOST:...)` references evaluated."""
        if not any("$(HOST:" in value for value in env.values):
            return env
        values = tuple(
            self.expand(value, context, file=env.file, line=line, field=f"{env.where}.{key}")
            for key, value, line in zip(env.keys, env.values, env.lines, strict=False)
        )
        return Environment(env.keys, values, env.lines, env.file)

    def evaluate(
        self,
        value: str,
        context: str,
        environments: Iterable[Environment],
        *,
        file: Path | None = None,
        line: int = 0,
        field: str = "",
    ) -> str:
        """Full local evaluation: `$(HOST:...)`, then `$NAME`/`${NAME}` from `environments`.

        The environments are evaluated in order, each key after the ones before
        it; undefined names become "" and the OS environment is not consulted.
        """
        known: dict[str, str] = {}
        for env in environments:
            for key, raw, key_line in zip(env.keys, env.values, env.lines, strict=True):
                where = (env.file, key_line, f"{env.where}.{key}")
                known[key] = self._substitute(raw, context, known, where)
        return self._substitute(value, context, known, (file, line, field))

    def _substitute(
        self, value: str, context: str, known: dict[str, str], where: tuple[Path | None, int, str]
    ) -> str:
        value = self.expand(value, context, file=where[0], line=where[1], field=where[2])
        if "$" not in value:
            return value
        return VAR_RE.sub(lambda m: known.get(m.group(1) or m.group(2), ""), value)


def _run(ref: str) -> tuple[bool, str]:
    """(succeeded, output or error text) of the command inside `$(HOST:...)`."""
    command = ref[len("$(HOST:") : -1]
    try:
        done = subprocess.run(
            ["/bin/bash", "-c", command], stdin=subprocess.DEVNULL, capture_output=True, check=False
        )
    except OSError as exc:
        return False, str(exc)
    if done.returncode == 0:
        return True, done.stdout.decode("utf-8", "replace").rstrip("\n")
    stderr = done.stderr.decode("utf-8", "replace").strip()
    if stderr:
        return False, "; ".join(stderr.splitlines())
    if done.returncode < 0:
        return False, f"signal: {_signal_name(-done.returncode)}"
    return False, f"exit status {done.returncode}"


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.strsignal(number) or str(number)
    except ValueError:
        return str(number)

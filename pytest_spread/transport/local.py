"""Run a local script (adhoc allocate/discard, repack) as Spread does (spec §4.10)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_spread.log import debug, redact
from pytest_spread.transport import scripts
from pytest_spread.transport.timeouts import Limits

# A script's background children may keep its output open after it ended
# (a daemon started without redirecting it): its output is taken as complete
# this long after the script itself exits.
OUTPUT_GRACE = 1.0


@dataclass
class LocalResult:
    status: int
    output: str
    killed: bool = False

    @property
    def marker(self) -> scripts.Marker | None:
        return scripts.find_marker(self.output, self.status)


def run_local(
    script: str,
    *,
    env: Sequence[tuple[str, str]],
    cwd: Path,
    limits: Limits,
    label: str,
    warn: Callable[[str], None],
    fds: Sequence[int] = (),
) -> LocalResult:
    """Run `script` with Spread's local wrapper; `fds` become the child's fd 3, 4, ...

    An empty script is nothing to do, as in Spread. Known secrets are hidden
    in the output, and -vv shows the program (exported values hidden) and its
    output as Spread does.
    """
    if not scripts.go_trim(script):
        return LocalResult(0, "")
    text = scripts.local_script(script, env=env, trace=True)
    debug(f"Running local script:\n-----\n{redact(scripts.redact_exports(text))}\n------")
    program = text.encode()
    result = _start(program, cwd, fds, limits, label, warn)
    if result.status == -signal.SIGINT and not result.output:
        # The run's own Ctrl-C reached the script as it was being started, before it
        # left the run's process group (the child's handlers are reset first): it
        # never ran, so it runs now.
        result = _start(program, cwd, fds, limits, label, warn)
    return result


def _start(
    program: bytes,
    cwd: Path,
    fds: Sequence[int],
    limits: Limits,
    label: str,
    warn: Callable[[str], None],
) -> LocalResult:
    """Run the wrapped program once."""
    process = subprocess.Popen(
        _command(fds),
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        pass_fds=tuple(fds),
    )
    assert process.stdin is not None and process.stdout is not None
    chunks: list[bytes] = []
    reader = threading.Thread(target=_read_all, args=(process.stdout, chunks), daemon=True)
    reader.start()
    try:
        process.stdin.write(program)
        process.stdin.close()
    except BrokenPipeError:
        pass
    try:
        killed = _wait(process, limits, label, warn, chunks)
    except BaseException:  # interrupted (a second Ctrl-C): the script must not live on
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        reader.join(1)
        process.stdout.close()
        raise
    reader.join(OUTPUT_GRACE)
    if not reader.is_alive():  # else a background child holds it: the reader drains it
        process.stdout.close()
    output = redact(b"".join(chunks).decode("utf-8", "replace"))
    if output:
        debug(f"Output from running local script:\n-----\n{output}\n-----")
    if killed:
        output += "\n<kill-timeout reached>"
    return LocalResult(process.returncode, output, killed)


def _wait(
    process: subprocess.Popen[bytes],
    limits: Limits,
    label: str,
    warn: Callable[[str], None],
    chunks: list[bytes],
) -> bool:
    """Wait for the script, warning when late; True when it was killed at its kill-timeout."""
    late = scripts.LateOutput()
    deadline = limits.kill
    elapsed = 0.0
    while True:
        step = min(limits.warn, deadline - elapsed)
        try:
            process.wait(timeout=max(step, 0.001))
            return False
        except subprocess.TimeoutExpired:
            elapsed += step
        if elapsed >= deadline:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return True
        warn(
            f"WARNING: {label} running late. "
            + late.message(redact(b"".join(chunks).decode("utf-8", "replace")))
        )


def _read_all(stream: object, chunks: list[bytes]) -> None:
    read = stream.read1  # type: ignore[attr-defined]
    try:
        while data := read(65536):
            chunks.append(data)
    except (OSError, ValueError):
        return  # closed under a late reader


def _command(fds: Sequence[int]) -> list[str]:
    """Spread's local command, with `fds` moved to 3, 4, ... first (repack's pipes)."""
    if not fds:
        return scripts.LOCAL_COMMAND
    moves = " ".join(f"{target}<&{fd}" for target, fd in enumerate(fds, start=3))
    closes = " ".join(f"{fd}<&-" for fd in fds if fd not in range(3, 3 + len(fds)))
    return ["/bin/bash", "-c", f"exec {moves} {closes}; exec {' '.join(scripts.LOCAL_COMMAND)}"]

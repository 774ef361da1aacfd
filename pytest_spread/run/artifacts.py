"""Fetch a task's artifacts from its machine into `<dir>/<job name>/` (spec §10).

spread-plus' suite and project artifacts use the same transfer (`fetch_paths`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from pytest_spread.errors import SpreadError
from pytest_spread.project.matrix import Job
from pytest_spread.transport.scripts import output_error
from pytest_spread.transport.ssh import Connection
from pytest_spread.transport.sudo import as_root

# The files are ours, with our umask: a machine cannot plant root-owned, setuid or
# world-writable files on this computer (GNU tar keeps owners and modes for root).
UNPACK = ["tar", "xJ", "--no-same-owner", "--no-same-permissions"]


class ArtifactsError(SpreadError):
    """The artifacts could not be fetched."""


def remote_command(paths: Sequence[str], remote_dir: str, sudo: bool) -> str:
    """The remote tar command: paths single-quoted except `*`, so the shell globs them."""
    quoted = " ".join(_quote_keeping_stars(path) for path in paths)
    return f"cd '{remote_dir}' && " + as_root(
        f"/bin/tar cJ --sort=name --ignore-failed-read -- {quoted}", sudo
    )


def fetch(connection: Connection, job: Job, remote_path: str, target: Path, sudo: bool) -> Path:
    """Unpack the job's artifacts into `target/<job name>`; returns that directory."""
    remote_dir = f"{remote_path}/{job.task.name}"
    return fetch_paths(connection, job.task.artifacts, remote_dir, target / job.name, sudo)


def fetch_paths(
    connection: Connection, paths: Sequence[str], remote_dir: str, directory: Path, sudo: bool
) -> Path:
    """Unpack `paths` (relative to `remote_dir` on the machine) into `directory`.

    Missing paths are left out, as in Spread. Suite and project artifacts
    (spread-plus) come this way too.
    """
    try:
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise ArtifactsError(f"cannot create artifacts directory: {exc}") from exc
    unpack = subprocess.Popen(UNPACK, cwd=directory, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert unpack.stdin is not None
    try:
        result = connection.run(
            remote_command(paths, remote_dir, sudo), combine=False, stdout=unpack.stdin
        )
    finally:
        unpack.stdin.close()
        assert unpack.stderr is not None
        stderr = unpack.stderr.read()
        unpack.stderr.close()
        unpack.wait()
    if result.status != 0:
        raise ArtifactsError(f"remote tar exited with status {result.status}")
    if unpack.returncode != 0:
        raise ArtifactsError(
            output_error(
                stderr.decode("utf-8", "replace"), f"local tar exited with {unpack.returncode}"
            )
        )
    return directory


def _quote_keeping_stars(path: str) -> str:
    quoted = "'" + path.replace("'", "'\"'\"'") + "'"
    return quoted.replace("*", "'*'")

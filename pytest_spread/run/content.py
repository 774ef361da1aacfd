"""Pack the project once per run with GNU tar and send it to each machine (spec §8)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from ..errors import SpreadError
from ..project.matrix import Matrix
from ..remote import Connection
from .local import run_local
from .scripts import output_error
from .timeouts import limits

REUSE_PATTERN = ".spread-reuse.*"


class ContentError(SpreadError):
    """The project content could not be packed or sent."""


def tar_arguments(matrix: Matrix, repack: bool) -> list[str]:
    """The local tar command line, as Spread builds it (spec §8.1)."""
    project = matrix.project
    members = list(matrix.include) or sorted(
        name for name in os.listdir(project.dir) if not name.startswith(".spread-reuse.")
    )
    return [
        "tar",
        "c" if repack else "cz",
        f"--exclude={REUSE_PATTERN}",
        *(f"--exclude={entry}" for entry in matrix.exclude),
        *(f"--transform={entry}" for entry in matrix.rename),
        *members,
    ]


def pack(matrix: Matrix, backends: list[str], log: Callable[[str], None]) -> IO[bytes]:
    """A temporary file holding the gzipped project tree, repacked when the project says so."""
    target = tempfile.TemporaryFile(prefix="spread-content-")
    project = matrix.project
    if not project.repack:
        _run_tar(tar_arguments(matrix, repack=False), project.dir, target)
    else:
        _repack(matrix, backends, target, log)
    target.seek(0)
    return target


def describe_size(size: int) -> str:
    """Spread's size text: `1.23KB` below 1 MiB, else `4.56MB`."""
    if size < 1 << 20:
        return f"{size / 1024:.2f}KB"
    return f"{size / (1 << 20):.2f}MB"


def _run_tar(argv: list[str], cwd: Path, target: IO[bytes]) -> None:
    done = subprocess.run(argv, cwd=cwd, stdout=target, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        stderr = done.stderr.decode("utf-8", "replace")
        raise ContentError(
            "cannot pack project tree: " + output_error(stderr, f"exit status {done.returncode}")
        )


def _repack(
    matrix: Matrix, backends: list[str], target: IO[bytes], log: Callable[[str], None]
) -> None:
    """tar on the script's fd 3, the script's fd 4 gzipped into `target`."""
    project = matrix.project
    tar_read, tar_write = os.pipe()
    out_read, out_write = os.pipe()
    # tar is killed once the script is done with fd 3, so its complaints are noise.
    tar = subprocess.Popen(
        tar_arguments(matrix, repack=True),
        cwd=project.dir,
        stdout=tar_write,
        stderr=subprocess.DEVNULL,
    )
    gzip = subprocess.Popen(["gzip", "-c"], stdin=out_read, stdout=target)
    os.close(tar_write)
    os.close(out_read)
    env = [(k, v) for k, v in matrix.evaluated(project.environment).items() if "/" not in k]
    env.append(("SPREAD_BACKENDS", " ".join(sorted(backends))))
    try:
        result = run_local(
            project.repack,
            env=env,
            cwd=project.dir,
            limits=limits([project.timeouts]),
            label="local script",
            warn=log,
            fds=[tar_read, out_write],
        )
    finally:
        os.close(tar_read)
        os.close(out_write)
        tar.kill()
        tar.wait()
    gzip.wait()
    if result.status != 0:
        raise ContentError(
            "cannot pack project tree: "
            + output_error(result.output, f"exit status {result.status}")
        )
    if gzip.returncode != 0:
        raise ContentError(f"cannot pack project tree: gzip exited with {gzip.returncode}")


def send(connection: Connection, path: str, content: IO[bytes], sudo: bool) -> None:
    """Unpack the content under `path` on the machine, which must be empty or missing."""
    prefix = "sudo -i " if sudo else ""
    check = connection.run(f"{prefix}/bin/bash -c \"! test -e '{path}' || ls -A '{path}'\"")
    if check.status != 0 or check.text.strip():
        raise ContentError(f"remote directory {path} on {connection.address} is not empty")
    content.seek(0)
    result = connection.run(
        f"{prefix}/bin/bash -c \"mkdir -p '{path}' && cd '{path}' && /bin/tar xz 2>&1\"",
        stdin=content,
    )
    if result.status != 0:
        raise ContentError(output_error(result.text, f"exit status {result.status}"))

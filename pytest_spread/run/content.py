"""Pack the project once per run with GNU tar and send it to each machine (spec §8)."""

from __future__ import annotations

import os
import subprocess
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pytest_spread.errors import SpreadError
from pytest_spread.project.matrix import Matrix
from pytest_spread.transport.local import run_local
from pytest_spread.transport.scripts import output_error
from pytest_spread.transport.ssh import Connection
from pytest_spread.transport.sudo import as_root
from pytest_spread.transport.timeouts import limits

REUSE_PATTERN = ".spread-reuse.*"
PYTEST_CACHE = ".pytest_cache"  # pytest's cache (also the job durations): not for the machines
SAMPLE = 4 << 20  # bytes of the archive tried for compressibility


class ContentError(SpreadError):
    """The project content could not be packed or sent."""


def tar_arguments(matrix: Matrix) -> list[str]:
    """The local tar command line, as Spread builds it (spec §8.1) but uncompressed.

    Compression is decided afterwards (see `pack`).
    """
    project = matrix.project
    members = list(matrix.include) or sorted(
        name
        for name in os.listdir(project.dir)
        if not name.startswith(".spread-reuse.") and name != PYTEST_CACHE
    )
    return [
        "tar",
        "c",
        f"--exclude={REUSE_PATTERN}",
        f"--exclude={PYTEST_CACHE}",
        *(f"--exclude={entry}" for entry in matrix.exclude),
        *(f"--transform={entry}" for entry in matrix.rename),
        *members,
    ]


@dataclass
class Content:
    """The packed project: a tar stream, gzipped when that makes it smaller."""

    file: IO[bytes]
    compressed: bool

    @property
    def size(self) -> int:
        return os.fstat(self.file.fileno()).st_size

    def close(self) -> None:
        self.file.close()


def pack(matrix: Matrix, backends: list[str], log: Callable[[str], None]) -> Content:
    """The project tree packed once for every machine, repacked when the project says so.

    Gzip (level 1) is used only when a sample of the archive compresses well:
    on incompressible content it would cost seconds and save nothing.
    """
    raw = tempfile.TemporaryFile(prefix="spread-content-")
    project = matrix.project
    if not project.repack:
        _run_tar(tar_arguments(matrix), project.dir, raw)
    else:
        _repack(matrix, backends, raw, log)
    raw.seek(0)
    if not _compresses_well(raw):
        return Content(raw, compressed=False)
    packed = tempfile.TemporaryFile(prefix="spread-content-")
    done = subprocess.run(["gzip", "-1", "-c"], stdin=raw, stdout=packed, check=False)
    raw.close()
    if done.returncode != 0:
        packed.close()
        raise ContentError(f"cannot pack project tree: gzip exited with {done.returncode}")
    packed.seek(0)
    return Content(packed, compressed=True)


def _compresses_well(stream: IO[bytes]) -> bool:
    sample = stream.read(SAMPLE)
    stream.seek(0)
    return len(zlib.compress(sample, 1)) < 0.9 * len(sample)


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
        tar_arguments(matrix),
        cwd=project.dir,
        stdout=tar_write,
        stderr=subprocess.DEVNULL,
    )
    copy = subprocess.Popen(["cat"], stdin=out_read, stdout=target)
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
    copy.wait()
    if result.status != 0:
        raise ContentError(
            "cannot pack project tree: "
            + output_error(result.output, f"exit status {result.status}")
        )
    if copy.returncode != 0:
        raise ContentError(f"cannot pack project tree: copying exited with {copy.returncode}")


def is_empty(connection: Connection, path: str, sudo: bool) -> bool:
    """True when `path` is missing or empty on the machine."""
    check = connection.run(as_root(f"/bin/bash -c \"! test -e '{path}' || ls -A '{path}'\"", sudo))
    if check.status != 0:
        raise ContentError(
            f"cannot check if {path} on {connection.address} is empty: "
            + output_error(check.text, f"exit status {check.status}")
        )
    return not check.text.strip()


def send(connection: Connection, path: str, content: Content, sudo: bool) -> None:
    """Unpack the content under `path` on the machine, which must be empty or missing."""
    if not is_empty(connection, path, sudo):
        raise ContentError(f"remote directory {path} on {connection.address} is not empty")
    mode = "xz" if content.compressed else "x"
    # A file of its own (own offset): several machines may be sent the content at once.
    with open(f"/proc/self/fd/{content.file.fileno()}", "rb") as stream:
        result = connection.run(
            as_root(
                f"/bin/bash -c \"mkdir -p '{path}' && cd '{path}' && /bin/tar {mode} 2>&1\"", sudo
            ),
            stdin=stream,
        )
    if result.status != 0:
        raise ContentError(output_error(result.text, f"exit status {result.status}"))

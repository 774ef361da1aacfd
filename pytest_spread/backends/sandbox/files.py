"""A machine's files seen from this computer, always resolved inside the machine.

Every operation opens the path relative to the machine's root directory with
openat2(RESOLVE_IN_ROOT): a symlink or `..` in the machine can never lead to
this computer's files, whatever a task planted and whenever it planted it.
"""

from __future__ import annotations

import errno
import os
import posixpath
from collections.abc import Callable

from . import kernel


class MachinePath:
    """A file of a machine, e.g. `machine.path("/root/log").read_text()`."""

    def __init__(self, open_root: Callable[[], int], inside: str, where: str = "machine") -> None:
        self._open_root = open_root
        self.inside = posixpath.normpath("/" + inside)
        self._where = where

    def __str__(self) -> str:
        return f"{self._where}:{self.inside}"

    def __repr__(self) -> str:
        return f"MachinePath({str(self)!r})"

    def _open(self, flags: int, mode: int = 0o644, inside: str | None = None) -> int:
        root = self._open_root()
        try:
            return kernel.open_in_root(root, inside or self.inside, flags, mode)
        finally:
            os.close(root)

    def read_bytes(self) -> bytes:
        fd = self._open(os.O_RDONLY)
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def read_text(self, encoding: str = "utf-8") -> str:
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> int:
        fd = self._open(os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        with os.fdopen(fd, "wb") as handle:
            return handle.write(data)

    def write_text(self, data: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(data.encode(encoding))

    def exists(self) -> bool:
        try:
            os.close(self._open(os.O_PATH))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return False
            raise
        return True

    def is_dir(self) -> bool:
        try:
            os.close(self._open(os.O_PATH | os.O_DIRECTORY))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return False
            raise
        return True

    def unlink(self, missing_ok: bool = False) -> None:
        """Remove the file itself (a symlink, not what it points to)."""
        parent, name = posixpath.split(self.inside)
        directory = self._open(os.O_PATH | os.O_DIRECTORY, inside=parent)
        try:
            os.unlink(name, dir_fd=directory)
        except FileNotFoundError:
            if not missing_ok:
                raise
        finally:
            os.close(directory)

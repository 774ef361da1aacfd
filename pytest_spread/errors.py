"""The exceptions pytest-spread raises for user mistakes, one tree for all.

SpreadError                 anything the user can fix; printed without traceback
├── ProjectError            spread.yaml / task.yaml content (file, line, field)
│   └── HostCommandError    a $(HOST:...) command failed
├── FilterError             a bad filter argument
└── NoJobsError             nothing selected ("cannot find any tasks", ...)

SpreadWarning               a key Spread ignores (a Python warning under pytest)
"""

from __future__ import annotations

import os
from pathlib import Path


class SpreadError(Exception):
    """A problem the user can fix; `str()` is the complete message."""


def display_path(path: Path | str) -> str:
    """The path relative to the current directory when below it, else absolute."""
    path = Path(path)
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return os.fspath(path)


class ProjectError(SpreadError):
    """Bad project content, located by file, line (1-based, 0 if unknown) and field."""

    def __init__(
        self, message: str, *, file: Path | None = None, line: int = 0, field: str = ""
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.location_prefix() + message)

    def location_prefix(self) -> str:
        """`file:line: field: ` with the parts that are known."""
        parts = []
        if self.file is not None:
            parts.append(display_path(self.file) + (f":{self.line}" if self.line else ""))
        if self.field:
            parts.append(self.field)
        return "".join(part + ": " for part in parts)


class HostCommandError(ProjectError):
    """A `$(HOST:...)` command exited with an error."""


class FilterError(SpreadError):
    """An invalid filter argument (Spread's filter syntax)."""


class NoJobsError(SpreadError):
    """The filters (or the project) select no job at all."""


class SpreadWarning(UserWarning):
    """A project setting Spread would silently ignore (an unknown key).

    Under pytest it is located at the spread.yaml or task.yaml line, so
    `-W error` makes it an error there and `ignore::pytest_spread.SpreadWarning`
    silences it.
    """

"""pytest-spread: Spread's full-system test distribution as a pytest plugin.

The core (`load_project`, `build_matrix`, `select_jobs`) knows nothing of pytest.
Its names are imported on first use: the pytest plugin's entry point lives in
this package, and a pytest run without `--spread` needs none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_spread.errors import (
        FilterError,
        NoJobsError,
        ProjectError,
        SpreadError,
        SpreadWarning,
    )
    from pytest_spread.project.environment import job_environment
    from pytest_spread.project.filters import select_jobs
    from pytest_spread.project.loader import find_project_file, load_project
    from pytest_spread.project.matrix import Job, Matrix, build_matrix
    from pytest_spread.project.model import Backend, Project, Suite, System, Task

__version__ = "0.1.0"

_HOMES = {
    "pytest_spread.errors": (
        "FilterError",
        "NoJobsError",
        "ProjectError",
        "SpreadError",
        "SpreadWarning",
    ),
    "pytest_spread.project.environment": ("job_environment",),
    "pytest_spread.project.filters": ("select_jobs",),
    "pytest_spread.project.loader": ("find_project_file", "load_project"),
    "pytest_spread.project.matrix": ("Job", "Matrix", "build_matrix"),
    "pytest_spread.project.model": ("Backend", "Project", "Suite", "System", "Task"),
}
_HOME_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_spread' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "Backend",
    "FilterError",
    "Job",
    "Matrix",
    "NoJobsError",
    "Project",
    "ProjectError",
    "SpreadError",
    "SpreadWarning",
    "Suite",
    "System",
    "Task",
    "__version__",
    "build_matrix",
    "find_project_file",
    "job_environment",
    "load_project",
    "select_jobs",
]

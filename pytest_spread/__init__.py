"""pytest-spread: Spread's full-system test distribution as a pytest plugin.

The core (`load_project`, `build_matrix`, `select_jobs`) knows nothing of pytest.
"""

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

"""How a job can end other than by passing; light, so pytest can import it early."""

from __future__ import annotations


class JobAborted(Exception):
    """The job cannot run: an outer prepare failed or the machine is unusable."""


class TaskPrepareFailed(Exception):
    """The task's own (composite) prepare failed."""


class TaskFailed(Exception):
    """The task's execute failed."""


class TaskRestoreFailed(Exception):
    """The task's restore failed; the machine is no longer trusted."""


class ArtifactsFailed(Exception):
    """The task's artifacts could not be fetched (Spread stops the run)."""


class LevelRestoreFailed(Exception):
    """A suite, backend or project restore failed when the machine left its lane."""


class JobSkipped(Exception):
    """A spread-plus `skip:` condition of the task or its suite held: the job did not run."""


LIFECYCLE_OUTCOMES = (
    JobSkipped,
    JobAborted,
    TaskPrepareFailed,
    TaskFailed,
    TaskRestoreFailed,
    ArtifactsFailed,
    LevelRestoreFailed,
)

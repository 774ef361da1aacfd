"""Fixtures shared by the tests: small Spread projects written into tmp_path."""

from __future__ import annotations

import builtins
import textwrap
from pathlib import Path

import pytest

from pytest_spread import build_matrix, job_environment, load_project, select_jobs
from pytest_spread.project.matrix import Matrix

DEFAULT_SPREAD_YAML = """\
project: p
path: /r
backends:
    lxd:
        systems: [ubuntu-16.04]
suites:
    tests/:
        summary: s
"""


class ProjectDir:
    """A Spread project on disk that a test builds up and then lists."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def spread(self, text: str = DEFAULT_SPREAD_YAML, name: str = "spread.yaml") -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text))
        return path

    def task(self, name: str, text: str = "summary: t\n") -> Path:
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "task.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    def matrix(self) -> Matrix:
        return build_matrix(load_project(self.root))

    def list(self, *filters: str) -> list[str]:
        """Job names as `spread -list FILTERS` prints them."""
        return [job.name for job in select_jobs(self.matrix().jobs, filters)]

    def env(self, job_name: str) -> builtins.list[tuple[str, str]]:
        """The environment of one job, in export order."""
        matrix = self.matrix()
        (job,) = [job for job in matrix.jobs if job.name == job_name]
        return job_environment(job, matrix)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ProjectDir:
    """An empty project directory that is also the current directory."""
    monkeypatch.chdir(tmp_path)
    return ProjectDir(tmp_path)

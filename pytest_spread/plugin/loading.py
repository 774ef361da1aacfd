"""Which Spread project a pytest session collects, loading it, and its warnings.

The project is `--spread-project` (or the ini file's `spread_project`), else
the one found from the path arguments (a task.yaml from its suite's directory,
so that a node id copied from `--collect-only` finds the project that listed
it, also when a task directory holds a project of its own), else the one found
from the current directory, as Spread finds it.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path

import pytest

from pytest_spread.errors import ProjectError, SpreadWarning, display_path
from pytest_spread.plugin.options import explicit_project
from pytest_spread.project.hostenv import HostCommands
from pytest_spread.project.loader import (
    PROJECT_FILES,
    find_project_file,
    load_project,
    with_workers,
)
from pytest_spread.project.matrix import Matrix, build_matrix
from pytest_spread.project.model import ProjectWarning, summarize_warnings

TASK_FILE = "task.yaml"


def load_matrix(config: pytest.Config, *, controller: bool = False) -> Matrix:
    """The session's project as a matrix; its warnings go through Python's warnings.

    Under xdist only the first node shows them (the other nodes only apply the
    filters, the `controller` leaves them to the nodes), so pytest's summary
    has each once.
    """
    project = load_project(project_location(config), strict=config.getoption("spread_strict"))
    workerinput = getattr(config, "workerinput", {})
    if not controller and workerinput.get("workerid", FIRST) == FIRST:
        issue_warnings(project.warnings)
    elif not controller:
        with warnings.catch_warnings(record=True):  # errors still raise
            issue_warnings(project.warnings)
    # Under xdist, $(HOST:...) commands ran once in the controller: every node uses its values.
    host = HostCommands(workerinput.get("spread_host_results"))
    return build_matrix(with_workers(project, config.getoption("spread_workers")), host)


FIRST = "gw0"  # the xdist node whose warnings are shown


def issue_warnings(found: tuple[ProjectWarning, ...]) -> None:
    """Each warning located at its file and line; an error when the filters say so."""
    lines = iter(summarize_warnings(found))
    counts = Counter(warning.kind for warning in found if warning.kind)
    grouped: set[str] = set()
    for warning in found:
        if warning.kind and counts[warning.kind] > SUMMARIZED_ABOVE:
            if warning.kind in grouped:
                continue
            grouped.add(warning.kind)
            text = next(line for line in lines if line.startswith(f"{warning.kind} in "))
        else:
            text = str(ProjectError(warning.message, field=warning.field))
        try:
            warnings.warn_explicit(
                SpreadWarning(text),
                SpreadWarning,
                filename=display_path(warning.file),
                lineno=warning.line,
            )
        except SpreadWarning:
            # `filterwarnings = error` / `-W error`: a clean error at that line.
            message = f"{text}: a SpreadWarning, made an error by the warnings filter"
            raise ProjectError(message, file=warning.file, line=warning.line) from None


SUMMARIZED_ABOVE = 3  # summarize_warnings' `most`: more of one kind make one line


def project_location(config: pytest.Config) -> Path:
    """Where the project is looked for: a spread.yaml, or a directory to search up from."""
    explicit = explicit_project(config)
    if explicit is not None:
        path, source = explicit
        path = absolute(path)
        if not path.exists():
            raise pytest.UsageError(f"{source}: no such file or directory: {display_path(path)}")
        return path
    found: dict[Path, Path] = {}
    for argument in path_arguments(config):
        try:
            project = find_project_file(_search_start(argument))
        except ProjectError:
            continue
        found.setdefault(project, argument)
    if len(found) > 1:
        (first, one), (second, other) = list(found.items())[:2]
        raise pytest.UsageError(
            f"{display_path(other)} is in the Spread project {display_path(second)}, "
            f"{display_path(one)} in {display_path(first)}: one run collects one project "
            "(run them one at a time, or name one with --spread-project)"
        )
    if found:
        return next(iter(found)).parent
    return config.invocation_params.dir


def path_arguments(config: pytest.Config) -> list[Path]:
    """The session's existing path arguments (node ids without their `::` part)."""
    paths = []
    for argument in config.args:
        path = absolute(config.invocation_params.dir / argument.split("::")[0])
        if path.exists():
            paths.append(path)
    return paths


def absolute(path: Path) -> Path:
    """The absolute path without `..`, as pytest names collected files (symlinks kept)."""
    return Path(os.path.abspath(path))


def _search_start(path: Path) -> Path:
    """A task.yaml belongs to a project at or above its suite's directory."""
    if path.is_dir():
        return path
    if path.name == TASK_FILE:
        return path.parent.parent
    return path.parent


def visit_project(config: pytest.Config, project_dir: Path) -> None:
    """Have pytest collect the project when no path argument is in it or above it.

    A path inside the project narrows the collection as usual; one beside it
    (or a project named by --spread-project elsewhere) adds the project.
    """
    for path in path_arguments(config):
        if path == project_dir or project_dir in path.parents or path in project_dir.parents:
            return
    config.args.append(str(project_dir))


def unused_project_hint(config: pytest.Config) -> list[str]:
    """When nothing was collected beside a spread.yaml, how to collect its jobs."""
    for directory in dict.fromkeys([config.invocation_params.dir, config.rootpath]):
        for name in PROJECT_FILES:
            if (directory / name).is_file():
                return [
                    f"{display_path(directory / name)} is a Spread project: collect its jobs "
                    "with --spread, or with spread = true in the pytest ini file"
                ]
    return []

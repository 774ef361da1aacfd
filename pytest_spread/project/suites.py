"""Load the suites of `spread.yaml` and discover the `task.yaml` of each suite."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pytest_spread.errors import ProjectError
from pytest_spread.project import gocompat
from pytest_spread.project.model import ProjectWarning, Suite, Task
from pytest_spread.project.yamlread import (
    Fields,
    parse_file,
    read_artifacts,
    read_cascade_list,
    read_environment,
    read_scripts,
    read_skips,
    read_timeouts,
    unknown_warnings,
)

SUITE_RE = re.compile(r"^(?:[a-z0-9]+(?:[-._][a-z0-9]+)*/)+$")
TASK_RE = re.compile(r"^(?:[a-z0-9]+(?:[-._][a-z0-9]+)*/)+[a-z0-9]+(?:[-._][a-z0-9]+)*$")
SYSTEM_REF_RE = re.compile(r"^[a-z*]+-[a-z0-9*]+(?:[-.][a-z0-9*]+)*$")


def read_suites(
    section: Fields, project_dir: Path, warnings: list[ProjectWarning]
) -> dict[str, Suite]:
    """Every suite of the `suites:` mapping with its tasks, in file order."""
    suites: dict[str, Suite] = {}
    for key in section.keys():
        line = section.key_line(key)
        if not key.endswith("/"):
            raise section.error(
                f"invalid suite name (must end with /): {gocompat.go_quote(key)}",
                key=key,
                line=line,
            )
        name = key.rstrip("/") + "/"
        if not SUITE_RE.match(name):
            raise section.error(f"invalid suite name: {gocompat.go_quote(key)}", key=key, line=line)
        fields = section.fields(key)
        suites[name] = _read_suite(name, fields, project_dir, warnings)
        warnings.extend(unknown_warnings(fields, f"suite {name}", "suite"))
    if not suites:
        raise section.error("must define at least one task suite")
    return suites


def _read_suite(
    name: str, fields: Fields, project_dir: Path, warnings: list[ProjectWarning]
) -> Suite:
    summary = fields.string("summary").strip()
    if not summary:
        raise fields.error(
            f"suite {name} is missing a summary", key="summary" if "summary" in fields else ""
        )
    environment = read_environment(fields, f"suite {name}")
    systems = read_cascade_list(fields, "systems", f"suite {name}")
    _check_system_refs(systems, fields, f"suite {name}")
    directory = project_dir / name.rstrip("/")
    tasks = _read_tasks(name, directory, fields, warnings)
    return Suite(
        name=name,
        dir=directory,
        summary=summary,
        tasks=tasks,
        line=fields.line,
        systems=systems,
        backends=read_cascade_list(fields, "backends", f"suite {name}"),
        variants=read_cascade_list(fields, "variants", f"suite {name}"),
        environment=environment,
        scripts=read_scripts(fields, each=True),
        timeouts=read_timeouts(fields),
        priority=fields.integer("priority"),
        manual=fields.boolean("manual"),
        artifacts=read_artifacts(fields, "the suite has an invalid artifact path: {path}"),
        skip=read_skips(fields, f"suite {name}", warnings),
    )


def _read_tasks(
    suite: str, directory: Path, fields: Fields, warnings: list[ProjectWarning]
) -> dict[str, Task]:
    """The tasks found in the suite directory, in name order (as Go's ReadDir)."""
    try:
        entries = sorted(os.listdir(directory))
    except OSError as exc:
        raise fields.error(f"cannot list suite {suite}: {exc.strerror or exc}") from exc
    tasks: dict[str, Task] = {}
    for entry in entries:
        task_dir = directory / entry
        task_file = task_dir / "task.yaml"
        # Only a missing task.yaml (or a dangling link) means "not a task"; one that
        # exists but cannot be read is an error, as in Spread.
        if not os.path.isdir(task_dir) or not os.path.exists(task_file):
            continue
        name = suite + entry
        if not TASK_RE.match(name):
            raise ProjectError(f"invalid task name: {gocompat.go_quote(name)}", file=task_file)
        task_fields = Fields(parse_file(task_file), task_file)
        tasks[name] = _read_task(name, suite, task_dir, task_fields, warnings)
        warnings.extend(unknown_warnings(task_fields, name, "task"))
    return tasks


def _read_task(
    name: str, suite: str, directory: Path, fields: Fields, warnings: list[ProjectWarning]
) -> Task:
    summary = fields.string("summary").strip()
    if not summary:
        raise fields.error(
            f"{name} is missing a summary", key="summary" if "summary" in fields else ""
        )
    samples = fields.integer("samples") or 1
    environment = read_environment(fields, name)
    systems = read_cascade_list(fields, "systems", name)
    _check_system_refs(systems, fields, name)
    artifacts = read_artifacts(fields, f"{name} has improper artifact path: {{path}}")
    scripts = read_scripts(fields, each=False)
    return Task(
        name=name,
        suite=suite,
        dir=directory,
        file=fields.file,
        summary=summary,
        details=fields.string("details"),
        systems=systems,
        backends=read_cascade_list(fields, "backends", name),
        variants=read_cascade_list(fields, "variants", name),
        environment=environment,
        samples=samples,
        prepare=scripts.prepare,
        restore=scripts.restore,
        execute=fields.string("execute"),
        debug=scripts.debug,
        artifacts=artifacts,
        timeouts=read_timeouts(fields),
        priority=fields.integer("priority"),
        manual=fields.boolean("manual"),
        execute_line=fields.key_line("execute"),
        skip=read_skips(fields, name, warnings),
    )


def _check_system_refs(systems: tuple[str, ...], fields: Fields, context: str) -> None:
    """Spread's check of the names in a suite or task `systems:` list."""
    for index, entry in enumerate(systems):
        name = entry[1:] if entry[:1] in ("+", "-") else entry
        if not SYSTEM_REF_RE.match(name):
            raise fields.error(
                f"{context} refers to invalid system name: {gocompat.go_quote(name)}",
                key=f"systems[{index}]",
                line=fields.item_line("systems", index),
            )

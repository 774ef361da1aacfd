"""Find and load `spread.yaml`: the project, its backends and their systems.

Checks follow Spread's order (spec §1.10) and messages use Spread's wording,
prefixed with the file, line and field they concern.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
from pathlib import Path

import yaml

from pytest_spread.errors import ProjectError
from pytest_spread.project import gocompat
from pytest_spread.project.model import Backend, Project, ProjectWarning, System
from pytest_spread.project.suites import read_suites
from pytest_spread.project.yamlread import (
    Fields,
    is_null,
    line_of,
    parse_file,
    read_artifacts,
    read_cascade_list,
    read_environment,
    read_scripts,
    read_timeouts,
    unknown_warnings,
)

PROJECT_FILES = ("spread.yaml", ".spread.yaml")
NAME_RE = re.compile(r"^[a-z0-9]+(?:[-._][a-z0-9]+)*$")
SYSTEM_RE = re.compile(r"^[a-z*]+-[a-z0-9*]+(?:[-.][a-z0-9*]+)*$")
BACKEND_TYPES = ("google", "linode", "lxd", "qemu", "adhoc", "humbox", "openstack")


def find_project_file(start: Path | None = None) -> Path:
    """The project file found from `start` (default: cwd) upwards, as Spread looks for it.

    `spread.yaml` wins over `.spread.yaml`; the latter is only tried when the
    former does not exist (spec §1.1).
    """
    directory = (start or Path.cwd()).absolute()
    while True:
        for name in PROJECT_FILES:
            candidate = directory / name
            try:
                with open(candidate, "rb"):
                    return candidate
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    break  # exists but unreadable: Spread moves on upwards
        if directory.parent == directory:
            raise ProjectError(
                "cannot load project file from .: cannot find spread.yaml or .spread.yaml"
            )
        directory = directory.parent


def load_project(location: Path | str | None = None, *, strict: bool = False) -> Project:
    """Load the project whose file is `location`, or is found from that directory.

    With `strict`, keys Spread would ignore are errors rather than warnings.
    """
    start = Path(location) if location is not None else None
    if start is not None and start.is_file():
        file = start.absolute()
    else:
        file = find_project_file(start)
    warnings: list[ProjectWarning] = []
    node = parse_file(file)
    if is_null(node):
        raise ProjectError("the project file is empty", file=file, line=1)
    top = Fields(node, file)
    project = _read_project(top, file, warnings)
    if strict and warnings:
        first = warnings[0]
        raise ProjectError(first.message, file=first.file, line=first.line, field=first.field)
    return project


def _read_project(top: Fields, file: Path, warnings: list[ProjectWarning]) -> Project:
    name = top.string("project")
    if not NAME_RE.match(name):
        raise top.error(
            f"invalid project name: {gocompat.go_quote(name)}",
            key="project",
            node=top.raw("project"),
        )
    path = top.string("path")
    if not path:
        raise top.error(
            "missing project path field with remote project location",
            key="path" if "path" in top else "",
        )
    environment = read_environment(top, "project")
    scripts = read_scripts(top, each=True)
    timeouts = read_timeouts(top)
    content = (top.string_list("include"), top.string_list("exclude"), top.string_list("rename"))
    repack = top.string("repack").strip()
    artifacts = read_artifacts(top, "the project has an invalid artifact path: {path}")
    tasks_limit = top.integer("tasks-limit") or 0
    if tasks_limit < 0:
        raise top.error("tasks limit cannot be lower than 0", key="tasks-limit")
    backends = _read_backends(top.fields("backends"), warnings)
    if not backends:
        raise top.error(
            "must define at least one backend",
            key="backends" if "backends" in top else "",
            line=top.key_line("backends"),
        )
    suites = read_suites(top.fields("suites"), file.parent, warnings)
    warnings.extend(unknown_warnings(top, "project", "project"))
    return Project(
        name=name,
        file=file,
        dir=file.parent,
        path=path,
        backends=backends,
        suites=suites,
        environment=environment,
        scripts=scripts,
        repack=repack,
        include=content[0],
        exclude=content[1],
        rename=content[2],
        timeouts=timeouts,
        artifacts=artifacts,
        tasks_limit=tasks_limit,
        warnings=tuple(warnings),
        lines=_field_lines(top),
    )


def _field_lines(top: Fields) -> dict[str, int]:
    """Lines of the fields that are evaluated with the jobs, for their error messages."""
    lines = {"path": top.key_line("path")}
    for key in ("include", "exclude", "rename"):
        for index, item in enumerate(_items(top.raw(key))):
            lines[f"{key}[{index}]"] = line_of(item)
    for name, backend in _pairs(top.raw("backends")):
        for key, value in _pairs(backend):
            if key == "key":
                lines[f"backends.{name}.key"] = line_of(value)
            for entry in _items(value) if key == "systems" else []:
                for system, body in _pairs(entry):
                    for field, node in _pairs(body):
                        if field in ("username", "password"):
                            lines[f"backends.{name}.systems.{system}.{field}"] = line_of(node)
    return lines


def _pairs(node: yaml.Node | None) -> list[tuple[str, yaml.Node]]:
    if not isinstance(node, yaml.MappingNode):
        return []
    return [(str(key.value), value) for key, value in node.value]


def _items(node: yaml.Node | None) -> list[yaml.Node]:
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _read_backends(section: Fields, warnings: list[ProjectWarning]) -> dict[str, Backend]:
    backends: dict[str, Backend] = {}
    for name in section.keys():
        node = section.raw(name)
        if not NAME_RE.match(name):
            raise section.error(
                f"invalid backend name: {gocompat.go_quote(name)}",
                key=name,
                line=section.key_line(name),
            )
        if is_null(node):
            continue  # Spread drops a backend without a body
        fields = section.fields(name)
        backends[name] = _read_backend(name, fields, warnings)
        warnings.extend(unknown_warnings(fields, f'backend "{name}"', "backend"))
    return backends


def _read_backend(name: str, fields: Fields, warnings: list[ProjectWarning]) -> Backend:
    kind = fields.string("type") or name
    if kind not in BACKEND_TYPES:
        raise fields.error(
            f"backend {gocompat.go_quote(name)} has unsupported type {gocompat.go_quote(kind)}",
            key="type" if "type" in fields else "",
        )
    allocate, discard = fields.string("allocate").strip(), fields.string("discard").strip()
    if kind != "adhoc" and (allocate or discard):
        raise fields.error(
            f"backend {gocompat.go_quote(name)} cannot use allocate and dispose fields",
            key="allocate" if allocate else "discard",
            line=fields.key_line("allocate" if allocate else "discard"),
        )
    if kind == "adhoc" and not allocate:
        raise fields.error(
            f"backend {gocompat.go_quote(name)} requires an allocate field",
            key="allocate" if "allocate" in fields else "",
        )
    storage, plan = fields.size("storage"), fields.string("plan")
    systems = _read_systems(name, fields, storage, plan, warnings)
    return Backend(
        name=name,
        type=kind,
        systems=systems,
        line=fields.line,
        key=fields.string("key"),
        allocate=allocate,
        discard=discard,
        memory=fields.size("memory"),
        plan=plan,
        location=fields.string("location"),
        storage=storage,
        halt_timeout=fields.timeout("halt-timeout"),
        networks=fields.string_list("networks"),
        groups=fields.string_list("groups"),
        wait_timeout=fields.timeout("wait-timeout"),
        proxy=fields.string("proxy"),
        cidr_port_rel=fields.string_list("cidr-port-rel"),
        volume_auto_delete=fields.boolean("volume-auto-delete")
        if "volume-auto-delete" in fields
        else None,
        environment=read_environment(fields, f"backend {gocompat.go_quote(name)}"),
        variants=tuple(
            sorted(read_cascade_list(fields, "variants", f"backend {gocompat.go_quote(name)}"))
        ),
        scripts=read_scripts(fields, each=True),
        timeouts=read_timeouts(fields),
        priority=fields.integer("priority"),
        manual=fields.boolean("manual"),
    )


def _read_systems(
    backend: str, fields: Fields, storage: int, plan: str, warnings: list[ProjectWarning]
) -> dict[str, System]:
    systems: dict[str, System] = {}
    items = fields.sequence("systems")
    for index, item in enumerate(items):
        where = f"systems[{index}]"
        if isinstance(item, yaml.ScalarNode) and not is_null(item):
            name, body = str(item.value), None
        elif isinstance(item, yaml.MappingNode) and item.value:
            if len(item.value) != 1:
                keys = ", ".join(str(key.value) for key, _ in item.value)
                raise fields.error(
                    f"a system entry must have one key, the system name; got {keys} "
                    "(are the system's fields indented under its name?)",
                    key=where,
                    node=item,
                )
            key_node, body = item.value[0]
            name = str(key_node.value)
        else:
            raise fields.error("expected a system name or a mapping", key=where, node=item)
        if not SYSTEM_RE.match(name):
            raise fields.error(
                f"backend {gocompat.go_quote(backend)} refers to invalid system "
                f"name: {gocompat.go_quote(name)}",
                key=where,
                node=item,
            )
        if name in systems:
            warnings.append(
                ProjectWarning(
                    f"system {gocompat.go_quote(name)} listed twice (first at line "
                    f"{systems.pop(name).line}); the later entry is used, as in Spread",
                    fields.file,
                    line_of(item),
                    fields.path(where),
                )
            )
        body_fields = Fields(body, fields.file, fields.path(f"systems.{name}"))
        if body is not None:
            body_fields.line = line_of(item)
        systems[name] = _read_system(backend, name, body_fields, storage, plan)
        warnings.extend(unknown_warnings(body_fields, f"{backend}:{name}", "system"))
    if not systems:
        raise fields.error(
            f"no systems specified for backend {gocompat.go_quote(backend)}",
            key="systems" if "systems" in fields else "",
        )
    return systems


def _read_system(backend: str, name: str, fields: Fields, storage: int, plan: str) -> System:
    workers = fields.integer("workers") or 0
    if workers < 0:
        raise fields.error(
            f"backend {gocompat.go_quote(backend)} has system "
            f"{gocompat.go_quote(name)} with {workers} workers",
            key="workers",
            node=fields.raw("workers"),
        )
    return System(
        name=name,
        backend=backend,
        image=fields.string("image") or name,
        line=fields.line,
        kernel=fields.string("kernel"),
        username=fields.string("username"),
        password=fields.string("password"),
        workers=workers or 1,
        storage=fields.size("storage") or storage,
        plan=fields.string("plan") or plan,
        secure_boot=fields.boolean("secure-boot"),
        bios=fields.string("bios"),
        flags=fields.string_list("flags"),
        cpu_family=fields.string("cpu-family"),
        attach_service_account=fields.boolean("attach-service-account"),
        wait_timeout=fields.timeout("wait-timeout"),
        networks=fields.string_list("networks"),
        groups=fields.string_list("groups"),
        environment=read_environment(fields, f"{backend}:{name}"),
        variants=read_cascade_list(fields, "variants", f"{backend}:{name}"),
        priority=fields.integer("priority"),
        manual=fields.boolean("manual"),
    )


def with_workers(project: Project, workers: int) -> Project:
    """The project with every system's `workers` set to `workers` (spread-plus' -workers).

    0 or less leaves the project as it is, as spread-plus does.
    """
    if workers <= 0:
        return project
    backends = {
        name: dataclasses.replace(
            backend,
            systems={
                key: dataclasses.replace(system, workers=workers)
                for key, system in backend.systems.items()
            },
        )
        for name, backend in project.backends.items()
    }
    return dataclasses.replace(project, backends=backends)


def project_relative(project: Project, path: Path) -> str:
    """`path` relative to the project directory, with forward slashes."""
    return os.path.relpath(path, project.dir).replace(os.sep, "/")

"""The job matrix: every (backend, system, task, variant, sample) a project defines (spec §2).

`build_matrix` is the single place jobs are generated; it also evaluates the
values Spread evaluates at that point (remote path, `$(HOST:...)` in the
environments that take part in a job, keys, credentials, content lists).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pytest_spread.errors import ProjectError
from pytest_spread.project.cascade import cascade
from pytest_spread.project.gocompat import clean_path, go_quote
from pytest_spread.project.hostenv import HOST_RE, VAR_RE, HostCommands
from pytest_spread.project.model import Backend, Environment, Project, Suite, System, Task


class Job:
    """One job; `name` is Spread's `backend:system:suite/task[:variant][#sample]`."""

    __slots__ = (
        "backend",
        "key",
        "manual",
        "name",
        "priority",
        "sample",
        "suite",
        "system",
        "task",
        "variant",
    )

    def __init__(
        self,
        backend: Backend,
        system: System,
        suite: Suite,
        task: Task,
        variant: str,
        sample: int,
        priority: int,
    ) -> None:
        self.backend = backend
        self.system = system
        self.suite = suite
        self.task = task
        self.variant = variant
        self.sample = sample
        self.priority = priority
        # Bits for the manual backend, system, suite and task (see filters.drop_manual).
        self.manual = backend.manual | system.manual << 1 | suite.manual << 2 | task.manual << 3
        base = f"{backend.name}:{system.name}:{task.name}"
        name = f"{base}:{variant}" if variant else base
        if task.samples > 1:
            self.name = f"{name}#{sample}"
            sep = ":" if variant else "#"
        else:
            self.name = name
            sep = ":" if variant else ""
        # Spread's order: by name, except that jobs of one backend:system:task
        # compare by sample first (all #1 before all #2); variants break ties.
        self.key = (base + sep, sample, variant)

    @property
    def report_name(self) -> str:
        """The name in Spread's final report: without the `#sample`."""
        name = f"{self.backend.name}:{self.system.name}:{self.task.name}"
        return f"{name}:{self.variant}" if self.variant else name

    @property
    def lane(self) -> str:
        """`backend:system`: the machines this job may run on."""
        return f"{self.backend.name}:{self.system.name}"

    def __repr__(self) -> str:
        return f"<Job {self.name}>"


@dataclass
class Matrix:
    """All jobs of a project in Spread's order, with the values evaluated alongside."""

    project: Project
    remote_path: str
    jobs: list[Job]
    host: HostCommands
    environments: dict[int, Environment] = field(default_factory=dict)
    backend_keys: dict[str, str] = field(default_factory=dict)
    credentials: dict[str, tuple[str, str]] = field(default_factory=dict)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    rename: tuple[str, ...] = ()

    def evaluated(self, env: Environment) -> Environment:
        """`env` with `$(HOST:...)` evaluated (every job's levels are, at build time)."""
        return self.environments.get(id(env), env)


def build_matrix(project: Project, host: HostCommands | None = None) -> Matrix:
    """Generate every job of `project`, sorted in Spread's order."""
    host = host or HostCommands()
    host.prefetch(_host_values(project))
    matrix = Matrix(project, remote_path(project, host), [], host)
    generator = _Generator(project, matrix)
    for suite in project.suites.values():
        for task in suite.tasks.values():
            generator.add_task(suite, task)
    matrix.jobs.sort(key=_job_key)
    _evaluate_values(project, matrix)
    return matrix


def _job_key(job: Job) -> tuple[str, int, str]:
    return job.key


def remote_path(project: Project, host: HostCommands) -> str:
    """The project's `path` with `$(HOST:...)` evaluated and cleaned (spec §2.9)."""
    host.expand_environment(project.environment, "project")
    path = clean_path(
        host.expand(
            project.path,
            "remote project path",
            file=project.file,
            line=project.lines.get("path", 0),
            field="path",
        )
    )
    if not path.startswith("/") or path == "/":
        raise ProjectError(
            f"remote project path must be absolute and not /: {path}",
            file=project.file,
            line=project.lines.get("path", 0),
            field="path",
        )
    return path


class _Generator:
    """Cascades evaluated once per distinct input, jobs appended to the matrix."""

    def __init__(self, project: Project, matrix: Matrix) -> None:
        self.project = project
        self.matrix = matrix
        self.backend_names = list(project.backends)
        self.system_names = {name: sorted(b.systems) for name, b in project.backends.items()}
        self.project_variants: tuple[str, ...] = project.environment.variants or ("",)
        self._systems: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[str]] = {}
        self._variants: dict[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], list[str]] = {}

    def add_task(self, suite: Suite, task: Task) -> None:
        backends = cascade(
            [
                ("project", self.backend_names),
                (f"suite {suite.name}", suite.backends),
                (task.name, task.backends),
            ],
            "backends",
        )
        jobs = self.matrix.jobs
        before = len(jobs)
        for backend_name in sorted(backends):
            backend = self.project.backends.get(backend_name)
            if backend is None:
                continue  # unknown name: skipped like an unknown system (spec §15.2.3)
            for system_name in self._systems_for(backend, suite, task):
                system = backend.systems.get(system_name)
                if system is None:
                    continue
                priority = _first_set(
                    task.priority, suite.priority, system.priority, backend.priority
                )
                for variant in self._variants_for(backend, system, suite, task):
                    for sample in range(1, task.samples + 1):
                        jobs.append(Job(backend, system, suite, task, variant, sample, priority))
        if len(jobs) > before:
            self._evaluate_levels(jobs[before:])

    def _systems_for(self, backend: Backend, suite: Suite, task: Task) -> list[str]:
        memo = (backend.name, suite.systems, task.systems)
        systems = self._systems.get(memo)
        if systems is None:
            systems = self._systems[memo] = sorted(
                cascade(
                    [
                        (f'backend "{backend.name}"', self.system_names[backend.name]),
                        (f"suite {suite.name}", suite.systems),
                        (task.name, task.systems),
                    ],
                    "systems",
                )
            )
        return systems

    def _variants_for(
        self, backend: Backend, system: System, suite: Suite, task: Task
    ) -> list[str]:
        memo = (backend.name, system.name, suite.name, task.environment.variants, task.variants)
        variants = self._variants.get(memo)
        if variants is None:
            system_context = f"{backend.name}:{system.name}"
            found = cascade(
                [
                    ("project", self.project_variants),
                    (f'backend "{backend.name}"', _plus(backend.environment.variants)),
                    (f'backend "{backend.name}"', backend.variants),
                    (system_context, _plus(system.environment.variants)),
                    (system_context, system.variants),
                    (f"suite {suite.name}", _plus(suite.environment.variants)),
                    (f"suite {suite.name}", suite.variants),
                    (task.name, _plus(task.environment.variants)),
                    (task.name, task.variants),
                ],
                "variants",
            )
            if len(found) > 1:
                found.discard("")
            variants = self._variants[memo] = sorted(found)
        return variants

    def _evaluate_levels(self, jobs: list[Job]) -> None:
        """Evaluate `$(HOST:...)` in the environments these jobs use, as Spread does per job."""
        first = jobs[0]
        backends: dict[str, Backend] = {}
        systems: dict[str, System] = {}
        for job in jobs:
            backends[job.backend.name] = job.backend
            systems[job.lane] = job.system
            if "$(HOST:" in job.name:
                self.matrix.host.expand(job.name, "$SPREAD_*")
        levels = [
            (self.project.environment, "project"),
            (first.suite.environment, f"suite {first.suite.name}"),
            (first.task.environment, first.task.name),
        ]
        levels += [(b.environment, f"backend {go_quote(name)}") for name, b in backends.items()]
        levels += [(system.environment, lane) for lane, system in systems.items()]
        cache = self.matrix.environments
        for env, context in levels:
            if len(env) and id(env) not in cache:
                cache[id(env)] = self.matrix.host.expand_environment(env, context)


def _plus(names: Sequence[str]) -> list[str]:
    return ["+" + name for name in names]


def _first_set(*values: int | None) -> int:
    for value in values:
        if value is not None:
            return value
    return 0


def _host_values(project: Project) -> list[str]:
    """Every value that may hold a `$(HOST:...)` reference, to run them concurrently."""
    values = [
        project.path,
        *project.environment.values,
        *project.include,
        *project.exclude,
        *project.rename,
    ]
    for backend in project.backends.values():
        values += [backend.key, *backend.environment.values]
        for system in backend.systems.values():
            values += [system.username, system.password, *system.environment.values]
    for suite in project.suites.values():
        values += suite.environment.values
        for task in suite.tasks.values():
            values += task.environment.values
    return values


def _evaluate_values(project: Project, matrix: Matrix) -> None:
    """Keys, credentials and content lists, evaluated during job generation (spec §2.9)."""
    host = matrix.host
    for backend in list(project.backends.values()):
        host.expand_environment(backend.environment, f"backend {go_quote(backend.name)}")
        key_field = f"backends.{backend.name}.key"
        matrix.backend_keys[backend.name] = host.expand(
            backend.key,
            f"{backend.name} backend key",
            file=project.file,
            line=project.lines.get(key_field, 0),
            field=key_field,
        ).strip()
        # Providers read the key from the project's backend, evaluated as Spread does.
        project.backends[backend.name] = replace(backend, key=matrix.backend_keys[backend.name])
        envs = [project.environment, backend.environment]
        for system in backend.systems.values():
            lane, where = system.label, f"backends.{backend.name}.systems.{system.name}"
            username = system.username
            if username:
                username = host.evaluate(
                    username, f"{lane} username", envs, **_at(project, f"{where}.username")
                )
            password = system.password
            if _single_reference(password):
                password = host.evaluate(
                    password, f"{lane} password", envs, **_at(project, f"{where}.password")
                )
            matrix.credentials[f"{backend.name}:{system.name}"] = (username, password)
    matrix.rename = _content_list(host, project, "rename", "rename expression")
    matrix.include = _content_list(host, project, "include", "include list")
    matrix.exclude = _content_list(host, project, "exclude", "exclude list")


def _content_list(host: HostCommands, project: Project, key: str, context: str) -> tuple[str, ...]:
    values: tuple[str, ...] = getattr(project, key)
    return tuple(
        host.evaluate(value, context, [project.environment], **_at(project, f"{key}[{index}]"))
        for index, value in enumerate(values)
    )


def _at(project: Project, field: str) -> dict[str, Any]:
    """Where a field evaluated with the jobs stands, for `HostCommands` errors."""
    return {"file": project.file, "line": project.lines.get(field, 0), "field": field}


def _single_reference(value: str) -> bool:
    """True when the whole value is one `$NAME`, `${NAME}` or `$(HOST:...)` reference."""
    return bool(VAR_RE.fullmatch(value) or HOST_RE.fullmatch(value))

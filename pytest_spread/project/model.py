"""The typed model of a Spread project: Project, Backend, System, Suite, Task.

Values are as Spread reads them: scripts trimmed, timeouts in nanoseconds,
`priority` None when unset. Objects are immutable once loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pytest_spread.errors import ProjectError

# Keys are shell names, optionally followed by /variant1,variant2.
ENV_KEY_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*(?:/[a-zA-Z0-9_]+(?:,[a-zA-Z0-9_]+)*)?$")


@dataclass(frozen=True, slots=True)
class Environment:
    """An ordered environment, in YAML order; keys may carry a /variants suffix."""

    keys: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    lines: tuple[int, ...] = ()
    file: Path | None = None
    where: str = "environment"  # the field path of the mapping, for messages
    variants: tuple[str, ...] = field(init=False, compare=False)
    """The sorted variant names the keys' suffixes mention."""

    def __post_init__(self) -> None:
        names: set[str] = set()
        for key in self.keys:
            _, slash, suffix = key.rpartition("/")
            if slash:
                names.update(suffix.split(","))
        object.__setattr__(self, "variants", tuple(sorted(names)))

    def items(self) -> zip[tuple[str, str]]:
        return zip(self.keys, self.values, strict=True)

    def __len__(self) -> int:
        return len(self.keys)


EMPTY_ENV = Environment()


@dataclass(frozen=True, slots=True)
class Scripts:
    """The prepare/restore/debug scripts of one level, trimmed ("" when absent)."""

    prepare: str = ""
    restore: str = ""
    debug: str = ""
    prepare_each: str = ""
    restore_each: str = ""
    debug_each: str = ""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """warn-timeout and kill-timeout in nanoseconds; 0 inherits, -1 disables."""

    warn: int = 0
    kill: int = 0


@dataclass(frozen=True, slots=True)
class Skip:
    """A spread-plus skip condition of a suite or task: `if` runs on the machine first."""

    reason: str
    condition: str  # the `if:` script; the job is skipped when it succeeds
    line: int = 0


@dataclass(frozen=True, slots=True)
class System:
    name: str
    backend: str
    image: str
    line: int = 0
    kernel: str = ""
    username: str = ""
    password: str = ""
    workers: int = 1
    storage: int = 0
    plan: str = ""
    secure_boot: bool = False
    bios: str = ""
    flags: tuple[str, ...] = ()  # spread-plus/snapd: qemu's "virtio" puts the disk on virtio
    cpu_family: str = ""
    environment: Environment = EMPTY_ENV
    variants: tuple[str, ...] = ()
    priority: int | None = None
    manual: bool = False
    attach_service_account: bool = False  # google (spread-plus)
    wait_timeout: int = 0  # openstack (spread-plus), ns; 0: the backend's
    networks: tuple[str, ...] = ()  # openstack: replace the backend's when given
    groups: tuple[str, ...] = ()  # openstack: replace the backend's when given

    @property
    def label(self) -> str:
        """`backend:system`, the lane this system's jobs run on."""
        return f"{self.backend}:{self.name}"


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    type: str
    systems: dict[str, System]
    line: int = 0
    key: str = ""
    allocate: str = ""
    discard: str = ""
    memory: int = 0
    plan: str = ""
    location: str = ""
    storage: int = 0
    halt_timeout: int = 0
    networks: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    wait_timeout: int = 0  # openstack (spread-plus), ns
    proxy: str = ""  # openstack (spread-plus): SSH through this host
    cidr_port_rel: tuple[str, ...] = ()  # openstack (spread-plus): "CIDR:port" for the proxy
    volume_auto_delete: bool | None = None  # openstack (spread-plus)
    environment: Environment = EMPTY_ENV
    variants: tuple[str, ...] = ()
    scripts: Scripts = Scripts()
    timeouts: Timeouts = Timeouts()
    priority: int | None = None
    manual: bool = False


@dataclass(frozen=True, slots=True)
class Task:
    name: str  # suite name + directory: "tests/main/foo"
    suite: str  # "tests/main/"
    dir: Path
    file: Path
    summary: str
    details: str = ""
    systems: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    environment: Environment = EMPTY_ENV
    samples: int = 1
    prepare: str = ""
    restore: str = ""
    execute: str = ""
    debug: str = ""
    artifacts: tuple[str, ...] = ()
    timeouts: Timeouts = Timeouts()
    priority: int | None = None
    manual: bool = False
    execute_line: int = 0
    skip: tuple[Skip, ...] = ()


@dataclass(frozen=True, slots=True)
class Suite:
    name: str  # with one trailing slash: "tests/main/"
    dir: Path
    summary: str
    tasks: dict[str, Task]
    line: int = 0
    systems: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    variants: tuple[str, ...] = ()
    environment: Environment = EMPTY_ENV
    scripts: Scripts = Scripts()
    timeouts: Timeouts = Timeouts()
    priority: int | None = None
    manual: bool = False
    artifacts: tuple[str, ...] = ()  # spread-plus: relative to the suite directory
    skip: tuple[Skip, ...] = ()


@dataclass(frozen=True, slots=True)
class ProjectWarning:
    """Something Spread ignores silently that is probably a mistake (an unknown key)."""

    message: str
    file: Path
    line: int
    field: str
    kind: str = ""  # warnings of one kind are reported together (see summarize_warnings)

    def __str__(self) -> str:
        return str(ProjectError(self.message, file=self.file, line=self.line, field=self.field))


def summarize_warnings(warnings: tuple[ProjectWarning, ...], most: int = 3) -> list[str]:
    """One line per warning, except that a kind seen more than `most` times gets one line."""
    by_kind: dict[str, list[ProjectWarning]] = {}
    lines: list[str] = []
    for warning in warnings:
        if warning.kind:
            by_kind.setdefault(warning.kind, []).append(warning)
        else:
            lines.append(str(warning))
    for kind, group in by_kind.items():
        if len(group) <= most:
            lines.extend(str(warning) for warning in group)
            continue
        places = ", ".join(
            f"{ProjectError('', file=w.file, line=w.line).location_prefix()[:-2]}"
            for w in group[:most]
        )
        lines.append(f"{kind} in {len(group)} places ({places}, ...) (Spread ignores it)")
    return lines


@dataclass(frozen=True, slots=True)
class Project:
    name: str
    file: Path
    dir: Path
    path: str  # as written; the evaluated remote path is computed with the jobs
    backends: dict[str, Backend]
    suites: dict[str, Suite]
    environment: Environment = EMPTY_ENV
    scripts: Scripts = Scripts()
    repack: str = ""
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    rename: tuple[str, ...] = ()
    timeouts: Timeouts = Timeouts()
    artifacts: tuple[str, ...] = ()  # spread-plus: relative to the remote project path
    tasks_limit: int = 0  # spread-plus: the most jobs a run may have (0: no limit)
    warnings: tuple[ProjectWarning, ...] = field(default=(), compare=False)
    lines: dict[str, int] = field(default_factory=dict, compare=False)
    """Lines of the fields evaluated with the jobs (path, keys, credentials, content)."""

    def tasks(self) -> list[Task]:
        """Every task of every suite, in suite order then directory order."""
        return [task for suite in self.suites.values() for task in suite.tasks.values()]

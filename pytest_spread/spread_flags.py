"""The `spread` command line, parsed like the Go tool's (Go's `flag` package rules)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .project.gocompat import parse_go_int

# (flag, field, kind, help) in Spread's declaration order; kind: bool, string, int.
FLAGS: tuple[tuple[str, str, str, str], ...] = (
    ("v", "verbose", "bool", "Show detailed progress information"),
    ("vv", "very_verbose", "bool", "Show debugging messages as well"),
    ("list", "list", "bool", "Just show list of jobs that would run"),
    ("pass", "password", "string", "Server password to use, defaults to random"),
    ("reuse", "reuse", "bool", "Keep servers running for reuse"),
    ("reuse-pid", "reuse_pid", "int", "Reuse servers from crashed process"),
    ("resend", "resend", "bool", "Resend project content to reused servers"),
    ("debug", "debug", "bool", "Run shell after script errors"),
    ("shell", "shell", "bool", "Run shell instead of task scripts"),
    ("shell-before", "shell_before", "bool", "Run shell before task scripts"),
    ("shell-after", "shell_after", "bool", "Run shell after task scripts"),
    ("abend", "abend", "bool", "Stop without restoring on first error"),
    ("restore", "restore", "bool", "Run only the restore scripts"),
    ("discard", "discard", "bool", "Discard reused servers without running"),
    ("artifacts", "artifacts", "string", "Where to store task artifacts"),
    ("seed", "seed", "int", "Seed for job order permutation"),
    ("repeat", "repeat", "int", "Number of times to repeat each task"),
    ("gc", "gc", "bool", "Garbage collect backend resources when possible"),
)
_BY_NAME = {flag[0]: flag for flag in FLAGS}
_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_FALSE = ("0", "f", "F", "FALSE", "false", "False")
_INT64 = (-(1 << 63), (1 << 63) - 1)


@dataclass(frozen=True)
class SpreadOptions:
    """The parsed command line: one field per Spread flag, plus the filter arguments."""

    verbose: bool = False
    very_verbose: bool = False
    list: bool = False
    password: str = ""
    reuse: bool = False
    reuse_pid: int = 0
    resend: bool = False
    debug: bool = False
    shell: bool = False
    shell_before: bool = False
    shell_after: bool = False
    abend: bool = False
    restore: bool = False
    discard: bool = False
    artifacts: str = ""
    seed: int = 0
    repeat: int = 0
    gc: bool = False
    filters: tuple[str, ...] = ()


class FlagError(Exception):
    """A command line Go's flag package refuses (exit 2), or `-h` (exit 0)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.usage = usage_text()


class OptionsError(Exception):
    """A combination of flags Spread refuses after parsing (exit 1)."""


def usage_text() -> str:
    """What Go's flag package prints for Spread's flags (`PrintDefaults` format)."""
    lines = ["Usage of spread:"]
    for name, _, kind, text in sorted(FLAGS):
        head = f"  -{name}" + ("" if kind == "bool" else f" {kind}")
        lines.append(head + ("\t" if len(head) <= 4 else "\n    \t") + text)
    return "\n".join(lines) + "\n"


def parse_spread_args(argv: Sequence[str]) -> SpreadOptions:
    """Parse `argv` (without the program name) as the Go tool does."""
    values: dict[str, Any] = {}
    index = 0
    while index < len(argv):
        arg = argv[index]
        if len(arg) < 2 or arg[0] != "-":
            break  # the first non-flag ends the flags
        if arg == "--":
            index += 1
            break
        index += 1
        name = arg[2:] if arg.startswith("--") else arg[1:]
        if not name or name[0] in "-=":
            raise FlagError(f"bad flag syntax: {arg}")
        name, has_value, value = name.partition("=")
        flag = _BY_NAME.get(name)
        if flag is None:
            if name in ("help", "h"):
                raise FlagError("", exit_code=0)
            raise FlagError(f"flag provided but not defined: -{name}")
        _, field, kind, _ = flag
        if kind == "bool":
            values[field] = _parse_bool(name, value if has_value else "true")
            continue
        if not has_value:
            if index >= len(argv):
                raise FlagError(f"flag needs an argument: -{name}")
            value = argv[index]
            index += 1
        values[field] = _parse_int(name, value) if kind == "int" else value
    options = SpreadOptions(**values, filters=tuple(argv[index:]))
    _check_exclusive(options)
    return options


def _parse_bool(name: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise FlagError(f'invalid boolean value "{value}" for -{name}: parse error')


def _parse_int(name: str, value: str) -> int:
    """Go's strconv.ParseInt(value, 0, 64): base prefixes, a leading 0 is octal."""
    try:
        number = parse_go_int(value)
    except ValueError:
        raise FlagError(f'invalid value "{value}" for flag -{name}: parse error') from None
    if not _INT64[0] <= number <= _INT64[1]:
        raise FlagError(f'invalid value "{value}" for flag -{name}: value out of range')
    return number


def _check_exclusive(options: SpreadOptions) -> None:
    """At most one of -debug, -shell, -shell-before/after, -abend, -restore (Spread's rule)."""
    chosen = [
        options.debug,
        options.shell,
        options.shell_before or options.shell_after,
        options.abend,
        options.restore,
    ]
    if sum(chosen) > 1:
        raise OptionsError(
            "cannot have more than one of -debug, -shell, -shell-before/after, -abend, and -restore"
        )

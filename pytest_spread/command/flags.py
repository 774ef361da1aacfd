"""The `spread` command line, parsed exactly as the Go tool's standard `flag` package parses it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from pytest_spread.project.gocompat import go_quote

Kind: TypeAlias = Literal["bool", "string", "int"]
Value: TypeAlias = bool | str | int

_BOOLS = dict.fromkeys("1 t T TRUE true True".split(), True)  # Go's strconv.ParseBool
_BOOLS.update(dict.fromkeys("0 f F FALSE false False".split(), False))
_PARSE_ERROR = "parse error"  # flag's errParse and errRange texts
_RANGE_ERROR = "value out of range"


@dataclass(frozen=True)
class Flag:
    """One flag: its name on the command line, kind, default, help text and options field."""

    name: str
    kind: Kind
    default: Value
    help: str
    field: str


class FlagError(Exception):
    """Go's flag package's ExitOnError: print `message` (if any), `usage`; exit 2, 0 for -h."""

    def __init__(self, message: str, exit_code: int = 2, usage: str = "") -> None:
        super().__init__(message or "flag: help requested")
        self.message = message
        self.exit_code = exit_code
        self.usage = usage


class OptionsError(Exception):
    """A flag combination Spread refuses after parsing; reported as `error: <msg>`, exit 1."""


class GoFlagSet:
    """A set of flags parsed by the rules of Go's `flag.FlagSet` (ExitOnError)."""

    def __init__(self, program: str, flags: Sequence[Flag]) -> None:
        self.program = program
        self.flags = {flag.name: flag for flag in flags}

    def usage(self) -> str:
        """Go's default usage: a header, then `PrintDefaults` for each flag sorted by name."""
        lines = [f"Usage of {self.program}:\n"]
        for name in sorted(self.flags):
            flag = self.flags[name]
            hint, text = _unquote_usage(flag)
            head = f"  -{name}" + (f" {hint}" if hint else "")
            # Go puts the help on the same line only when the head is at most 4 bytes long.
            lines.append(head + ("\t" if len(head.encode()) <= 4 else "\n    \t"))
            lines.append(text.replace("\n", "\n    \t") + _default_note(flag) + "\n")
        return "".join(lines)

    def parse(self, argv: Sequence[str]) -> tuple[dict[str, Value], list[str]]:
        """Parse flags up to the first non-flag or `--`; return field values and the rest."""
        values: dict[str, Value] = {}
        args = list(argv)
        while args:
            arg = args[0]
            if len(arg) < 2 or arg[0] != "-":
                break  # "-" and anything not starting with "-" end the flags
            if arg == "--":
                del args[0]
                break
            name = arg[2:] if arg[1] == "-" else arg[1:]
            if not name or name[0] in "-=":
                raise self._fail(f"bad flag syntax: {arg}")
            del args[0]
            name, has_value, value = name.partition("=")
            flag = self.flags.get(name)
            if flag is None:
                if name in ("help", "h"):
                    raise FlagError("", exit_code=0, usage=self.usage())
                raise self._fail(f"flag provided but not defined: -{name}")
            if flag.kind == "bool":
                word = value if has_value else "true"
                if word not in _BOOLS:
                    raise self._fail(
                        f"invalid boolean value {go_quote(value)} for -{name}: {_PARSE_ERROR}"
                    )
                values[flag.field] = _BOOLS[word]
                continue
            if not has_value:
                if not args:
                    raise self._fail(f"flag needs an argument: -{name}")
                value = args.pop(0)
            try:
                values[flag.field] = parse_go_int64(value) if flag.kind == "int" else value
            except ValueError as exc:
                raise self._fail(
                    f"invalid value {go_quote(value)} for flag -{name}: {exc}"
                ) from None
        return values, args

    def _fail(self, message: str) -> FlagError:
        return FlagError(message, usage=self.usage())


def _unquote_usage(flag: Flag) -> tuple[str, str]:
    """Go's `flag.UnquoteUsage`: a back-quoted word names the value, else the type does."""
    start = flag.help.find("`")
    end = flag.help.find("`", start + 1) if start >= 0 else -1
    if end >= 0:
        hint = flag.help[start + 1 : end]
        return hint, flag.help[:start] + hint + flag.help[end + 1 :]
    return ("" if flag.kind == "bool" else flag.kind), flag.help


def _default_note(flag: Flag) -> str:
    """` (default X)` when the default is not the type's zero value, as Go prints it."""
    if flag.default in (False, "", 0):
        return ""
    shown = go_quote(flag.default) if isinstance(flag.default, str) else str(flag.default)
    return f" (default {shown.lower() if flag.kind == 'bool' else shown})"


def parse_go_int64(text: str) -> int:
    """Go's `strconv.ParseInt(text, 0, 64)`; ValueError carries flag's error text.

    A sign, then `0b`/`0o`/`0x` (any case) or a leading `0` for octal, and `_` between digits.
    An overflow met while scanning wins over a syntax error later in the text, as in Go.
    """
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not digits:
        raise ValueError(_PARSE_ERROR)
    base, body = 10, digits
    if digits[:1] == "0":
        prefix = digits[1:2].lower()
        if len(digits) >= 3 and prefix in ("b", "o", "x"):
            base, body = {"b": 2, "o": 8, "x": 16}[prefix], digits[2:]
        else:
            base, body = 8, digits[1:]
    number, underscores = 0, False
    for char in body:
        if char == "_":
            underscores = True
            continue
        if not (char.isascii() and char.isalnum()):
            raise ValueError(_PARSE_ERROR)
        digit = int(char, 36)
        if digit >= base:
            raise ValueError(_PARSE_ERROR)
        number = number * base + digit
        if number >= 1 << 64:
            raise ValueError(_RANGE_ERROR)
    # Go's underscoreOK: `_` only between digits or after a base prefix; once every other
    # character is a valid digit, that means no `__` and no `_` first or last.
    if underscores and ("__" in digits or digits[0] == "_" or digits[-1] == "_"):
        raise ValueError(_PARSE_ERROR)
    negative = text[:1] == "-"
    if number > (1 << 63) - (0 if negative else 1):
        raise ValueError(_RANGE_ERROR)
    return -number if negative else number


# Spread's flags (cmd/spread/main.go), in its declaration order; -seed is an int64 there.
SPREAD_FLAGS: tuple[Flag, ...] = (
    Flag("v", "bool", False, "Show detailed progress information", "verbose"),
    Flag("vv", "bool", False, "Show debugging messages as well", "very_verbose"),
    Flag("list", "bool", False, "Just show list of jobs that would run", "list"),
    Flag("pass", "string", "", "Server password to use, defaults to random", "password"),
    Flag("reuse", "bool", False, "Keep servers running for reuse", "reuse"),
    Flag("reuse-pid", "int", 0, "Reuse servers from crashed process", "reuse_pid"),
    Flag("resend", "bool", False, "Resend project content to reused servers", "resend"),
    Flag("debug", "bool", False, "Run shell after script errors", "debug"),
    Flag("shell", "bool", False, "Run shell instead of task scripts", "shell"),
    Flag("shell-before", "bool", False, "Run shell before task scripts", "shell_before"),
    Flag("shell-after", "bool", False, "Run shell after task scripts", "shell_after"),
    Flag("abend", "bool", False, "Stop without restoring on first error", "abend"),
    Flag("restore", "bool", False, "Run only the restore scripts", "restore"),
    Flag("discard", "bool", False, "Discard reused servers without running", "discard"),
    Flag("artifacts", "string", "", "Where to store task artifacts", "artifacts"),
    Flag("logs", "string", "", "Where to store generated logs", "logs"),  # spread-plus
    Flag("json", "string", "", "Where to store json results output", "json"),  # spread-plus
    Flag("seed", "int", 0, "Seed for job order permutation", "seed"),
    Flag("repeat", "int", 0, "Number of times to repeat each task", "repeat"),
    Flag("gc", "bool", False, "Garbage collect backend resources when possible", "gc"),
    # spread-plus' additions.
    Flag("workers", "int", 0, "Number of workers to use on each system", "workers"),
    Flag("order", "bool", False, "Follow the tasks order passed as parameter", "order"),
)
_SPREAD = GoFlagSet("spread", SPREAD_FLAGS)


@dataclass(frozen=True)
class SpreadOptions:
    """Spread's flags after parsing, plus the filter arguments (everything after the flags).

    `very_verbose` (-vv) implies verbose logging in Spread, but `verbose` keeps the -v value.
    `password` is the -pass value as given; the machine pool picks a random one when empty.
    `reuse` is already True when -discard is given without -reuse-pid, as main.go sets it.
    """

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
    logs: str = ""
    json: str = ""
    seed: int = 0
    repeat: int = 0
    gc: bool = False
    workers: int = 0  # spread-plus: every system's workers when above 0
    order: bool = False  # spread-plus: jobs in the order of the filter arguments
    filters: tuple[str, ...] = ()


def usage_text() -> str:
    """What `spread -h` prints (to standard error) when run as `spread`."""
    return _SPREAD.usage()


VERSION_FLAGS = ("-version", "--version", "-version=true", "--version=true")


def asks_version(argv: Sequence[str]) -> bool:
    """True when `-version` is among the flags (not a flag of Go's spread: ours alone)."""
    for arg in argv:
        if arg == "--" or not arg.startswith("-"):
            return False
        if arg in VERSION_FLAGS:
            return True
    return False


def parse_spread_args(argv: Sequence[str]) -> SpreadOptions:
    """Parse `argv` (without the program name) as Spread does, then apply main.go's checks.

    FlagError for what Go's flag package rejects (or `-h`); then OptionsError for more than
    one of -debug, -shell, -shell-before/after, -abend, -restore; then -discard without
    -reuse-pid sets -reuse (main.go does it after -list, whose job listing ignores -reuse).
    """
    values, filters = _SPREAD.parse(argv)
    given: dict[str, Any] = {**values, "filters": tuple(filters)}
    options = SpreadOptions(**given)
    shell_around = options.shell_before or options.shell_after
    if sum((options.debug, options.shell, shell_around, options.abend, options.restore)) > 1:
        raise OptionsError(
            "cannot have more than one of -debug, -shell, -shell-before/after, -abend, and -restore"
        )
    if options.discard and options.reuse_pid == 0:
        options = dataclasses.replace(options, reuse=True)
    return options

"""The command-line options of `pytest --spread` (Spread's flags, pytest-style)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHELL_OPTIONS = {
    "debug": "after any failing script",
    "shell": "instead of each execute",
    "shell-before": "before each execute",
    "shell-after": "after each execute, and after failures",
}


def check_shell_options(config: pytest.Config) -> bool:
    """True when shells were asked for; they need the terminal and exclude each other."""
    chosen = [name for name in SHELL_OPTIONS if config.getoption(_dest(name))]
    if not chosen:
        return False
    exclusive = [
        config.getoption("spread_debug"),
        config.getoption("spread_shell"),
        config.getoption("spread_shell_before") or config.getoption("spread_shell_after"),
        config.getoption("spread_abend"),
        config.getoption("spread_restore"),
    ]
    if sum(map(bool, exclusive)) > 1:
        raise pytest.UsageError(
            "cannot have more than one of --spread-debug, --spread-shell, "
            "--spread-shell-before/after, --spread-abend, and --spread-restore"
        )
    if config.getoption("capture") != "no" or config.getoption("numprocesses", None):
        flags = ", ".join(f"--spread-{name}" for name in chosen)
        raise pytest.UsageError(f"{flags} needs the terminal: add -s and -n0")
    return True


def spread_enabled(config: pytest.Config) -> bool:
    """`--spread` on the command line, or `spread = true` in the ini file."""
    return bool(config.getoption("spread") or config.getini("spread"))


def explicit_project(config: pytest.Config) -> tuple[Path, str] | None:
    """`--spread-project`, else the ini file's `spread_project` (relative to that file).

    With the setting's own name, for messages.
    """
    option = config.getoption("spread_project")
    if option:
        return config.invocation_params.dir / option, "--spread-project"
    setting = str(config.getini("spread_project") or "")
    if not setting:
        return None
    base = config.inipath.parent if config.inipath is not None else config.rootpath
    name = config.inipath.name if config.inipath is not None else "the ini file"
    return base / setting, f"spread_project in {name}"


def _dest(name: str) -> str:
    return "spread_" + name.replace("-", "_")


def add_options(parser: pytest.Parser) -> None:
    """Add the spread group of options and ini settings."""
    parser.addini(
        "spread",
        type="bool",
        default=False,
        help="collect the Spread project's jobs without --spread (e.g. for IDE test explorers)",
    )
    parser.addini(
        "spread_project",
        type="string",
        default="",
        help="spread.yaml, or a directory to look for it from, relative to the ini file "
        "(--spread-project wins)",
    )
    group = parser.getgroup("spread", "Spread full-system tests")
    group.addoption(
        "--spread",
        action="store_true",
        default=False,
        help="collect the jobs of the Spread project (spread.yaml) as tests",
    )
    group.addoption(
        "--spread-project",
        metavar="PATH",
        default=None,
        help="spread.yaml, or a directory to look for it from "
        "(default: the first argument, else the current directory)",
    )
    group.addoption(
        "--spread-filter",
        metavar="EXPR",
        action="append",
        default=[],
        help="select jobs with Spread's filter syntax (repeatable; any may match), "
        "e.g. lxd:ubuntu-22.04: or tests/main/",
    )
    group.addoption(
        "--spread-strict",
        action="store_true",
        default=False,
        help="treat keys Spread ignores (unknown fields) as errors",
    )
    group.addoption(
        "--spread-password",
        metavar="PASSWORD",
        default="",
        help="the machines' root password (default: random); Spread's -pass",
    )
    group.addoption(
        "--spread-repeat",
        metavar="N",
        type=int,
        default=0,
        help="repeat each task N more times (Spread's -repeat)",
    )
    group.addoption(
        "--spread-restore",
        action="store_true",
        default=False,
        help="run only the restore scripts (Spread's -restore)",
    )
    group.addoption(
        "--spread-abend",
        action="store_true",
        default=False,
        help="stop at the first failure without restoring (Spread's -abend)",
    )
    for name, what in SHELL_OPTIONS.items():
        group.addoption(
            f"--spread-{name}",
            action="store_true",
            default=False,
            help=f"open an interactive shell on the machine {what} (Spread's -{name}; "
            "needs -s and -n0)",
        )
    group.addoption(
        "--spread-reuse",
        action="store_true",
        default=False,
        help="keep the machines instead of discarding them (Spread's -reuse)",
    )
    group.addoption(
        "--spread-reuse-pid",
        metavar="PID",
        type=int,
        default=0,
        help="use (then discard) the machines a crashed run recorded (Spread's -reuse-pid)",
    )
    group.addoption(
        "--spread-resend",
        action="store_true",
        default=False,
        help="send the project again to reused machines (Spread's -resend)",
    )
    group.addoption(
        "--spread-allocate-timeout",
        metavar="SECONDS",
        type=float,
        default=300.0,
        help="how long to retry allocating a machine (Spread: 5 minutes)",
    )
    group.addoption(
        "--spread-seed",
        metavar="N",
        default="0",
        help="run each lane's jobs in the order seed N gives (Spread's -seed); 'random' "
        "picks one and prints it; 0 keeps the collection order",
    )
    group.addoption(
        "--spread-max-workers",
        metavar="N",
        type=int,
        default=64,
        help="the most xdist nodes -n auto starts (default: 64)",
    )
    group.addoption(
        "--spread-connect-timeout",
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="how long to retry connecting to a new machine (Spread: 1 minute)",
    )
    group.addoption(
        "--spread-artifacts",
        metavar="DIR",
        default=None,
        help="fetch task artifacts into DIR/<job name>/ (Spread's -artifacts)",
    )
    group.addoption(
        "--spread-workers",
        metavar="N",
        type=int,
        default=0,
        help="machines per system, instead of each system's workers: (spread-plus' -workers)",
    )
    group.addoption(
        "--spread-order",
        action="store_true",
        default=False,
        help="run the jobs in the order of the --spread-filter arguments, priorities and "
        "seeds aside (spread-plus' -order)",
    )
    group.addoption(
        "--spread-log",
        action="store_true",
        default=False,
        help="print Spread's progress messages on stdout, as the spread command",
    )
    group.addoption(
        "--spread-json",
        metavar="FILE",
        default=None,
        help="write spread-plus' JSON results (every prepare, execute and restore) to FILE "
        "(spread-plus' -json)",
    )
    group.addoption(
        "--spread-logs",
        metavar="DIR",
        default=None,
        help="write one log file per job, with its suite and project scripts, into DIR "
        "(spread-plus' -logs)",
    )

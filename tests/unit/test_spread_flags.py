"""The `spread` command line follows Go's flag package and Spread's main.go."""

from __future__ import annotations

import re

import pytest

from pytest_spread.command.flags import (
    SPREAD_FLAGS,
    Flag,
    FlagError,
    GoFlagSet,
    OptionsError,
    SpreadOptions,
    parse_go_int64,
    parse_spread_args,
    usage_text,
)

Opts = SpreadOptions

# What Go's flag.Usage prints for Spread's flag set, built by hand from PrintDefaults' rules.
SPREAD_USAGE = """\
Usage of spread:
  -abend
    \tStop without restoring on first error
  -artifacts string
    \tWhere to store task artifacts
  -debug
    \tRun shell after script errors
  -discard
    \tDiscard reused servers without running
  -gc
    \tGarbage collect backend resources when possible
  -json string
    \tWhere to store json results output
  -list
    \tJust show list of jobs that would run
  -logs string
    \tWhere to store generated logs
  -order
    \tFollow the tasks order passed as parameter
  -pass string
    \tServer password to use, defaults to random
  -repeat int
    \tNumber of times to repeat each task
  -resend
    \tResend project content to reused servers
  -restore
    \tRun only the restore scripts
  -reuse
    \tKeep servers running for reuse
  -reuse-pid int
    \tReuse servers from crashed process
  -seed int
    \tSeed for job order permutation
  -shell
    \tRun shell instead of task scripts
  -shell-after
    \tRun shell after task scripts
  -shell-before
    \tRun shell before task scripts
  -v\tShow detailed progress information
  -vv
    \tShow debugging messages as well
  -workers int
    \tNumber of workers to use on each system
"""

EXCLUSIVE = "cannot have more than one of -debug, -shell, -shell-before/after, -abend, and -restore"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], Opts()),
        # Every flag, in its plain form.
        (["-v"], Opts(verbose=True)),
        (["-vv"], Opts(very_verbose=True)),
        (["-list"], Opts(list=True)),
        (["-pass", "secret"], Opts(password="secret")),
        (["-reuse"], Opts(reuse=True)),
        (["-reuse-pid", "123"], Opts(reuse_pid=123)),
        (["-resend"], Opts(resend=True)),
        (["-debug"], Opts(debug=True)),
        (["-shell"], Opts(shell=True)),
        (["-shell-before"], Opts(shell_before=True)),
        (["-shell-after"], Opts(shell_after=True)),
        (["-abend"], Opts(abend=True)),
        (["-restore"], Opts(restore=True)),
        (["-discard"], Opts(discard=True, reuse=True)),
        (["-artifacts", "out/dir"], Opts(artifacts="out/dir")),
        (["-seed", "42"], Opts(seed=42)),
        (["-repeat", "3"], Opts(repeat=3)),
        (["-gc"], Opts(gc=True)),
        # Two dashes, `=value` and separate values.
        (["--list"], Opts(list=True)),
        (["--pass=a=b"], Opts(password="a=b")),
        (["--seed", "7"], Opts(seed=7)),
        (["-pass="], Opts()),
        (["-pass", "-list"], Opts(password="-list")),
        (["-artifacts=x", "-artifacts=y"], Opts(artifacts="y")),
        (["-seed=-7"], Opts(seed=-7)),
        (["-repeat=0x10"], Opts(repeat=16)),
        # Booleans take Go's ParseBool words, only after `=`.
        (["-list=true"], Opts(list=True)),
        (["-list=false"], Opts()),
        (["-list", "-list=false"], Opts()),
        *[(["-v=" + word], Opts(verbose=True)) for word in ("1", "t", "T", "TRUE", "True")],
        *[(["-v=" + word], Opts()) for word in ("0", "f", "F", "FALSE", "False")],
        (["-list", "false"], Opts(list=True, filters=("false",))),
        # The first non-flag ends the flags; `-` is a non-flag; `--` is consumed.
        (["-v", "lxd", "-list"], Opts(verbose=True, filters=("lxd", "-list"))),
        (["--", "-list"], Opts(filters=("-list",))),
        (["--", "--", "x"], Opts(filters=("--", "x"))),
        (["-list", "-", "x"], Opts(list=True, filters=("-", "x"))),
        (["", "-list"], Opts(filters=("", "-list"))),
        (["lxd:", "tests/..."], Opts(filters=("lxd:", "tests/..."))),
        # -discard implies -reuse unless -reuse-pid names the servers.
        (["-reuse-pid=123", "-discard"], Opts(reuse_pid=123, discard=True)),
        # Combinations Spread allows.
        (["-shell-before", "-shell-after"], Opts(shell_before=True, shell_after=True)),
        (["-list", "-debug"], Opts(list=True, debug=True)),
        (["-debug", "-debug"], Opts(debug=True)),
        (["-debug", "-abend=false"], Opts(debug=True)),
    ],
)
def test_parse(argv, expected):
    assert parse_spread_args(argv) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-nope"], "flag provided but not defined: -nope"),
        (["--nope=1"], "flag provided but not defined: -nope"),
        (["-V"], "flag provided but not defined: -V"),
        (["-pass"], "flag needs an argument: -pass"),
        (["-list", "--seed"], "flag needs an argument: -seed"),
        (["-seed", "many"], 'invalid value "many" for flag -seed: parse error'),
        (["-repeat="], 'invalid value "" for flag -repeat: parse error'),
        (["-reuse-pid", '1"'], 'invalid value "1\\"" for flag -reuse-pid: parse error'),
        (
            ["-seed=99999999999999999999"],
            'invalid value "99999999999999999999" for flag -seed: value out of range',
        ),
        (["-list=maybe"], 'invalid boolean value "maybe" for -list: parse error'),
        (["-v="], 'invalid boolean value "" for -v: parse error'),
        (["-gc=yes"], 'invalid boolean value "yes" for -gc: parse error'),
        (["---list"], "bad flag syntax: ---list"),
        (["-=x"], "bad flag syntax: -=x"),
        (["--=x"], "bad flag syntax: --=x"),
        (["-list", "---", "x"], "bad flag syntax: ---"),
    ],
)
def test_flag_errors_exit_2_with_usage(argv, message):
    with pytest.raises(FlagError) as info:
        parse_spread_args(argv)
    error = info.value
    assert (error.message, error.exit_code, error.usage) == (message, 2, SPREAD_USAGE)


@pytest.mark.parametrize("argv", [["-h"], ["-help"], ["--help"], ["-h=1"], ["-v", "--h"]])
def test_help_exits_0_with_usage_only(argv):
    with pytest.raises(FlagError) as info:
        parse_spread_args(argv)
    assert (info.value.message, info.value.exit_code) == ("", 0)
    assert info.value.usage == SPREAD_USAGE


def test_help_after_a_positional_is_a_filter():
    assert parse_spread_args(["x", "-h"]) == Opts(filters=("x", "-h"))


def test_usage_text_is_go_print_defaults():
    assert usage_text() == SPREAD_USAGE


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        (Flag("x", "bool", False, "One letter", "x"), "  -x\tOne letter\n"),
        (Flag("é", "bool", False, "Two bytes", "e"), "  -é\n    \tTwo bytes\n"),
        (Flag("n", "int", 5, "Count", "n"), "  -n int\n    \tCount (default 5)\n"),
        (Flag("b", "bool", True, "On", "b"), "  -b\tOn (default true)\n"),
        (Flag("s", "string", "a b", "Text", "s"), '  -s string\n    \tText (default "a b")\n'),
        (Flag("d", "string", "", "search `dir` now", "d"), "  -d dir\n    \tsearch dir now\n"),
        (Flag("q", "bool", False, "a `x", "q"), "  -q\ta `x\n"),
        (Flag("m", "bool", False, "one\ntwo", "m"), "  -m\tone\n    \ttwo\n"),
    ],
)
def test_print_defaults_rules(flag, expected):
    assert GoFlagSet("prog", [flag]).usage() == "Usage of prog:\n" + expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("+5", 5),
        ("-0", 0),
        ("010", 8),
        ("0o17", 15),
        ("0O17", 15),
        ("0x1f", 31),
        ("0XFF", 255),
        ("0b101", 5),
        ("1_000", 1000),
        ("0_7", 7),
        ("0x_1", 1),
        ("9223372036854775807", (1 << 63) - 1),
        ("-9223372036854775808", -(1 << 63)),
        ("", "parse error"),
        ("-", "parse error"),
        ("+-1", "parse error"),
        (" 1", "parse error"),
        ("08", "parse error"),
        ("0x", "parse error"),
        ("0xg", "parse error"),
        ("1__0", "parse error"),
        ("_1", "parse error"),
        ("1_", "parse error"),
        ("0x_", "parse error"),
        ("1e3", "parse error"),
        ("\u0661", "parse error"),
        ("9223372036854775808", "value out of range"),
        ("-9223372036854775809", "value out of range"),
        ("0x10000000000000000", "value out of range"),
        ("99999999999999999999x", "value out of range"),
    ],
)
def test_parse_go_int64(text, expected):
    if isinstance(expected, int):
        assert parse_go_int64(text) == expected
    else:
        with pytest.raises(ValueError, match=f"^{expected}$"):
            parse_go_int64(text)


@pytest.mark.parametrize(
    "argv",
    [
        ["-debug", "-abend"],
        ["-shell", "-restore"],
        ["-shell-after", "-debug"],
        ["-shell-before", "-shell"],
        ["-list", "-debug", "-abend"],
        ["-abend", "-restore", "x"],
    ],
)
def test_exclusive_flags(argv):
    with pytest.raises(OptionsError, match=f"^{re.escape(EXCLUSIVE)}$"):
        parse_spread_args(argv)


def test_flag_errors_come_before_the_exclusive_check():
    with pytest.raises(FlagError):
        parse_spread_args(["-debug", "-abend", "-nope"])


def test_flag_table_matches_options_fields():
    assert [flag.field for flag in SPREAD_FLAGS] == list(Opts.__dataclass_fields__)[:-1]

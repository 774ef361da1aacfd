"""The `spread` command line follows Go's flag package, like the Go tool."""

from __future__ import annotations

import pytest

from pytest_spread.spread_flags import (
    FlagError,
    OptionsError,
    SpreadOptions,
    parse_spread_args,
    usage_text,
)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], SpreadOptions()),
        (["-list"], SpreadOptions(list=True)),
        (["--list"], SpreadOptions(list=True)),
        (["-list=true"], SpreadOptions(list=True)),
        (["-list=false"], SpreadOptions()),
        (["-list=1"], SpreadOptions(list=True)),
        (["-v", "-vv"], SpreadOptions(verbose=True, very_verbose=True)),
        (["-pass", "secret"], SpreadOptions(password="secret")),
        (["-pass=secret"], SpreadOptions(password="secret")),
        (["--pass=a=b"], SpreadOptions(password="a=b")),
        (["-seed", "42"], SpreadOptions(seed=42)),
        (["-seed=-7"], SpreadOptions(seed=-7)),
        (["-seed=0x10"], SpreadOptions(seed=16)),
        (["-seed=010"], SpreadOptions(seed=8)),
        (["-repeat", "3"], SpreadOptions(repeat=3)),
        (["-reuse", "-resend"], SpreadOptions(reuse=True, resend=True)),
        (["-reuse-pid=123", "-discard"], SpreadOptions(reuse_pid=123, discard=True)),
        (["-artifacts", "out/dir"], SpreadOptions(artifacts="out/dir")),
        (["-abend"], SpreadOptions(abend=True)),
        (["-restore"], SpreadOptions(restore=True)),
        (["-gc"], SpreadOptions(gc=True)),
        (["-shell-before", "-shell-after"], SpreadOptions(shell_before=True, shell_after=True)),
        (["-list", "-debug"], SpreadOptions(list=True, debug=True)),
        (["-v", "lxd", "-list"], SpreadOptions(verbose=True, filters=("lxd", "-list"))),
        (["--", "-list"], SpreadOptions(filters=("-list",))),
        (["-list", "-", "x"], SpreadOptions(list=True, filters=("-", "x"))),
        (["lxd:", "tests/"], SpreadOptions(filters=("lxd:", "tests/"))),
    ],
)
def test_parse(argv, expected):
    assert parse_spread_args(argv) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-nope"], "flag provided but not defined: -nope"),
        (["--nope=1"], "flag provided but not defined: -nope"),
        (["-pass"], "flag needs an argument: -pass"),
        (["-seed", "many"], 'invalid value "many" for flag -seed: parse error'),
        (
            ["-seed=99999999999999999999"],
            'invalid value "99999999999999999999" for flag -seed: value out of range',
        ),
        (["-list=maybe"], 'invalid boolean value "maybe" for -list: parse error'),
        (["---list"], "bad flag syntax: ---list"),
        (["-=x"], "bad flag syntax: -=x"),
    ],
)
def test_flag_errors_exit_2_with_usage(argv, message):
    with pytest.raises(FlagError) as info:
        parse_spread_args(argv)
    assert (info.value.message, info.value.exit_code) == (message, 2)
    assert info.value.usage.startswith("Usage of spread:\n")


@pytest.mark.parametrize("flag", ["-h", "-help", "--help"])
def test_help_exits_0(flag):
    with pytest.raises(FlagError) as info:
        parse_spread_args([flag])
    assert info.value.exit_code == 0


def test_usage_text_is_go_print_defaults():
    text = usage_text()
    assert text.startswith(
        "Usage of spread:\n  -abend\n    \tStop without restoring on first error\n"
        "  -artifacts string\n    \tWhere to store task artifacts\n"
    )
    assert "  -repeat int\n    \tNumber of times to repeat each task\n" in text
    assert "  -v\tShow detailed progress information\n" in text
    assert "  -vv\n    \tShow debugging messages as well\n" in text


@pytest.mark.parametrize(
    "argv",
    [
        ["-debug", "-abend"],
        ["-shell", "-restore"],
        ["-shell-after", "-debug"],
        ["-list", "-debug", "-abend"],
    ],
)
def test_exclusive_flags(argv):
    with pytest.raises(OptionsError) as info:
        parse_spread_args(argv)
    assert str(info.value) == (
        "cannot have more than one of -debug, -shell, -shell-before/after, -abend, and -restore"
    )

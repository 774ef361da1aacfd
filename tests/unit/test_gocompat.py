"""Go standard-library behaviours: path.Match, ParseDuration, path.Clean, %q, YAML scalars."""

from __future__ import annotations

import pytest

from pytest_spread.project import gocompat

# Rows from Go's src/path/match_test.go (pattern, name, match, bad pattern).
MATCH_ROWS = [
    ("abc", "abc", True, False),
    ("*", "abc", True, False),
    ("*c", "abc", True, False),
    ("a*", "a", True, False),
    ("a*", "abc", True, False),
    ("a*", "ab/c", False, False),
    ("a*/b", "abc/b", True, False),
    ("a*/b", "a/c/b", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True, False),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False, False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False, False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True, False),
    ("a*b?c*x", "abxbbxdbxebxczzy", False, False),
    ("ab[c]", "abc", True, False),
    ("ab[b-d]", "abc", True, False),
    ("ab[e-g]", "abc", False, False),
    ("ab[^c]", "abc", False, False),
    ("ab[^b-d]", "abc", False, False),
    ("ab[^e-g]", "abc", True, False),
    ("a\\*b", "a*b", True, False),
    ("a\\*b", "ab", False, False),
    ("a?b", "a☺b", True, False),
    ("a[^a]b", "a☺b", True, False),
    ("a???b", "a☺b", False, False),
    ("a[^a][^a][^a]b", "a☺b", False, False),
    ("[a-ζ]*", "α", True, False),  # noqa: RUF001 - a row of Go's own tests
    ("*[a-ζ]", "A", False, False),
    ("a?b", "a/b", False, False),
    ("a*b", "a/b", False, False),
    ("[\\]a]", "]", True, False),
    ("[\\-]", "-", True, False),
    ("[x\\-]", "x", True, False),
    ("[x\\-]", "-", True, False),
    ("[x\\-]", "z", False, False),
    ("[\\-x]", "x", True, False),
    ("[\\-x]", "-", True, False),
    ("[\\-x]", "a", False, False),
    ("[]a]", "]", False, True),
    ("[-]", "-", False, True),
    ("[x-]", "x", False, True),
    ("[x-]", "-", False, True),
    ("[x-]", "z", False, True),
    ("[-x]", "x", False, True),
    ("[-x]", "-", False, True),
    ("[-x]", "a", False, True),
    ("\\", "a", False, True),
    ("[a-b-c]", "a", False, True),
    ("[", "a", False, True),
    ("[^", "a", False, True),
    ("[^bc", "a", False, True),
    ("a[", "a", False, True),
    ("a[", "ab", False, True),
    ("a[", "x", False, True),
    ("a/b[", "x", False, True),
    ("*x", "xxx", True, False),
]


@pytest.mark.parametrize(("pattern", "name", "match", "bad"), MATCH_ROWS)
def test_glob_match_like_go_path_match(pattern, name, match, bad):
    if bad:
        with pytest.raises(gocompat.GlobSyntaxError, match="syntax error in pattern"):
            gocompat.glob_match(pattern, name)
    else:
        assert gocompat.glob_match(pattern, name) is match


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("5s", 5_000_000_000),
        ("30s", 30_000_000_000),
        ("1478s", 1_478_000_000_000),
        ("-5s", -5_000_000_000),
        ("+5s", 5_000_000_000),
        ("-0", 0),
        ("+0", 0),
        ("5.0s", 5_000_000_000),
        ("5.6s", 5_600_000_000),
        ("5.s", 5_000_000_000),
        (".5s", 500_000_000),
        ("1.0s", 1_000_000_000),
        ("1.00s", 1_000_000_000),
        ("1.004s", 1_004_000_000),
        ("1.0040s", 1_004_000_000),
        ("100.00100s", 100_001_000_000),
        ("10ns", 10),
        ("11us", 11_000),
        ("12µs", 12_000),
        ("12μs", 12_000),
        ("13ms", 13_000_000),
        ("14s", 14_000_000_000),
        ("15m", 900_000_000_000),
        ("16h", 57_600_000_000_000),
        ("3h30m", 12_600_000_000_000),
        ("10.5s4m", 250_500_000_000),
        ("-2m3.4s", -123_400_000_000),
        ("1h2m3s4ms5us6ns", 3_723_004_005_006),
        ("39h9m14.425s", 140_954_425_000_000),
        ("52763797000ns", 52_763_797_000),
        ("0.3333333333333333333h", 1_200_000_000_000),
        ("9223372036854775807ns", (1 << 63) - 1),
        ("-1ns", -1),
        ("1.5h", 5_400_000_000_000),
    ],
)
def test_parse_duration(text, nanoseconds):
    assert gocompat.parse_duration(text) == nanoseconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "3",
        "-",
        "s",
        ".",
        "-.",
        ".s",
        "+.s",
        "1d",
        "1x",
        "30",
        "-1",
        "5 minutes",
        "9223372036854775808ns",
    ],
)
def test_parse_duration_errors(text):
    with pytest.raises(ValueError):
        gocompat.parse_duration(text)


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1_100, "1.1µs"),
        (2_200_000, "2.2ms"),
        (3_300_000_000, "3.3s"),
        (4 * 60_000_000_000 + 5_000_000_000, "4m5s"),
        (5_400_000_000_000, "1h30m0s"),
        (-1, "-1ns"),
        (300_000_000, "300ms"),
    ],
)
def test_format_duration(nanoseconds, text):
    assert gocompat.format_duration(nanoseconds) == text


def test_parse_timeout_message():
    with pytest.raises(ValueError) as info:
        gocompat.parse_timeout("30")
    assert str(info.value) == 'timeout must look like 10s or 15m or 1.5h, not "30"'
    assert gocompat.parse_timeout(" 10m ") == 600_000_000_000


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("", 0),
        ("preserve-size", -1),
        ("512B", 512),
        ("2K", 2048),
        ("500M", 500 << 20),
        ("10G", 10 << 30),
    ],
)
def test_parse_size(text, size):
    assert gocompat.parse_size(text) == size


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1024", 'unknown size suffix in "1024", must be one of: B, K, M, G'),
        ("10T", 'unknown size suffix in "10T", must be one of: B, K, M, G'),
        ("1.5T", 'invalid size string: "1.5T"'),
        ("1.5G", 'invalid size string: "1.5G"'),
        ("G", 'invalid size string: "G"'),
    ],
)
def test_parse_size_errors(text, message):
    with pytest.raises(ValueError) as info:
        gocompat.parse_size(text)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("text", "quoted"),
    [
        ("abc", '"abc"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("a\\b", '"a\\\\b"'),
        ("tab\there", '"tab\\there"'),
        ("line\n", '"line\\n"'),
        ("\x01", '"\\x01"'),
        ("☺", '"☺"'),
        ("\u200b", '"\\u200b"'),
        ("", '""'),
    ],
)
def test_go_quote(text, quoted):
    assert gocompat.go_quote(text) == quoted


# Rows from Go's src/path/path_test.go (cleantests).
@pytest.mark.parametrize(
    ("path", "clean"),
    [
        ("", "."),
        ("abc", "abc"),
        ("abc/def", "abc/def"),
        ("a/b/c", "a/b/c"),
        (".", "."),
        ("..", ".."),
        ("../..", "../.."),
        ("../../abc", "../../abc"),
        ("/abc", "/abc"),
        ("/", "/"),
        ("abc/", "abc"),
        ("abc/def/", "abc/def"),
        ("/abc/", "/abc"),
        ("abc//def//ghi", "abc/def/ghi"),
        ("//abc", "/abc"),
        ("///abc", "/abc"),
        ("//abc//", "/abc"),
        ("abc//", "abc"),
        ("abc/./def", "abc/def"),
        ("/./abc/def", "/abc/def"),
        ("abc/.", "abc"),
        ("abc/def/ghi/../jkl", "abc/def/jkl"),
        ("abc/def/../ghi/../jkl", "abc/jkl"),
        ("abc/def/..", "abc"),
        ("abc/def/../..", "."),
        ("/abc/def/../..", "/"),
        ("abc/def/../../..", ".."),
        ("/abc/def/../../..", "/"),
        ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
        ("abc/./../def", "def"),
        ("abc//./../def", "def"),
        ("abc/../../././../def", "../../def"),
        ("/../a", "/a"),
    ],
)
def test_clean_path(path, clean):
    assert gocompat.clean_path(path) == clean


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("7", 7),
        ("-3", -3),
        ("+4", 4),
        ("010", 8),
        ("0o17", 15),
        ("0x1F", 31),
        ("0b101", 5),
        ("1_000", 1000),
    ],
)
def test_parse_go_int(text, value):
    assert gocompat.parse_go_int(text) == value


@pytest.mark.parametrize("text", ["1.5", "abc", "", "1e3", "08", "two"])
def test_parse_go_int_errors(text):
    with pytest.raises(ValueError):
        gocompat.parse_go_int(text)


@pytest.mark.parametrize("text", "y Y yes Yes YES on On ON true True TRUE".split())
def test_yaml_true(text):
    assert gocompat.parse_yaml_bool(text) is True


@pytest.mark.parametrize("text", "n N no No NO off Off OFF false False FALSE".split())
def test_yaml_false(text):
    assert gocompat.parse_yaml_bool(text) is False


@pytest.mark.parametrize("text", ["maybe", "1", "0", "tRUE", ""])
def test_yaml_bool_errors(text):
    with pytest.raises(ValueError):
        gocompat.parse_yaml_bool(text)


@pytest.mark.parametrize(
    ("pattern", "name", "match"),
    [
        ("[z-a]", "m", False),
        ("a[z-a]b", "a-b", False),
        ("a[^x]b", "a/b", True),
        ("a[/]b", "a/b", True),
    ],
)
def test_glob_classes_like_go(pattern, name, match):
    assert gocompat.glob_match(pattern, name) is match

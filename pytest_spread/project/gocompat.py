"""Go standard-library behaviours Spread relies on: path.Match, ParseDuration, Clean, %q."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache


class GlobSyntaxError(ValueError):
    """A malformed `path.Match` pattern."""

    def __init__(self) -> None:
        super().__init__("syntax error in pattern")


def has_glob_meta(pattern: str) -> bool:
    return any(char in pattern for char in "*?[\\")


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> Callable[[str], re.Match[str] | None]:
    """A matcher equivalent to Go's `path.Match(pattern, name)`; raises GlobSyntaxError."""
    return re.compile(_translate(pattern), re.DOTALL).fullmatch


def glob_match(pattern: str, name: str) -> bool:
    return compile_glob(pattern)(name) is not None


def _translate(pattern: str) -> str:
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\":
            if i + 1 >= n:
                raise GlobSyntaxError()
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            i, cls = _translate_class(pattern, i + 1)
            out.append(cls)
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


def _translate_class(pattern: str, i: int) -> tuple[int, str]:
    """Translate a `[...]` class starting after `[`; returns (index after `]`, regex)."""
    n = len(pattern)
    negated = i < n and pattern[i] == "^"
    if negated:
        i += 1
    ranges: list[str] = []
    first = True
    while True:
        if i >= n:
            raise GlobSyntaxError()
        if pattern[i] == "]" and not first:
            i += 1
            break
        first = False
        low, i = _class_char(pattern, i)
        high = low
        if i < n and pattern[i] == "-":
            high, i = _class_char(pattern, i + 1)
        if low <= high:  # Go accepts a reversed range such as z-a: it matches nothing
            ranges.append(re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}")
    body = "".join(ranges)
    if not body:
        return i, "[^\\s\\S]" if not negated else "[\\s\\S]"
    # Classes are not limited to one path element: Go's [^x] matches '/' too.
    return i, f"[^{body}]" if negated else f"[{body}]"


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        raise GlobSyntaxError()
    if pattern[i] == "\\":
        i += 1
        if i >= n:
            raise GlobSyntaxError()
    return pattern[i], i + 1


_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_GROUP_RE = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")
_MAX_DURATION = (1 << 63) - 1


def parse_duration(text: str) -> int:
    """Go's `time.ParseDuration`, in nanoseconds; raises ValueError."""
    rest = text
    sign = 1
    if rest[:1] in ("+", "-"):
        sign = -1 if rest[0] == "-" else 1
        rest = rest[1:]
    if rest == "0":
        return 0
    if not rest:
        raise ValueError(f"time: invalid duration {go_quote(text)}")
    total = 0
    while rest:
        match = _GROUP_RE.match(rest)
        assert match is not None
        whole, fraction, unit = match.group(1), match.group(2), match.group(3)
        if not whole and not fraction:
            raise ValueError(f"time: invalid duration {go_quote(text)}")
        if unit not in _UNITS:
            raise ValueError(f"time: unknown unit {go_quote(unit)} in duration {go_quote(text)}")
        scale = _UNITS[unit]
        value = int(whole or "0") * scale
        if fraction:
            value += _fraction(fraction, scale)
        total += value
        if total > _MAX_DURATION + (sign < 0):
            raise ValueError(f"time: invalid duration {go_quote(text)}")
        rest = rest[match.end() :]
    return sign * total


def _fraction(digits: str, unit: int) -> int:
    """Go's handling of a duration's fraction: digits until int64 overflow, then float64."""
    value, scale = 0, 1.0
    for digit in digits:
        if value > _MAX_DURATION // 10:
            break  # Go ignores the digits that no longer fit
        value = value * 10 + int(digit)
        scale *= 10
    return int(float(value) * (float(unit) / scale))


def format_duration(ns: int) -> str:
    """Go's `time.Duration.String()`."""
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000_000_000:
        for unit, size in (("ns", 1), ("µs", 1_000), ("ms", 1_000_000)):
            if ns < size * 1000:
                return sign + _decimal(ns, size) + unit
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _decimal(rest, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def _decimal(value: int, size: int) -> str:
    whole, fraction = divmod(value, size)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(len(str(size)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def parse_timeout(text: str) -> int:
    """A Spread timeout field in nanoseconds, with Spread's error message."""
    try:
        return parse_duration(text.strip())
    except ValueError:
        raise ValueError(
            f"timeout must look like 10s or 15m or 1.5h, not {go_quote(text)}"
        ) from None


_SIZE_UNITS = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    """A Spread size (`memory`, `storage`) in bytes; -1 for `preserve-size`."""
    if text == "":
        return 0
    if text == "preserve-size":
        return -1
    # Spread reads the number before it looks at the suffix.
    if not re.fullmatch(r"[+-]?[0-9]+", text[:-1]):
        raise ValueError(f"invalid size string: {go_quote(text)}")
    unit = _SIZE_UNITS.get(text[-1:])
    if unit is None:
        raise ValueError(f"unknown size suffix in {go_quote(text)}, must be one of: B, K, M, G")
    return int(text[:-1]) * unit


_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
    "\\": "\\\\",
    '"': '\\"',
}


def go_quote(text: str) -> str:
    """Go's `strconv.Quote` (the `%q` verb)."""
    out = ['"']
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable() or char == " ":
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    out.append('"')
    return "".join(out)


def clean_path(path: str) -> str:
    """Go's `path.Clean`: the shortest equivalent slash path."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


_INT_RE = re.compile(r"[-+]?(?:0b[01_]+|0x[0-9a-fA-F_]+|0o?[0-7_]+|[1-9][0-9_]*|0)")


def parse_go_int(text: str) -> int:
    """A plain YAML 1.1 integer as Go's yaml.v2 resolves it (`010` is octal)."""
    if not _INT_RE.fullmatch(text):
        raise ValueError(f"not an integer: {text!r}")
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-").replace("_", "")
    if digits.startswith("0b"):
        return sign * int(digits[2:], 2)
    if digits.startswith("0x"):
        return sign * int(digits[2:], 16)
    if digits.startswith("0o"):
        return sign * int(digits[2:], 8)
    if len(digits) > 1 and digits.startswith("0"):
        return sign * int(digits[1:], 8)
    return sign * int(digits)


_TRUE = frozenset("y Y yes Yes YES on On ON true True TRUE".split())
_FALSE = frozenset("n N no No NO off Off OFF false False FALSE".split())


def parse_yaml_bool(text: str) -> bool:
    """A YAML 1.1 boolean word as Go's yaml.v2 accepts it."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r}")

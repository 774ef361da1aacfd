"""Exact Python versions of the Go standard-library and yaml.v2 behaviours Spread relies on."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

_MAX_INT64 = (1 << 63) - 1
_UINT64_MASK = (1 << 64) - 1


def _wrap_int64(value: int) -> int:
    """`value` reduced to int64 the way Go's integer arithmetic wraps."""
    value &= _UINT64_MASK
    return value - (1 << 64) if value > _MAX_INT64 else value


def _go_bytes(text: str) -> bytes:
    """The Go string behind `text`; surrogate escapes stand for undecodable bytes."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


# --- path.Match -------------------------------------------------------------------------------


class GlobSyntaxError(ValueError):
    """A malformed `path.Match` pattern (Go's `path.ErrBadPattern`)."""

    def __init__(self) -> None:
        super().__init__("syntax error in pattern")


_LITERAL, _ANY, _CLASS = 0, 1, 2


@dataclass(frozen=True)
class _Term:
    """One single-character term of a pattern: a literal, `?`, or a `[...]` class."""

    kind: int
    literal: bytes = b""  # UTF-8 bytes of a literal, compared byte by byte like Go
    negated: bool = False
    ranges: tuple[tuple[int, int], ...] = ()

    def accepts(self, rune: int) -> bool:
        """Whether a class accepts `rune` (only for _CLASS terms)."""
        return any(lo <= rune <= hi for lo, hi in self.ranges) != self.negated


# A chunk is Go's unit of matching: an optional leading star, then fixed-width terms.
_Chunk = tuple[bool, tuple[_Term, ...]]


def has_glob_meta(pattern: str) -> bool:
    """Whether `pattern` contains any of Go's pattern metacharacters `*?[\\`."""
    return "*" in pattern or "?" in pattern or "[" in pattern or "\\" in pattern


def glob_match(pattern: str, name: str) -> bool:
    """Go's `path.Match(pattern, name)`; raises GlobSyntaxError for any malformed pattern."""
    return compile_glob(pattern)(name)


@lru_cache(maxsize=4096)
def compile_glob(pattern: str) -> Callable[[str], bool]:
    """A cached matcher equivalent to `glob_match(pattern, name)`; validates `pattern` now.

    Raises GlobSyntaxError for a malformed pattern, whatever the name would have been.
    """
    chunks = _parse_glob(pattern)
    regex = re.compile(_glob_regex(chunks), re.DOTALL).fullmatch
    # Go matches bytes: after a star has skipped part of a multi-byte character, `?` and
    # classes see invalid UTF-8. Only non-ASCII names with such terms need the byte matcher.
    bytewise = any(
        term.kind != _LITERAL or not term.literal.isascii() for _, terms in chunks for term in terms
    )
    if not bytewise:
        return lambda name: regex(name) is not None

    def match(name: str) -> bool:
        if name.isascii():
            return regex(name) is not None
        return _match_bytes(chunks, _go_bytes(name))

    return match


def _parse_glob(pattern: str) -> list[_Chunk]:
    """Split `pattern` into Go's chunks, validating every term."""
    chunks: list[_Chunk] = []
    terms: list[_Term] = []
    star = False
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            if terms:
                chunks.append((star, tuple(terms)))
                terms = []
            star = True
            i += 1
        elif char == "?":
            terms.append(_Term(_ANY))
            i += 1
        elif char == "[":
            term, i = _parse_class(pattern, i + 1)
            terms.append(term)
        else:
            if char == "\\":
                i += 1
                if i >= n:
                    raise GlobSyntaxError()
                char = pattern[i]
            terms.append(_Term(_LITERAL, literal=_go_bytes(char)))
            i += 1
    if terms or star:
        chunks.append((star, tuple(terms)))
    return chunks


def _parse_class(pattern: str, i: int) -> tuple[_Term, int]:
    """Parse a class whose `[` precedes index `i`; returns the term and the index after `]`."""
    negated = pattern.startswith("^", i)
    if negated:
        i += 1
    ranges: list[tuple[int, int]] = []
    while not (ranges and pattern.startswith("]", i)):
        lo, i = _class_char(pattern, i)
        hi = lo
        if pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
        ranges.append((lo, hi))  # lo > hi is allowed: the range is simply empty
    return _Term(_CLASS, negated=negated, ranges=tuple(ranges)), i + 1


def _class_char(pattern: str, i: int) -> tuple[int, int]:
    """Go's getEsc: one possibly escaped class character; something must follow it."""
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        raise GlobSyntaxError()
    if pattern[i] == "\\":
        i += 1
        if i >= n:
            raise GlobSyntaxError()
    rune = ord(pattern[i])
    if 0xD800 <= rune <= 0xDFFF or i + 1 >= n:  # invalid UTF-8, or an unterminated class
        raise GlobSyntaxError()
    return rune, i + 1


def _term_regex(term: _Term) -> str:
    if term.kind == _LITERAL:
        return re.escape(term.literal.decode("utf-8", "surrogateescape"))
    if term.kind == _ANY:
        return "[^/]"
    body = "".join(
        f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}"
        for lo, hi in term.ranges
        if lo <= hi
    )
    if term.negated:
        return f"[^{body}]" if body else "."
    return f"[{body}]" if body else "(?!)"


def _glob_regex(chunks: Sequence[_Chunk]) -> str:
    """A regex (for fullmatch) that reproduces Go's matching, including its lack of backtracking.

    After a star, Go commits to the leftmost place where the next chunk matches and never
    reconsiders it; an atomic lookahead plus a back-reference does the same.
    """
    parts: list[str] = []
    last = len(chunks) - 1
    for index, (star, terms) in enumerate(chunks):
        body = "".join(_term_regex(term) for term in terms)
        if not star:
            parts.append(body)
        elif index == last:
            parts.append("[^/]*" + body)
        else:
            parts.append(f"(?=(?P<g{index}>[^/]*?{body}))(?P=g{index})")
    return "".join(parts)


def _decode_rune(data: bytes, i: int) -> tuple[int, int]:
    """Go's utf8.DecodeRune at `data[i]`: (rune, width), or (U+FFFD, 1) when invalid."""
    first = data[i]
    if first < 0x80:
        return first, 1
    if 0xC2 <= first <= 0xDF:
        width, low, high = 2, 0x80, 0xBF
    elif first == 0xE0:
        width, low, high = 3, 0xA0, 0xBF
    elif first == 0xED:
        width, low, high = 3, 0x80, 0x9F
    elif 0xE1 <= first <= 0xEF:
        width, low, high = 3, 0x80, 0xBF
    elif first == 0xF0:
        width, low, high = 4, 0x90, 0xBF
    elif first == 0xF4:
        width, low, high = 4, 0x80, 0x8F
    elif 0xF1 <= first <= 0xF3:
        width, low, high = 4, 0x80, 0xBF
    else:
        return 0xFFFD, 1
    tail = data[i + 1 : i + width]
    if len(tail) < width - 1 or not low <= tail[0] <= high:
        return 0xFFFD, 1
    if any(not 0x80 <= byte <= 0xBF for byte in tail[1:]):
        return 0xFFFD, 1
    rune = first & (0x7F >> width)
    for byte in tail:
        rune = rune << 6 | byte & 0x3F
    return rune, width


def _chunk_end(terms: Sequence[_Term], data: bytes, i: int) -> int:
    """Go's matchChunk on bytes: the index after the chunk matched at `i`, or -1."""
    for term in terms:
        if term.kind == _LITERAL:
            if not data.startswith(term.literal, i):
                return -1
            i += len(term.literal)
            continue
        if i >= len(data) or (term.kind == _ANY and data[i] == 0x2F):
            return -1
        rune, width = _decode_rune(data, i)
        if term.kind == _CLASS and not term.accepts(rune):
            return -1
        i += width
    return i


def _match_bytes(chunks: Sequence[_Chunk], data: bytes) -> bool:
    """Go's path.Match algorithm, step by step, on the name's bytes."""
    pos, last = 0, len(chunks) - 1
    for index, (star, terms) in enumerate(chunks):
        if star and not terms:
            return data.find(b"/", pos) < 0
        end = _chunk_end(terms, data, pos)
        if end >= 0 and (end == len(data) or index != last):
            pos = end
            continue
        if not star:
            return False
        skip = pos
        while skip < len(data) and data[skip] != 0x2F:
            end = _chunk_end(terms, data, skip + 1)
            if end >= 0 and (end == len(data) or index != last):
                break
            skip += 1
        else:
            return False
        pos = end
    return pos == len(data)


# --- time.ParseDuration and Duration.String ----------------------------------------------------

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek small letter mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DIGITS = frozenset("0123456789")


def _time_quote(text: str) -> str:
    """The time package's own quoting: non-ASCII and control bytes become `\\xNN`."""
    out = ['"']
    for char in text:
        if char < " " or char >= "\x80":
            out.extend(f"\\x{byte:02x}" for byte in _go_bytes(char))
        else:
            out.append("\\" + char if char in '"\\' else char)
    out.append('"')
    return "".join(out)


def parse_duration(text: str) -> int:
    """Go's `time.ParseDuration`, in nanoseconds; raises ValueError with Go's message.

    Fractions are computed with float64 exactly as Go does (`0.99999999999999999ns` is 1ns).
    """
    invalid = ValueError(f"time: invalid duration {_time_quote(text)}")
    s, negative = text, False
    if s[:1] in ("-", "+"):
        negative, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total, i, n = 0, 0, len(s)
    while i < n:
        if s[i] != "." and s[i] not in _DIGITS:
            raise invalid
        start, whole = i, 0
        while i < n and s[i] in _DIGITS:
            if whole > (1 << 63) // 10:
                raise invalid
            whole = whole * 10 + ord(s[i]) - 48
            if whole > 1 << 63:
                raise invalid
            i += 1
        seen_digits = i > start
        fraction, scale = 0, 1.0
        if i < n and s[i] == ".":
            i += 1
            start, overflow = i, False
            while i < n and s[i] in _DIGITS:
                if not overflow:
                    bigger = fraction * 10 + ord(s[i]) - 48
                    if fraction > _MAX_INT64 // 10 or bigger > 1 << 63:
                        overflow = True  # Go keeps the digits that fit, ignores the rest
                    else:
                        fraction, scale = bigger, scale * 10
                i += 1
            seen_digits = seen_digits or i > start
        if not seen_digits:
            raise invalid
        start = i
        while i < n and s[i] != "." and s[i] not in _DIGITS:
            i += 1
        if i == start:
            raise ValueError(f"time: missing unit in duration {_time_quote(text)}")
        unit_name = s[start:i]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise ValueError(
                f"time: unknown unit {_time_quote(unit_name)} in duration {_time_quote(text)}"
            )
        if whole > (1 << 63) // unit:
            raise invalid
        value = whole * unit
        if fraction:
            value += int(float(fraction) * (float(unit) / scale))
            if value > 1 << 63:
                raise invalid
        total = (total + value) & _UINT64_MASK  # Go's uint64 sum wraps (2^63 + 2^63 == 0)
        if total > 1 << 63:
            raise invalid
    if negative:
        return -total
    if total > _MAX_INT64:
        raise invalid
    return total


def _fraction(value: int, digits: int) -> tuple[str, int]:
    """Go's fmtFrac: `value` split at `digits` decimals, as ".ddd" without trailing zeros."""
    whole, rest = divmod(value, 10**digits)
    text = f"{rest:0{digits}d}".rstrip("0") if digits else ""
    return ("." + text if text else ""), whole


def format_duration(ns: int) -> str:
    """Go's `time.Duration.String()` for an int64 nanosecond count, e.g. `1h30m0s`, `1.5µs`."""
    sign, u = ("-", -ns) if ns < 0 else ("", ns)
    if u == 0:
        return "0s"
    if u < 1_000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        fraction, whole = _fraction(u, 3)
        return f"{sign}{whole}{fraction}\u00b5s"
    if u < 1_000_000_000:
        fraction, whole = _fraction(u, 6)
        return f"{sign}{whole}{fraction}ms"
    fraction, seconds = _fraction(u, 9)
    minutes, seconds = divmod(seconds, 60)
    text = f"{seconds}{fraction}s"
    if minutes:
        hours, minutes = divmod(minutes, 60)
        text = f"{minutes}m{text}"
        if hours:
            text = f"{hours}h{text}"
    return sign + text


# --- Spread's Timeout and Size fields ----------------------------------------------------------

# unicode.IsSpace, which strings.TrimSpace uses (Python's strip() also removes \x1c-\x1f).
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501


def parse_timeout(text: str) -> int:
    """A Spread timeout in nanoseconds: Go-trimmed, then parsed by `parse_duration`."""
    try:
        return parse_duration(text.strip(_GO_SPACE))
    except ValueError:
        raise ValueError(
            f"timeout must look like 10s or 15m or 1.5h, not {go_quote(text)}"
        ) from None


_SIZE_UNITS = {"B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_ATOI_RE = re.compile(r"[+-]?[0-9]+")


def parse_size(text: str) -> int:
    """A Spread size in bytes (`memory`, `storage`): "" is 0, `preserve-size` is -1.

    As in Spread, the number before the last byte is checked first (`1.5T` is an invalid
    size string), then the suffix; the product wraps like Go's int64.
    """
    if not text:
        return 0
    if text == "preserve-size":
        return -1
    number, suffix = text[:-1], text[-1]
    # Go slices off the last *byte*: a multi-byte last character leaves invalid digits.
    if not suffix.isascii() or not _ATOI_RE.fullmatch(number):
        raise ValueError(f"invalid size string: {go_quote(text)}")
    count = int(number)
    if not -(1 << 63) <= count <= _MAX_INT64:
        raise ValueError(f"invalid size string: {go_quote(text)}")
    unit = _SIZE_UNITS.get(suffix)
    if unit is None:
        raise ValueError(f"unknown size suffix in {go_quote(text)}, must be one of: B, K, M, G")
    return _wrap_int64(count * unit)


# --- strconv.Quote -----------------------------------------------------------------------------

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
    """Go's `strconv.Quote` (the `%q` verb); surrogate escapes print as the `\\xNN` bytes."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = ['"']
    for char in text:
        code = ord(char)
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char.isprintable():  # Go's IsPrint: letters, marks, numbers, punct, symbols, ' '
            out.append(char)
        elif code < 0x20 or code == 0x7F or 0xD800 <= code <= 0xDFFF:
            out.extend(f"\\x{byte:02x}" for byte in _go_bytes(char))
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


# --- path.Clean --------------------------------------------------------------------------------


def clean_path(path: str) -> str:
    """Go's `path.Clean`: the shortest lexically equivalent slash-separated path."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif parts and parts[-1] != "..":
            parts.pop()
        elif not rooted:
            parts.append("..")
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


# --- yaml.v2 plain scalars ---------------------------------------------------------------------


def _parse_uint_base0(text: str) -> int:
    """Go's `strconv.ParseUint(text, 0, 64)` without the range check (no underscores left)."""
    base, digits = 10, text
    if text[:1] == "0":
        prefix = text[1:2].lower()
        if len(text) >= 3 and prefix in ("b", "o", "x"):
            base, digits = {"b": 2, "o": 8, "x": 16}[prefix], text[2:]
        else:
            base, digits = 8, text[1:]
    if not text or any(char not in "0123456789abcdefABCDEF"[: base + max(base - 10, 0)]
                       for char in digits):
        raise ValueError(f"not an integer: {text!r}")
    return int(digits, base) if digits else 0


def _parse_int_base0(text: str) -> int:
    """Go's `strconv.ParseInt(text, 0, 64)`."""
    sign, digits = (-1, text[1:]) if text[:1] == "-" else (1, text[1:] if text[:1] == "+" else text)
    value = sign * _parse_uint_base0(digits)
    if not -(1 << 63) <= value <= _MAX_INT64:
        raise ValueError(f"integer out of range: {text!r}")
    return value


def parse_go_int(text: str) -> int:
    """A plain scalar that Go's yaml.v2 resolves as `!!int` (YAML 1.1); else ValueError.

    The scalar must start with a digit or sign; every `_` is dropped; then Go's base-0
    rules apply (`0x1F`, `0o17`, `010` octal, `0b101`). Unsigned values up to 2^64-1 count.
    yaml.v2 quirk kept: `0b-101` is -5.
    """
    if not text or text[0] not in "+-0123456789":
        raise ValueError(f"not an integer: {text!r}")
    plain = text.replace("_", "")
    try:
        return _parse_int_base0(plain)
    except ValueError:
        pass
    if plain[0] not in "+-":
        value = _parse_uint_base0(plain) if plain else -1
        if 0 <= value <= _UINT64_MASK:
            return value
    if plain.startswith("0b"):  # yaml.v2's own binary fallback accepts a sign after 0b
        digits = plain[2:]
        if re.fullmatch(r"[+-]?[01]+", digits):
            value = int(digits, 2)
            if -(1 << 63) <= value <= _MAX_INT64:
                return value
    raise ValueError(f"not an integer: {text!r}")


_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_SPECIAL_FLOATS = {
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_YAML_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_DOT_FLOAT_RE = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")


def decode_yaml_int(text: str) -> int:
    """What yaml.v2 stores in an `int`/`int64` field for a plain scalar; else ValueError.

    Unlike `parse_go_int`: null (`""`, `~`, `null`) is 0 and floats are truncated
    (`1.5` is 1, `1e3` is 1000), as Spread's `workers:` and `priority:` fields behave.
    A float out of range converts as on amd64 (to -2^63).
    """
    if text in _NULLS:
        return 0
    try:
        value = parse_go_int(text)
    except ValueError:
        pass
    else:
        if value > _MAX_INT64:
            raise ValueError(f"integer out of range: {text!r}")
        return value
    number = _SPECIAL_FLOATS.get(text)
    if number is None:
        plain = text.replace("_", "")
        if text[:1] == "." and _DOT_FLOAT_RE.fullmatch(text):
            number = float(text)
        elif text[:1] in ("+", "-", *_DIGITS) and _YAML_FLOAT_RE.fullmatch(plain):
            number = float(plain)
        if number is None or math.isinf(number):  # Go's ParseFloat fails on overflow
            raise ValueError(f"not an integer: {text!r}")
    if not number <= float(1 << 63):  # NaN and +Inf fail this test too
        raise ValueError(f"integer out of range: {text!r}")
    if -float(1 << 63) <= number < float(1 << 63):
        return int(number)
    return -(1 << 63)


_TRUE = frozenset("y Y yes Yes YES on On ON true True TRUE".split())
_FALSE = frozenset("n N no No NO off Off OFF false False FALSE".split())


def parse_yaml_bool(text: str) -> bool:
    """A plain scalar that yaml.v2 resolves as a YAML 1.1 boolean; else ValueError."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"not a boolean: {text!r}")

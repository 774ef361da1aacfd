"""Spread's set cascade for `backends`, `systems` and `variants` (spec §2.2).

Each level's list either replaces the set (plain names) or edits it
(`+name`, `-name`); names are Go `path.Match` globs over every name the
levels so far have mentioned.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ProjectError
from .gocompat import GlobSyntaxError, compile_glob, has_glob_meta

Level = tuple[str, Sequence[str]]  # (context for messages, entries)


def cascade(levels: Sequence[Level], what: str) -> set[str]:
    """The names selected by applying `levels` in order; `what` names the field in errors."""
    final: set[str] = set()
    candidates: list[str] = []
    for index, (context, entries) in enumerate(levels):
        if not entries:
            continue
        candidates.extend(entry[1:] if entry[:1] in ("+", "-") else entry for entry in entries)
        seen_delta = seen_plain = False
        for position, entry in enumerate(entries):
            op = entry[:1]
            if op in ("+", "-"):
                if index == 0:
                    raise ProjectError(f"{context} specifies {what} in delta format")
                seen_delta, pattern = True, entry[1:]
            else:
                seen_plain, pattern, op = True, entry, ""
            if seen_delta and seen_plain:
                raise ProjectError(f"{context} specifies {what} both in delta and plain format")
            matches = _matches(pattern, candidates, context, what)
            if op == "+":
                final.update(matches)
            elif op == "-":
                final.difference_update(matches)
            else:
                if position == 0:
                    final.clear()
                final.update(matches)
    return final


def _matches(pattern: str, candidates: list[str], context: str, what: str) -> list[str]:
    if not has_glob_meta(pattern):
        return [pattern] if pattern in candidates else []
    try:
        match = compile_glob(pattern)
    except GlobSyntaxError as exc:
        raise ProjectError(f"{context} has invalid {what} pattern {pattern!r}: {exc}") from exc
    return [name for name in candidates if match(name)]

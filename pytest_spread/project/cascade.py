"""Spread's set cascade for `backends`, `systems` and `variants` (spec §2.2).

Each level's list either replaces the set (plain names) or edits it
(`+name`, `-name`); names are Go `path.Match` globs over every name the
levels so far have mentioned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache

from pytest_spread.errors import ProjectError
from pytest_spread.project.gocompat import GlobSyntaxError, compile_glob, has_glob_meta

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
    match = _matcher(pattern)
    if match is None:
        return [pattern] if pattern in candidates else []
    return [name for name in candidates if match(name)]


@lru_cache(maxsize=8192)
def _matcher(pattern: str) -> Callable[[str], object] | None:
    """None for a plain name, else the compiled glob (malformed globs are a ProjectError)."""
    if not has_glob_meta(pattern):
        return None
    try:
        return compile_glob(pattern)
    except GlobSyntaxError as exc:
        raise ProjectError(f"invalid pattern {pattern!r}: {exc}") from exc

"""Which warn and kill timeouts apply to a script (spec §5)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pytest_spread.project.model import Timeouts

SECOND = 1_000_000_000
DEFAULT_WARN = 5 * 60 * SECOND
DEFAULT_KILL = 15 * 60 * SECOND
NEVER = 365 * 24 * 3600 * SECOND  # what -1ns means
DISABLED = -1


@dataclass(frozen=True)
class Limits:
    """Effective timeouts of one script, in seconds."""

    warn: float
    kill: float


def limits(levels: Sequence[Timeouts]) -> Limits:
    """The limits for a script whose own level is `levels[0]`, parents after it.

    The first non-zero value from the script's level upwards applies; -1ns
    (or any negative value, see docs/deviations.md) disables; when kill is an
    exact multiple of warn it is one second shorter, so the kill does not
    coincide with a warning.
    """
    warn = _first(level.warn for level in levels) or DEFAULT_WARN
    kill = _first(level.kill for level in levels) or DEFAULT_KILL
    warn = NEVER if warn < 0 else warn
    kill = NEVER if kill < 0 else kill
    if kill % warn == 0:
        kill -= SECOND
    return Limits(warn / SECOND, kill / SECOND)


def _first(values: Iterable[int]) -> int:
    return next((value for value in values if value), 0)

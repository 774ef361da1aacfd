"""Job durations of earlier runs, kept in pytest's cache for longest-first ordering.

Both front ends share them: pytest through `config.cache` (key
`spread/durations`), the spread command through the same file under the
project's `.pytest_cache`. Each run updates the durations of the jobs it ran
and forgets jobs the project no longer has.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path

CACHE_KEY = "spread/durations"
MACHINE_SECONDS = "machine_seconds"  # an item's user property: setup time getting its machine
CACHE_README = "# Created by pytest automatically.\n*\n"


def cache_file(project_dir: Path) -> Path:
    """Where pytest keeps the durations when the project is its rootdir."""
    return project_dir / ".pytest_cache" / "v" / CACHE_KEY


def valid(data: object) -> dict[str, float]:
    """The usable entries of a stored mapping (anything else is ignored)."""
    if not isinstance(data, dict):
        return {}
    return {
        str(name): float(seconds)
        for name, seconds in data.items()
        if isinstance(seconds, (int, float)) and seconds >= 0
    }


def spans(timings: Mapping[str, tuple[float, float]]) -> dict[str, float]:
    """Durations in seconds from (start, end) times."""
    return {name: round(end - start, 3) for name, (start, end) in timings.items()}


def load(path: Path) -> dict[str, float]:
    try:
        return valid(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def merged(
    known: Mapping[str, float], new: Mapping[str, float], jobs: Collection[str]
) -> dict[str, float]:
    """The known durations updated with new ones, keeping only the project's current jobs."""
    return {name: seconds for name, seconds in {**known, **new}.items() if name in jobs}


def save(path: Path, durations: Mapping[str, float], jobs: Collection[str]) -> None:
    """Add these durations to the file (best effort, as pytest's cache)."""
    if not durations:
        return
    updated = merged(load(path), durations, jobs)
    try:
        cache_dir = path.parents[2]
        if not cache_dir.exists():
            cache_dir.mkdir(parents=True)
            (cache_dir / ".gitignore").write_text(CACHE_README)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(updated, indent=2, sort_keys=True))
    except OSError:
        pass

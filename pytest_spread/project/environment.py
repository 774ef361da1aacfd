"""The environment of one job: SPREAD_* variables, then the five levels, then variants.

Computed on demand (never stored per job), from environments whose
`$(HOST:...)` references were evaluated when the matrix was built.
"""

from __future__ import annotations

from pytest_spread.project.matrix import Job, Matrix


def job_environment(job: Job, matrix: Matrix) -> list[tuple[str, str]]:
    """The ordered (name, value) pairs a job's scripts export (spec §3.2-3.3)."""
    merged: dict[str, str] = {
        "SPREAD_JOB": job.name,
        "SPREAD_PROJECT": matrix.project.name,
        "SPREAD_PATH": matrix.remote_path,
        "SPREAD_BACKEND": job.backend.name,
        "SPREAD_SYSTEM": job.system.name,
        "SPREAD_SUITE": job.suite.name,
        "SPREAD_TASK": job.task.name,
        "SPREAD_VARIANT": job.variant,
        "SPREAD_SAMPLE": str(job.sample),
    }
    if "$(HOST:" in job.name:
        for key in ("SPREAD_JOB", "SPREAD_VARIANT"):
            merged[key] = matrix.host.expand(merged[key], "$SPREAD_*")
    levels = (
        matrix.project.environment,
        job.backend.environment,
        job.system.environment,
        job.suite.environment,
        job.task.environment,
    )
    for level in levels:
        for key, value in matrix.evaluated(level).items():
            merged.pop(key, None)  # a redefinition moves the key to the end
            merged[key] = value
    return resolve_variant(list(merged.items()), job.variant)


def resolve_variant(pairs: list[tuple[str, str]], variant: str) -> list[tuple[str, str]]:
    """Keep `KEY/v1,v2` as `KEY` where `variant` is listed, at its place; drop the others.

    A variant-specific value beats the bare one wherever the bare one is; of
    two matching keys the later (more specific) one wins.
    """
    if not any("/" in key for key, _ in pairs):
        return pairs
    entries: list[list[str] | None] = [[key, value] for key, value in pairs]
    position = {key: index for index, (key, _) in enumerate(pairs)}
    for index, (key, value) in enumerate(pairs):
        name, slash, suffix = key.partition("/")
        if not slash:
            continue
        if variant not in suffix.split(","):
            entries[index] = None
            continue
        other = position.get(name)
        if other is not None and other != index:
            entries[other] = None
        entries[index] = [name, value]
        position[name] = index
    return [(entry[0], entry[1]) for entry in entries if entry is not None]

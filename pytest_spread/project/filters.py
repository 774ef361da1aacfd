"""Spread's filter arguments and `manual:` selection (spec §2.6)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from pytest_spread.errors import FilterError, NoJobsError, SpreadError
from pytest_spread.project.gocompat import go_quote
from pytest_spread.project.matrix import Job
from pytest_spread.project.model import Project

T = TypeVar("T")

_SAMPLE_RE = re.compile(r"^(.*)#([0-9]+)(?:\.\.([0-9]+))?$")
_SEPARATOR_RE = re.compile(r"(\.+|:+|#)")
_COLON = "(:.+)*:(.+:)*"
_TOKENS = {".": r"\.", "...": "[^:]*", ":": _COLON}


class JobFilter:
    """One filter argument: a regular expression over job names plus a sample range."""

    def __init__(self, argument: str) -> None:
        self.argument = argument
        self.first, self.last = 0, 0
        text = argument
        sample = _SAMPLE_RE.match(argument)
        if sample:
            text = sample.group(1)
            self.first = int(sample.group(2))
            self.last = int(sample.group(3) or 0)
            if self.first > 0 and self.last == 0:
                self.last = self.first
            if self.first < 1 or self.last < self.first:
                raise FilterError(f"invalid sample range in filter string: {go_quote(argument)}")
        parts = []
        for index, part in enumerate(_SEPARATOR_RE.split(text)):
            if index % 2 == 0:
                parts.append(part)  # user text is regular expression syntax, as in Spread
            elif part in _TOKENS:
                parts.append(_TOKENS[part])
            else:
                raise FilterError(f"invalid filter string: {go_quote(part)}")
        expression = "".join(parts)
        if expression.startswith((_COLON, "/")):
            expression = ".+" + expression
        if expression.endswith((_COLON, "/")):
            expression += ".+"
        try:
            self.regex = re.compile(f"(?:^|:){expression}(?:$|[:#])")
        except re.error as exc:
            raise FilterError(f"invalid filter string: {go_quote(argument)}") from exc

    def matches(self, job: Job) -> bool:
        if self.first and not self.first <= job.sample <= self.last:
            return False
        return self.regex.search(job.name) is not None


def compile_filters(arguments: Sequence[str]) -> list[JobFilter]:
    return [JobFilter(argument) for argument in arguments]


def matches_any(filters: Sequence[JobFilter], job: Job) -> bool:
    """True when no filter is given or any of them matches."""
    return not filters or any(f.matches(job) for f in filters)


ALL_MANUAL = 0b1111  # backend, system, suite, task: see Job.manual


def drop_manual(entries: Sequence[T], job_of: Callable[[T], Job], explicit: bool) -> list[T]:
    """The entries left once manual backends, systems, suites and tasks are dropped.

    Without `explicit` selection every manual entry goes. With it, a dimension's
    manual entries stay only when every selected job is manual in that dimension.
    """
    masks = [job_of(entry).manual for entry in entries]
    if not any(masks):
        return list(entries)
    kept = ALL_MANUAL
    if explicit:
        for mask in masks:
            kept &= mask
    dropped = ALL_MANUAL & ~kept if explicit else ALL_MANUAL
    return [entry for entry, mask in zip(entries, masks, strict=False) if not mask & dropped]


def select_jobs(jobs: Iterable[Job], arguments: Sequence[str]) -> list[Job]:
    """The jobs Spread would run for these filter arguments, in the given order."""
    filters = compile_filters(arguments)
    chosen = [job for job in jobs if matches_any(filters, job)]
    chosen = drop_manual(chosen, _identity, explicit=bool(arguments))
    if not chosen:
        raise NoJobsError(
            "nothing matches provider filter" if arguments else "cannot find any tasks"
        )
    return chosen


def _identity(job: Job) -> Job:
    return job


def filter_order(jobs: Sequence[Job], arguments: Sequence[str]) -> list[Job]:
    """spread-plus' -order: the jobs grouped by the first filter argument matching them.

    Within one argument, jobs keep their given (Spread's) order; each job comes
    once; jobs no argument matches (selected otherwise) come last.
    """
    placed: set[int] = set()
    ordered: list[Job] = []
    for expression in compile_filters(arguments):
        for job in jobs:
            if id(job) not in placed and expression.matches(job):
                placed.add(id(job))
                ordered.append(job)
    ordered += [job for job in jobs if id(job) not in placed]
    return ordered


def check_tasks_limit(project: Project, count: int) -> None:
    """spread-plus' `tasks-limit`: a run of more jobs than that is refused before it starts."""
    if project.tasks_limit and count > project.tasks_limit:
        raise SpreadError(
            f"The number of jobs ({count}) is greater then the tasks limit set "
            f"({project.tasks_limit})"
        )

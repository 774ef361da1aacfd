"""spread-plus' JSON results (`-json FILE`): one record per script run, and the run's counts.

The document is what spread-plus' `spread/report.go` writes: `items`, one
record per prepare, execute and restore at project, suite and task level
(backend scripts count as project level, as there), with its start, end and
outcome, then the skipped and aborted tasks; `results`, the counts of the final
report. The schema is `results.schema.json` beside this module
(docs/results.md). Under xdist every node records its own scripts
(`to_dict`), and the controller merges them (`merge`) and writes the file.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from pytest_spread.backends.base import Machine
from pytest_spread.project.matrix import Job
from pytest_spread.run.observers import RunObserver, level_of
from pytest_spread.run.report import Report

SCHEMA = Path(__file__).with_name("results.schema.json")
VERBS = {
    "prepare": "preparing",
    "execute": "executing",
    "restore": "restoring",
    "check": "checking",  # a spread-plus skip: condition
}
# Go's json package escapes these three even inside strings (HTML safety); so do we.
_GO_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}
_GO_ESCAPES.update({"\u2028": "\\u2028", "\u2029": "\\u2029"})


def timestamp(moment: datetime | None = None) -> str:
    """spread-plus' TIME_FORMAT, `2006-01-02T15:04:05.000`, in local time."""
    moment = moment or datetime.now()
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def _record(job: Job, level: str, name: str, variant: str, **fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "start": "",
        "end": "",
        "verb": "",
        "backend": job.backend.name,
        "system": job.system.name,
        "level": level,
        "name": name,
        "variant": variant,
        "instance": "",
        "success": False,
        "aborted": False,
        "skipped": False,
    }
    record.update(fields)
    return record


class ResultsRecorder(RunObserver):
    """Records what ran, in spread-plus' record shape (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[dict[str, Any]] = []
        self.skipped: list[dict[str, Any]] = []
        self.aborted: list[dict[str, Any]] = []
        self._running: dict[int, dict[str, Any]] = {}  # id(machine) -> its open record

    def script_started(self, verb: str, context: str, job: Job, machine: Machine) -> None:
        level = level_of(context, job)
        name = {"suite": job.suite.name, "project": ""}.get(level, job.task.name)
        record = _record(
            job,
            level,
            name,
            job.variant if level == "task" else "",
            start=timestamp(),
            verb=VERBS.get(verb, verb),
            instance=machine.label,
            success=True,  # until it ends otherwise; an interrupted script keeps no end
        )
        with self._lock:
            self.items.append(record)
            self._running[id(machine)] = record

    def script_ended(
        self, verb: str, context: str, job: Job, machine: Machine, output: str, ok: bool
    ) -> None:
        with self._lock:
            record = self._running.pop(id(machine), None)
        if record is not None:
            record["end"] = timestamp()
            record["success"] = ok

    def job_aborted(self, job: Job, reason: str) -> None:
        record = _record(job, "task", job.task.name, job.variant, aborted=True)
        with self._lock:
            self.aborted.append(record)

    def job_skipped(self, job: Job, reason: str) -> None:
        record = _record(job, "task", job.task.name, job.variant, skipped=True)
        with self._lock:
            self.skipped.append(record)

    # -- xdist: nodes send their records, the controller merges them -------------

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        with self._lock:
            return {"items": self.items, "skipped": self.skipped, "aborted": self.aborted}

    def merge(self, data: dict[str, list[dict[str, Any]]]) -> None:
        with self._lock:
            self.items.extend(data.get("items", []))
            self.skipped.extend(data.get("skipped", []))
            self.aborted.extend(data.get("aborted", []))

    # -- the document -----------------------------------------------------------

    def document(self, report: Report) -> dict[str, Any]:
        """The whole JSON document for a run whose final report is `report`."""
        with self._lock:
            items = sorted(self.items, key=lambda record: record["start"])
            items += self.skipped + self.aborted
        return {
            "items": items,
            "results": {
                "task-passed": report.successful,
                "task-failed": len(report.failed_tasks),
                "task-aborted": report.aborted,
                "task-skipped": len(self.skipped),
                "task-prepare-failed": len(report.failed_task_prepare),
                "task-restore-failed": len(report.failed_task_restore),
                "suite-skipped": 0,
                "suite-prepare-failed": len(report.failed_suite_prepare),
                "suite-restore-failed": len(report.failed_suite_restore),
                "backend-prepare-failed": len(report.failed_backend_prepare),
                "backend-restore-failed": len(report.failed_backend_restore),
                "project-prepare-failed": len(report.failed_project_prepare),
                "project-restore-failed": len(report.failed_project_restore),
            },
        }

    def write(self, path: Path, report: Report) -> None:
        """Write the document as spread-plus does (Go's MarshalIndent, 4 spaces)."""
        path.write_text(go_json(self.document(report)))


def go_json(document: Any) -> str:
    """JSON text as Go's `json.MarshalIndent(value, "", "    ")` writes it."""
    text = json.dumps(document, indent=4, ensure_ascii=False)
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text

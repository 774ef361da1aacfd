"""spread-plus' JSON records and the per-job logs, fed by hand the events a run sends."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

from pytest_spread.backends.base import Machine
from pytest_spread.project.matrix import Job
from pytest_spread.run.joblogs import JobLogs
from pytest_spread.run.report import Report
from pytest_spread.run.results import SCHEMA, ResultsRecorder, go_json

SPREAD_YAML = """\
project: p
path: /r
backends:
    lxd:
        systems: [ubuntu-24.04]
suites:
    tests/:
        summary: s
"""


@pytest.fixture
def jobs(project) -> dict[str, Job]:
    project.spread(SPREAD_YAML)
    project.task("tests/a")
    project.task("tests/b", "summary: t\nenvironment:\n    X/v1: 1\n")
    return {job.name: job for job in project.matrix().jobs}


MACHINE = Machine("lxd", "ubuntu-24.04", "10.0.0.1:22", "root", "pw", name="box")


def run_a_job(observer, job: Job, *, outer: bool, ok: bool = True) -> None:
    """The events of one job on MACHINE: outer levels first when `outer`."""
    if outer:
        for context in (job.lane, f"{job.lane}:{job.suite.name}"):
            observer.script_started("prepare", context, job, MACHINE)
            observer.message(MACHINE, f"Preparing {context} (box)...")
            observer.script_ended("prepare", context, job, MACHINE, f"+ prepared {context}", True)
    observer.script_started("execute", job.name, job, MACHINE)
    observer.message(MACHINE, f"Executing {job.name} (box) (1/2)...")
    if not ok:
        observer.message(MACHINE, f"Error executing {job.name} (box) : boom")
    observer.script_ended("execute", job.name, job, MACHINE, "+ executed" if ok else "boom", ok)


def test_records_follow_spread_plus(jobs):
    recorder = ResultsRecorder()
    a, b = jobs["lxd:ubuntu-24.04:tests/a"], jobs["lxd:ubuntu-24.04:tests/b:v1"]
    run_a_job(recorder, a, outer=True)
    run_a_job(recorder, b, outer=False, ok=False)
    recorder.job_aborted(a, "no machine")
    document = recorder.document(Report(successful=1, aborted=1, failed_tasks=[b.report_name]))
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))
    shape = [
        (i["verb"], i["level"], i["name"], i["variant"], i["instance"], i["success"], i["aborted"])
        for i in document["items"]
    ]
    assert shape == [
        ("preparing", "project", "", "", "box", True, False),
        ("preparing", "suite", "tests/", "", "box", True, False),
        ("executing", "task", "tests/a", "", "box", True, False),
        ("executing", "task", "tests/b", "v1", "box", False, False),
        ("", "task", "tests/a", "", "", False, True),
    ]
    assert document["results"]["task-passed"] == 1
    assert document["results"]["task-failed"] == 1
    assert document["results"]["task-aborted"] == 1


def test_xdist_nodes_records_merge_in_start_order(jobs):
    a, b = jobs["lxd:ubuntu-24.04:tests/a"], jobs["lxd:ubuntu-24.04:tests/b:v1"]
    first, second, controller = ResultsRecorder(), ResultsRecorder(), ResultsRecorder()
    run_a_job(first, a, outer=True)
    run_a_job(second, b, outer=True)
    controller.merge(json.loads(json.dumps(second.to_dict())))
    controller.merge(json.loads(json.dumps(first.to_dict())))
    starts = [item["start"] for item in controller.document(Report())["items"]]
    assert len(starts) == 6 and starts == sorted(starts)


def test_a_jobs_log_holds_the_outer_prepares_it_relies_on(jobs, tmp_path: Path):
    logs = JobLogs(tmp_path / "logs")
    a, b = jobs["lxd:ubuntu-24.04:tests/a"], jobs["lxd:ubuntu-24.04:tests/b:v1"]
    run_a_job(logs, a, outer=True)
    run_a_job(logs, b, outer=False, ok=False)
    # The suite restore after b runs in b's context: it goes into b's file.
    logs.script_started("restore", f"{b.lane}:tests/", b, MACHINE)
    logs.message(MACHINE, "Restoring lxd:ubuntu-24.04:tests/ (box)...")
    logs.script_ended("restore", f"{b.lane}:tests/", b, MACHINE, "", True)
    assert sorted(p.name for p in logs.directory.iterdir()) == [
        "lxd:ubuntu-24.04:tests_a.log",
        "lxd:ubuntu-24.04:tests_b:v1.log",
    ]
    first = logs.path(a).read_text()
    assert "ran on this machine before" not in first
    assert "Preparing lxd:ubuntu-24.04 (box)..." in first
    assert "+ executed" in first and "Restoring" not in first
    second = logs.path(b).read_text()
    before, _, own = second.partition("----- this job -----\n")
    assert "+ prepared lxd:ubuntu-24.04\n" in before
    assert "+ prepared lxd:ubuntu-24.04:tests/\n" in before
    assert "Executing lxd:ubuntu-24.04:tests/a" not in second
    assert "Error executing lxd:ubuntu-24.04:tests/b:v1 (box) : boom" in own
    assert own.rstrip().endswith("Restoring lxd:ubuntu-24.04:tests/ (box)...")


def test_a_new_run_starts_a_jobs_log_afresh(jobs, tmp_path: Path):
    a = jobs["lxd:ubuntu-24.04:tests/a"]
    for _ in range(2):
        run_a_job(JobLogs(tmp_path), a, outer=False)
    assert JobLogs(tmp_path).path(a).read_text().count("Executing") == 1


def test_the_schema_rejects_what_spread_plus_never_writes():
    schema = json.loads(SCHEMA.read_text())
    good = {
        "start": "2026-01-02T03:04:05.678",
        "end": "2026-01-02T03:04:06.000",
        "verb": "executing",
        "backend": "b",
        "system": "s",
        "level": "task",
        "name": "tests/t",
        "variant": "",
        "instance": "b:s",
        "success": True,
        "aborted": False,
        "skipped": False,
    }
    results = dict.fromkeys(schema["properties"]["results"]["required"], 0)
    jsonschema.validate({"items": [good], "results": results}, schema)
    for bad in (
        {**good, "level": "backend"},
        {**good, "start": "2026-01-02 03:04:05"},
        {**good, "level": "suite", "name": "tests"},
        {**good, "level": "project", "name": "tests/t"},
        {**good, "verb": "", "start": ""},  # neither aborted nor skipped
        {key: value for key, value in good.items() if key != "instance"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"items": [bad], "results": results}, schema)


def test_json_text_is_go_marshal_indent():

    assert go_json({"a": ["<&>", 1], "b": []}) == textwrap.dedent("""\
        {
            "a": [
                "\\u003c\\u0026\\u003e",
                1
            ],
            "b": []
        }""")

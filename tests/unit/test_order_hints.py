"""What earlier runs tell the order: known durations (longest first) and --ff's failed jobs."""

from __future__ import annotations

from pytest_spread.plugin.scheduling import LaneScheduling
from pytest_spread.project.order import Hints, LaneBoard, LaneQueue, lane_sequence

from .test_scheduling import FakeNode

SPREAD_YAML = """\
project: p
path: /r
backends:
    lxd:
        systems: [ubuntu-16.04, ubuntu-18.04]
suites:
    one/: {summary: s}
    two/: {summary: s}
"""


def jobs_of(project, tasks: dict[str, str] | None = None):
    project.spread(SPREAD_YAML)
    for name, text in (tasks or {n: "summary: t\n" for n in ("one/a", "one/b", "two/c")}).items():
        project.task(name, text)
    return project.matrix().jobs


def names(jobs) -> list[str]:
    return [job.name.split(":", 2)[2] for job in jobs]


def lane(jobs, system: str = "ubuntu-16.04"):
    return [job for job in jobs if job.system.name == system]


def seconds(**by_task: float) -> dict[str, float]:
    return {f"lxd:ubuntu-16.04:{task.replace('_', '/')}": s for task, s in by_task.items()}


def test_known_durations_put_the_longest_first_within_a_suite(project):
    jobs = lane(jobs_of(project))
    hints = Hints(durations=seconds(one_a=1, one_b=5, two_c=3))
    assert names(lane_sequence(jobs)) == ["one/a", "one/b", "two/c"]
    # The longest job starts, then the machine stays in its suite (affinity).
    assert names(lane_sequence(jobs, hints=hints)) == ["one/b", "one/a", "two/c"]


def test_unknown_durations_count_as_the_average(project):
    jobs = lane(jobs_of(project))
    hints = Hints(durations=seconds(one_a=1, two_c=4))  # one/b unknown: 2.5
    queue = LaneQueue(jobs, hints=hints)
    assert queue.work == 1 + 2.5 + 4
    assert names([queue.take(None)]) == ["two/c"]
    assert queue.work == 3.5


PRIORITY_TASKS = {
    "one/a": "summary: t\npriority: 5\n",
    "one/b": "summary: t\n",
    "two/c": "summary: t\npriority: -1\n",
}


def test_priority_still_comes_before_duration(project):
    jobs = lane(jobs_of(project, PRIORITY_TASKS))
    hints = Hints(durations=seconds(one_a=1, one_b=9))
    assert names(lane_sequence(jobs, hints=hints)) == ["one/a", "one/b", "two/c"]


def test_failed_first_comes_before_priority(project):
    jobs = lane(jobs_of(project, PRIORITY_TASKS))
    hints = Hints(first=frozenset({"lxd:ubuntu-16.04:one/b"}))
    assert names(lane_sequence(jobs, hints=hints)) == ["one/b", "one/a", "two/c"]


def test_board_workers_spread_over_suites(project):
    board = LaneBoard(lane(jobs_of(project)))
    for worker in ("w1", "w2"):
        board.join(worker, "lxd:ubuntu-16.04")
    first, second = board.take("w1"), board.take("w2")
    assert first is not None and second is not None
    assert {first.suite.name, second.suite.name} == {"one/", "two/"}
    assert board.pending == 1


def test_a_free_node_goes_where_most_work_is_left(project):
    jobs = jobs_of(project)
    collection = [f"{job.task.name}/task.yaml::{job.name}" for job in jobs]
    heavy = {job.name: (10.0 if job.system.name == "ubuntu-18.04" else 1.0) for job in jobs}
    scheduler = LaneScheduling(project.matrix(), hints=Hints(durations=heavy))
    node = FakeNode("gw0")
    scheduler.add_node(node)
    scheduler.add_node_collection(node, collection)
    scheduler.schedule()
    first = collection[node.sent[0]]
    assert ":ubuntu-18.04:" in first  # as many jobs as the other lane, more seconds

"""The xdist lane scheduler, driven with fake nodes (as xdist's own tests do)."""

from __future__ import annotations

from pytest_spread.plugin.scheduling import LaneScheduling

SPREAD_YAML = """\
project: p
path: /r
backends:
    lxd:
        systems:
            - ubuntu-16.04: {workers: 2}
            - ubuntu-18.04
suites:
    one/: {summary: s}
    two/: {summary: s}
"""


class FakeNode:
    def __init__(self, name: str) -> None:
        self.sent: list[int] = []
        self.stopped = False
        self.gateway = type("Gateway", (), {"id": name})()

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.extend(indices)

    def shutdown(self) -> None:
        self.stopped = True


def scheduler_for(project, nodes: int):
    project.spread(SPREAD_YAML)
    for name in ("one/a", "one/b", "one/c", "two/d", "two/e"):
        project.task(name)
    return scheduled(project.matrix(), nodes)


def scheduled(matrix, nodes: int):
    """A scheduler for the matrix's jobs with `nodes` fake nodes, scheduled."""
    collection = [f"{job.task.name}/task.yaml::{job.name}" for job in matrix.jobs]
    scheduler = LaneScheduling(matrix)
    fakes = [FakeNode(f"gw{n}") for n in range(nodes)]
    for node in fakes:
        scheduler.add_node(node)
        scheduler.add_node_collection(node, collection)
    assert scheduler.collection_is_completed
    scheduler.schedule()
    return scheduler, fakes, collection


def run_all(scheduler, fakes, collection):
    """Complete jobs one by one, recording which lanes each node ever had at once."""
    lanes_at_once: list[dict[str, int]] = []
    done: list[int] = []
    while any(scheduler.node2pending.values()):
        for node in fakes:
            if scheduler.node2pending.get(node):
                index = scheduler.node2pending[node][0]
                done.append(index)
                scheduler.mark_test_complete(node, index)
        busy: dict[str, int] = {}
        for lane in scheduler.board.lane_of.values():
            busy[lane] = busy.get(lane, 0) + 1
        lanes_at_once.append(busy)
    return done, lanes_at_once


def test_every_job_once_and_never_more_nodes_than_workers(project):
    scheduler, fakes, collection = scheduler_for(project, nodes=4)
    done, lanes_at_once = run_all(scheduler, fakes, collection)
    assert sorted(done) == list(range(len(collection)))
    assert all(busy.get("lxd:ubuntu-16.04", 0) <= 2 for busy in lanes_at_once)
    assert all(busy.get("lxd:ubuntu-18.04", 0) <= 1 for busy in lanes_at_once)
    assert all(node.stopped for node in fakes)
    assert scheduler.tests_finished


def test_one_node_per_lane_keeps_suites_together(project):
    scheduler, fakes, collection = scheduler_for(project, nodes=2)
    run_all(scheduler, fakes, collection)
    for node in fakes:
        names = [collection[index].rpartition("::")[2] for index in node.sent]
        by_lane: dict[str, list[str]] = {}
        for name in names:
            by_lane.setdefault(":".join(name.split(":")[:2]), []).append(name.split(":")[2])
        for tasks in by_lane.values():
            suites = [task.split("/")[0] for task in tasks]
            assert suites == sorted(suites, key=suites.index)  # each suite in one stretch


def test_a_crashed_node_gives_its_jobs_back(project):
    scheduler, fakes, collection = scheduler_for(project, nodes=2)
    node = fakes[0]
    crashed = scheduler.remove_node(node)
    assert crashed is not None
    done, _ = run_all(scheduler, fakes[1:], collection)
    assert collection.index(crashed) not in done
    assert len(done) == len(collection) - 1


def two_lanes(project, nodes: int):
    """Lane ubuntu-16.04 with eight jobs, lane ubuntu-18.04 with two; room for two nodes each."""
    project.spread(SPREAD_YAML.replace("- ubuntu-18.04", "- ubuntu-18.04: {workers: 2}"))
    for n in range(1, 9):
        project.task(f"one/a{n}", "summary: t\nsystems: [ubuntu-16.04]\n")
    for n in (1, 2):
        project.task(f"two/b{n}", "summary: t\nsystems: [ubuntu-18.04]\n")
    return scheduled(project.matrix(), nodes)


def lane_of(collection: list[str], index: int) -> str:
    return collection[index].rpartition("::")[2].split(":")[1]


def choice_after_setups_of(project, setup: float):
    """Node 0 runs three of lane A's jobs (the first pays a machine's set-up of
    `setup` s, the others take 1 s); then node 1 ends lane B's first job (with its
    set-up) and must choose: help lane A (three jobs left, one node) or stop.
    Returns node 1 and the lanes of the jobs it was sent then."""
    scheduler, (busy, free), collection = two_lanes(project, 2)
    assert {lane_of(collection, i) for i in busy.sent} == {"ubuntu-16.04"}
    assert {lane_of(collection, i) for i in free.sent} == {"ubuntu-18.04"}  # empty lane first
    for duration in (setup + 1, 1.0, 1.0):
        scheduler.mark_test_complete(busy, scheduler.node2pending[busy][0], duration)
    before = len(free.sent)
    scheduler.mark_test_complete(free, free.sent[0], setup + 1)
    return free, [lane_of(collection, i) for i in free.sent[before:]]


def test_a_node_stops_rather_than_set_up_a_machine_for_less_work(project):
    free, moved_to = choice_after_setups_of(project, 10.0)
    assert moved_to == []  # three seconds of work per node on lane A: less than a set-up
    assert free.stopped


def test_a_node_moves_where_the_work_outweighs_a_set_up(project):
    free, moved_to = choice_after_setups_of(project, 0.5)
    assert moved_to == ["ubuntu-16.04"]
    assert not free.stopped

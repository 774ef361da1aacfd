"""An xdist scheduler that places jobs as Spread does: lanes, workers per system, suites.

Each xdist node works on one lane (`backend:system`) at a time, a lane never
has more nodes than its system's `workers:`, and a node takes the jobs of its
lane by Spread's rules (priority, its current suite first, samples in a row).
When its lane has no more jobs the node moves to another lane (its worker
restores and discards the old machine on seeing the new lane) or shuts down.
A move costs a machine's set-up (seen in the first job of each node on a
lane), so a node joins a lane others work on only when that lane's work per
worker is larger than that cost; a lane nobody works on is always joined.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from pytest_spread.interrupts import STOPPING
from pytest_spread.plugin.items import python_job
from pytest_spread.project.matrix import Job, Matrix
from pytest_spread.project.order import NO_HINTS, Hints, LaneBoard, workers_per_lane

PENDING_PER_NODE = 2  # an xdist worker runs an item once it knows the next one


class LaneScheduling:
    """xdist's scheduler protocol (xdist/scheduler/protocol.py) over Spread's lanes."""

    def __init__(
        self,
        matrix: Matrix,
        seed: int = 0,
        log: Any = None,
        hints: Hints = NO_HINTS,
    ) -> None:
        self.matrix = matrix
        self.seed = seed
        self.log = log
        self.hints = hints
        self.node2collection: dict[Any, list[str]] = {}
        self.node2pending: dict[Any, list[int]] = {}
        self.collection: list[str] | None = None
        self.board: LaneBoard | None = None
        self.index_of: dict[int, int] = {}  # id(job) -> collection index
        self.workers: dict[str, int] = {}
        self.shut_down: set[Any] = set()
        self.python_jobs: dict[int, Job] = {}  # collection index -> job of a Python test
        self.plain: list[int] = []  # other pytest items (no machine): any node runs them
        self.differs = ""  # why the nodes' collections cannot be scheduled
        self.lane_items: set[int] = set()  # indices of the jobs (not plain pytest items)
        self.first_on_lane: set[int] = set()  # indices of jobs a node starts a lane with
        self.setup_seconds: list[float] = []  # their durations: a machine's set-up and a job
        self.job_seconds: list[float] = []  # the durations of the other jobs

    # -- protocol properties ----------------------------------------------------

    @property
    def nodes(self) -> list[Any]:
        return list(self.node2pending)

    @property
    def collection_is_completed(self) -> bool:
        return len(self.node2collection) >= len(self.node2pending) and bool(self.node2pending)

    @property
    def tests_finished(self) -> bool:
        if not self.collection_is_completed or self.has_pending:
            return False
        return not any(self.node2pending.values())

    @property
    def has_pending(self) -> bool:
        return bool(self.plain) or (self.board is not None and self.board.pending > 0)

    # -- nodes ------------------------------------------------------------------

    def add_node(self, node: Any) -> None:
        self.node2pending[node] = []

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        self.node2collection[node] = list(collection)
        if self.collection is None:
            self.collection = list(collection)
        elif list(collection) != self.collection and not self.differs:
            # A node interrupted while collecting (Ctrl-C), or a project that changed:
            # nothing is scheduled and the nodes shut down, as xdist's own schedulers do.
            self.differs = f"node {node.gateway.id} collected different jobs"

    def remove_node(self, node: Any) -> str | None:
        self.shut_down.discard(node)
        pending = self.node2pending.pop(node, [])
        self.node2collection.pop(node, None)
        lane = self.board.lane_of.get(node) if self.board is not None else None
        if self.board is not None:
            self.board.leave(node)
        if not pending:
            return None
        assert self.collection is not None
        crashed = self.collection[pending[0]]
        self.plain[:0] = [index for index in pending[1:] if self._job_at(index) is None]
        if lane is not None and self.board is not None:
            # The others go back to their lane for the remaining nodes.
            jobs = [self._job_at(index) for index in pending[1:]]
            self.board.requeue(lane, [job for job in jobs if job is not None])
        return crashed

    # -- scheduling -------------------------------------------------------------

    def schedule(self) -> None:
        assert self.collection_is_completed
        if self.differs:
            if not STOPPING.is_set():  # not a Ctrl-C cutting a collection short
                raise RuntimeError(self.differs)
            for node in self.nodes:
                self.shut_down.add(node)
                node.shutdown()
            return
        if self.board is None:
            self._build_board()
        for node in list(self.node2pending):
            self._fill(node)

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)
        if item_index in self.first_on_lane:
            self.setup_seconds.append(duration)
        elif item_index in self.lane_items:
            self.job_seconds.append(duration)
        self._fill(node)

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError("pytest-spread does not reschedule single items")

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError("pytest-spread does not steal work between nodes")

    # -- internals --------------------------------------------------------------

    def _build_board(self) -> None:
        assert self.collection is not None
        by_name = {job.name: job for job in self.matrix.jobs}
        jobs: list[Job] = []
        for index, nodeid in enumerate(self.collection):
            job = by_name.get(nodeid.rpartition("::")[2])
            if job is None and (job := python_job(self.matrix, nodeid)) is not None:
                self.python_jobs[index] = job  # a Python test in a suite (plugin/pytests.py)
            if job is None:
                self.plain.append(index)  # not a Spread job: a node with no lane work runs it
                continue
            self.index_of[id(job)] = index
            jobs.append(job)
        self.lane_items = set(self.index_of.values())
        self.board = LaneBoard(jobs, self.seed, self.hints)
        self.workers = workers_per_lane(jobs)

    def _fill(self, node: Any) -> None:
        """Keep two jobs pending on the node; shut it down when it can get no more."""
        if node in self.shut_down or getattr(node, "_shutdown_sent", False):
            return  # going down (-x, Ctrl-C, the end): it gets no more work
        pending = self.node2pending[node]
        while len(pending) < PENDING_PER_NODE:
            job = self._next_job(node)
            if job is None and self.plain:
                if not self._send(node, self.plain.pop(0)):
                    return
                continue
            if job is None:
                # Nothing for it now (lanes done or at their workers): its worker finishes
                # what it has and stops, discarding its machine.
                self.shut_down.add(node)
                node.shutdown()
                return
            if not self._send(node, self.index_of[id(job)]):
                return

    def _send(self, node: Any, index: int) -> bool:
        """Hand the item to the node; False (the item put back) when its channel is closed."""
        try:
            node.send_runtest_some([index])
        except OSError:  # the node went down meanwhile (Ctrl-C, a crash)
            job = self._job_at(index)
            lane = self.board.lane_of.get(node) if self.board is not None else None
            if job is None:
                self.plain.insert(0, index)
            elif lane is not None and self.board is not None:
                self.board.requeue(lane, [job])
            self.shut_down.add(node)
            return False
        self.node2pending[node].append(index)
        return True

    def _next_job(self, node: Any) -> Job | None:
        board = self.board
        assert board is not None
        lane = board.lane_of.get(node)
        if lane is not None and board.queues[lane].pending:
            return board.take(node)
        # Move on while the last job of the old lane may still run: the worker
        # restores and discards that machine when the new lane's job starts.
        board.leave(node)
        lane = self._free_lane()
        if lane is None:
            return None
        board.join(node, lane)
        job = board.take(node)
        if job is not None:
            self.first_on_lane.add(self.index_of[id(job)])
        return job

    def _free_lane(self) -> str | None:
        """The lane a node moves to: room for it, and worth a machine's set-up.

        Work is the known durations of its pending jobs (else their count).
        """
        board = self.board
        assert board is not None
        setup, seconds_per_unit = self._setup_cost()

        def worth_joining(lane: str) -> bool:
            workers = board.workers_on(lane)
            if workers >= self.workers[lane]:
                return False
            # With n workers and R left, a machine ready in C helps only if R / n > C.
            return workers == 0 or board.queues[lane].work * seconds_per_unit / workers > setup

        candidates = [
            lane for lane, queue in board.queues.items() if queue.pending and worth_joining(lane)
        ]

        def preference(lane: str) -> tuple[bool, float]:
            # A lane nobody works on first (someone must), then the most work per node.
            workers = board.workers_on(lane)
            return workers == 0, board.queues[lane].work / (workers + 1)

        return max(candidates, key=preference, default=None)

    def _setup_cost(self) -> tuple[float, float]:
        """A machine's set-up in seconds (0 until seen), and the seconds of a unit of work.

        Lanes count their work in known seconds, or in jobs when no duration is
        known: a job then counts as the average duration seen so far.
        """
        typical = statistics.fmean(self.job_seconds) if self.job_seconds else 0.0
        setup = statistics.median(self.setup_seconds) - typical if self.setup_seconds else 0.0
        per_unit = 1.0 if self.hints.durations or not typical else typical
        return max(setup, 0.0), per_unit

    def _job_at(self, index: int) -> Job | None:
        assert self.collection is not None
        name = self.collection[index].rpartition("::")[2]
        found = next((job for job in self.matrix.jobs if job.name == name), None)
        return found or self.python_jobs.get(index)

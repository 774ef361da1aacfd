"""What the cloud backends share: Spread's -gc check in each backend's words, and the
clean-up of an allocation that failed (backends/cloud.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pytest_spread.backends.base import AllocationError
from pytest_spread.backends.cloud import Collector, GarbageWords, InFlight

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
HOUR = 3600 * 10**9
GOOGLE = GarbageWords("Google server")
OPENSTACK = GarbageWords("openstack instances", checking="openstack instance ", cannot="server ")


def collect(words, tags, created, *, fails=False, halt_timeout=HOUR):
    lines: list[str] = []
    deleted: list[bool] = []

    def delete():
        deleted.append(True)
        if fails:
            raise AllocationError("HTTP 500")

    Collector(halt_timeout, lines.append, words, NOW).collect("nov301000-1", tags, created, delete)
    return lines, bool(deleted)


def test_an_instance_past_the_halt_timeout_is_deleted():
    lines, deleted = collect(GOOGLE, {}, "2026-11-30T10:00:00Z")
    assert deleted
    assert lines == ["Server nov301000-1 exceeds halt-timeout. Shutting it down..."]


def test_a_younger_instance_is_kept_and_only_openstack_says_it_checks():
    assert collect(GOOGLE, {}, "2026-11-30T11:30:00Z") == ([], False)
    lines, deleted = collect(OPENSTACK, {}, "2026-11-30T11:30:00+00:00")
    assert (lines, deleted) == (["Checking openstack instance nov301000-1..."], False)


def test_the_instance_label_replaces_the_backend_halt_timeout_and_zero_keeps_it():
    assert collect(GOOGLE, {"halt-timeout": "3h"}, "2026-11-30T10:00:00Z")[1] is False
    assert collect(GOOGLE, {"halt-timeout": "30m"}, "2026-11-30T11:00:00Z")[1] is True
    assert collect(GOOGLE, {}, "2000-01-01T00:00:00Z", halt_timeout=0) == ([], False)


def test_a_bad_label_is_a_warning_in_the_backends_words_and_the_backend_value_holds():
    lines, deleted = collect(OPENSTACK, {"halt-timeout": "soon"}, "2026-11-30T10:00:00Z")
    assert lines[0] == (
        'WARNING: Ignoring bad openstack instances nov301000-1 halt-timeout label: "soon"'
    )
    assert deleted


def test_a_failed_deletion_is_a_warning_not_an_error():
    lines, deleted = collect(OPENSTACK, {}, "2026-11-30T10:00:00Z", fails=True)
    assert deleted
    assert lines[-1] == "WARNING: Cannot garbage collect server nov301000-1: HTTP 500"


def test_a_failed_allocation_deletes_its_instance_and_keeps_the_backend_message():
    flight, deleted = InFlight(), []
    flight.add("k", lambda: deleted.append("by interrupt"))
    error = flight.give_up(
        "k", lambda: deleted.append("k"), AllocationError("no address"), what="x", failed="boom"
    )
    assert deleted == ["k"] and error.fatal and str(error) == "boom: no address"
    flight.interrupt()  # no longer in flight: not deleted twice
    assert deleted == ["k"]


def test_a_failed_allocation_whose_deletion_fails_too_says_so():
    def refuse():
        raise AllocationError("HTTP 500")

    error = InFlight().give_up(
        "k", refuse, AllocationError("no address"), what="Google server x", failed=None
    )
    assert str(error) == "cannot allocate or deallocate (!) new Google server x: no address"


def test_after_an_interrupt_new_instances_are_deleted_at_once():
    flight, deleted = InFlight(), []
    flight.interrupt()
    with pytest.raises(AllocationError, match="interrupted"):
        flight.add("late", lambda: deleted.append("late"))
    assert deleted == ["late"]

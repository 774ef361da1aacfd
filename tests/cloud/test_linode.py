"""The linode backend (API v4) against a local Linode API (tests/cloud/linode_api.py)."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from .helpers import assert_hidden, interrupt_during_allocation, project, spread
from .linode_api import FakeLinode

LANE = "linode:ubuntu-22.04"
CREATE = r"^/v4/linode/instances$"


@pytest.fixture
def linode(tmp_path_factory, monkeypatch):
    server = FakeLinode(tmp_path_factory.mktemp("linode"))
    monkeypatch.setenv("SPREAD_LINODE_API_URL", server.url + "/v4")
    monkeypatch.setenv("SPREAD_LINODE_TOKEN", server.token)
    try:
        yield server
        assert not server.leftovers(), "instances left on the server"
    finally:
        server.close()


def linode_backend(workers: int = 2, extra: str = "") -> str:
    return f"""\
linode:
    key: '$(HOST: echo "$SPREAD_LINODE_TOKEN")'
    plan: 2GB
    location: fremont
    halt-timeout: 1h
{extra}    systems:
        - ubuntu-22.04:
            workers: {workers}
            storage: 12G
"""


def test_two_servers_run_jobs_and_are_deleted(pytester, linode):
    project(pytester, linode_backend(), tasks=4)
    result = spread(pytester, "-v")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*Successful tasks: 4*"])
    result.stdout.fnmatch_lines(
        [f"*Configuring new Linode server {LANE} (Spread-*) with ubuntu-22.04...*"]
    )
    creates = [
        json.loads(body)
        for (method, path), body in zip(linode.requests, linode.bodies, strict=True)
        if method == "POST" and path == "/v4/linode/instances"
    ]
    assert (
        creates
        == [{"region": "us-west", "type": "g6-standard-1", "booted": False, "tags": ["spread"]}] * 2
    )
    disks = [
        json.loads(b)
        for (m, p), b in zip(linode.requests, linode.bodies, strict=True)
        if m == "POST" and p.endswith("/disks")
    ]
    roots = [d for d in disks if "image" in d]
    assert [(d["image"], d["size"]) for d in roots] == [("linode/ubuntu22.04", 12 * 1024)] * 2
    configs = [
        json.loads(b)
        for (m, p), b in zip(linode.requests, linode.bodies, strict=True)
        if m == "POST" and p.endswith("/configs")
    ]
    assert {c["kernel"] for c in configs} == {"linode/latest-64bit"}
    assert linode.instances == {}
    assert_hidden([linode.token], result, pytester.path)


def test_pytest_runs_the_jobs_on_servers(pytester, linode):
    project(pytester, linode_backend(), tasks=2)
    result = pytester.runpytest("--spread", "-p", "no:cacheprovider", "--junitxml=out.xml")
    result.assert_outcomes(passed=2)
    assert linode.instances == {}
    assert_hidden([linode.token], result, pytester.path)


def test_reuse_then_discard(pytester, linode):
    project(pytester, linode_backend(workers=1), tasks=1)
    assert spread(pytester, "-reuse").ret == 0
    ((ident, instance),) = linode.instances.items()
    record = yaml.safe_load((pytester.path / ".spread-reuse.yaml").read_text())
    (entry,) = record["backends"]["linode"]["systems"]
    data = entry["ubuntu-22.04"]["data"]
    assert data["id"] == ident and data["label"] == instance["label"] == f"Spread-{ident}"
    assert spread(pytester, "-reuse").ret == 0
    assert len(linode.calls("POST", CREATE)) == 1
    discard = spread(pytester, "-discard")
    assert discard.ret == 0, discard.stdout.str()
    assert linode.instances == {}


def test_gc_deletes_only_spread_servers_past_halt_timeout(pytester, linode):
    old = linode.add_instance("Spread-1", ["spread"], timedelta(hours=2))
    young = linode.add_instance("Spread-2", ["spread"], timedelta(minutes=10))
    mine = linode.add_instance("database", [], timedelta(days=30))
    untagged = linode.add_instance("Spread-3", [], timedelta(days=30))
    project(pytester, linode_backend())
    result = spread(pytester, "-gc")
    assert result.ret == 0, result.stdout.str()
    assert sorted(linode.instances) == sorted([young, mine, untagged])
    assert old not in linode.instances
    result.stdout.fnmatch_lines(["*Server Spread-1 exceeds halt-timeout. Shutting it down..."])


@pytest.mark.parametrize("status", [500, 429])
def test_server_errors_are_retried(pytester, linode, status):
    linode.fail("POST", CREATE, status, {"errors": [{"reason": "Please try again"}]}, times=3)
    project(pytester, linode_backend(workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret == 0, result.stdout.str()
    assert len(linode.calls("POST", CREATE)) == 4
    assert linode.instances == {}


def test_errors_that_persist_end_in_a_clear_error(pytester, linode):
    linode.fail("POST", CREATE, 503, {"errors": [{"reason": "Service unavailable"}]}, times=-1)
    project(pytester, linode_backend(workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            f"* Cannot allocate {LANE}: cannot allocate new Linode server for ubuntu-22.04: "
            "Service unavailable"
        ]
    )
    assert len(linode.calls("POST", CREATE)) == 10 and linode.instances == {}


def test_a_server_without_address_is_deleted(pytester, linode):
    linode.no_address = True
    project(pytester, linode_backend(workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            f"* Cannot allocate {LANE}: cannot set up Linode server {LANE} (Spread-*): "
            f"cannot find public IP for {LANE} (Spread-*)"
        ]
    )
    assert linode.instances == {} and linode.machines == {}


def test_a_failing_boot_deletes_the_server(pytester, linode):
    linode.failing_boot = True
    project(pytester, linode_backend(workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"*cannot boot {LANE} (Spread-*): boot failed"])
    assert linode.instances == {}


def test_bad_token_is_fatal_and_stays_secret(pytester, linode, monkeypatch):
    monkeypatch.setenv("SPREAD_LINODE_TOKEN", "wrong-token-0123456789abcdef")
    project(pytester, linode_backend(workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"* Cannot allocate {LANE}: Invalid Token"])
    assert_hidden(["wrong-token-0123456789abcdef", linode.token], result, pytester.path)


def test_unknown_plan_region_image_and_kernel_are_named(pytester, linode):
    for field, value, message in [
        ("plan", "16GB", 'no Linode type for "16GB"'),
        ("location", "atlantis", 'no Linode region for "atlantis"'),
    ]:
        backend = linode_backend(workers=1).replace(
            {"plan": "plan: 2GB", "location": "location: fremont"}[field], f"{field}: {value}"
        )
        project(pytester, backend, tasks=1)
        result = spread(pytester)
        result.stdout.fnmatch_lines([f"* Cannot allocate {LANE}: {message}"])
    project(pytester, linode_backend(workers=1).replace("storage: 12G", "kernel: Hurd"), tasks=1)
    spread(pytester).stdout.fnmatch_lines([f'* Cannot allocate {LANE}: no "Hurd" Linode kernel'])
    assert not linode.calls("POST", CREATE)


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_allocation_leaves_no_server(pytester, linode, presses):
    linode.fail("POST", r"/boot$", 200, {}, times=-1)  # boots that never finish
    project(pytester, linode_backend(), tasks=2)
    status, output = interrupt_during_allocation(
        pytester, lambda: len(linode.calls("POST", r"/boot$")) == 2, "-seed=1", times=presses
    )
    assert status != 0, output
    assert linode.instances == {}, output


def test_the_example_project_runs_against_the_local_api(pytester, linode, monkeypatch):
    monkeypatch.setenv("LINODE_TOKEN", linode.token)
    example = Path(__file__).parents[2] / "examples" / "linode"
    shutil.copytree(example, pytester.path, dirs_exist_ok=True)
    spread_yaml = pytester.path / "spread.yaml"
    spread_yaml.write_text(spread_yaml.read_text().replace("us-east", "us-west"))  # ours has two
    result = spread(pytester, "-v")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*Successful tasks: 2*"])
    assert linode.instances == {}

"""The humbox backend against a local Humbox service (tests/cloud/humbox_api.py)."""

from __future__ import annotations

import os

import pytest
import yaml

from .helpers import assert_hidden, interrupt_during_allocation, project, spread
from .humbox_api import FakeHumbox

LANE = "humbox:ubuntu-22.04"


@pytest.fixture
def humbox(tmp_path_factory, monkeypatch):
    server = FakeHumbox(tmp_path_factory.mktemp("humbox"))
    monkeypatch.setenv("SPREAD_HUMBOX_KEY", server.key)
    try:
        yield server
        assert not server.leftovers(), "instances left on the server"
    finally:
        server.close()


def humbox_backend(humbox: FakeHumbox, workers: int = 2) -> str:
    return f"""\
humbox:
    key: '$(HOST: echo "$SPREAD_HUMBOX_KEY")'
    location: {humbox.location}
    storage: 20G
    systems:
        - ubuntu-22.04:
            workers: {workers}
"""


def test_two_servers_run_jobs_and_are_removed(pytester, humbox):
    project(pytester, humbox_backend(humbox), tasks=4)
    result = spread(pytester, "-v")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*Successful tasks: 4*"])
    assert len(humbox.created) == 2
    for params in humbox.created:
        assert params["image"] == "ubuntu-22.04" and params["storage"] == 20
        assert params["custom"] == {
            "spread": "true",
            "owner": params["custom"]["owner"],
            "reuse": "false",
        }
    assert humbox.servers == {}
    assert len(humbox.calls("DELETE", "^/v1/servers/")) == 2
    assert_hidden([humbox.key], result, pytester.path)


def test_pytest_runs_the_jobs_on_servers(pytester, humbox):
    project(pytester, humbox_backend(humbox), tasks=2)
    result = pytester.runpytest("--spread", "-p", "no:cacheprovider", "--junitxml=out.xml")
    result.assert_outcomes(passed=2)
    assert humbox.servers == {}
    assert_hidden([humbox.key], result, pytester.path)


def test_reuse_keeps_the_server_and_gc_leaves_it(pytester, humbox):
    project(pytester, humbox_backend(humbox, workers=1), tasks=1)
    assert spread(pytester, "-reuse").ret == 0
    (name,) = humbox.servers
    record = yaml.safe_load((pytester.path / ".spread-reuse.yaml").read_text())
    (entry,) = record["backends"]["humbox"]["systems"]
    assert entry["ubuntu-22.04"]["data"]["name"] == name
    second = spread(pytester, "-reuse")
    assert second.ret == 0
    assert len(humbox.created) == 1
    assert spread(pytester, "-gc").ret == 0  # Humbox has nothing to collect, as in Spread
    assert list(humbox.servers) == [name]
    discard = spread(pytester, "-discard")
    assert discard.ret == 0
    assert humbox.servers == {}
    assert_hidden([humbox.key], discard, pytester.path)


@pytest.mark.parametrize("status", [500, 429])
def test_server_errors_are_retried(pytester, humbox, status):
    humbox.fail("POST", "^/v1/servers$", status, {"error": "busy"}, times=2)
    project(pytester, humbox_backend(humbox, workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret == 0, result.stdout.str()
    assert len(humbox.calls("POST", "^/v1/servers$")) == 3
    assert humbox.servers == {}


def test_errors_that_persist_end_in_a_clear_error(pytester, humbox):
    humbox.fail("POST", "^/v1/servers$", 502, "<html>Bad Gateway</html>", times=-1)
    project(pytester, humbox_backend(humbox, workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            f"* Cannot allocate {LANE}: cannot allocate new Humbox server for ubuntu-22.04: "
            "<html>Bad Gateway</html> (status 502)"
        ]
    )
    assert len(humbox.calls("POST", "^/v1/servers$")) == 10
    assert humbox.servers == {}


def test_bad_key_is_fatal_and_stays_secret(pytester, humbox, monkeypatch):
    wrong = "hbx-wrong-" + os.urandom(8).hex()
    monkeypatch.setenv("SPREAD_HUMBOX_KEY", wrong)
    project(pytester, humbox_backend(humbox, workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"* Cannot allocate {LANE}: invalid account or key"])
    assert not humbox.calls("POST", "^/v1/servers$")
    assert_hidden([wrong, humbox.key], result, pytester.path)


def test_a_bad_location_is_named(pytester, humbox):
    project(pytester, humbox_backend(humbox).replace(humbox.location, "example.com"), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            f'* Cannot allocate {LANE}: location for "humbox" backend must use the '
            "http(s)://<user>@<hostname>:<port> format"
        ]
    )


def test_a_server_without_ssh_is_removed(pytester, humbox):
    humbox.unreachable = True
    project(pytester, humbox_backend(humbox, workers=1), tasks=1)
    result = pytester.runpytest("--spread", "-p", "no:cacheprovider", "--spread-connect-timeout=1")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*cannot connect to {LANE} (hb*): cannot connect to 127.0.0.1:*"])
    assert humbox.servers == {} and len(humbox.created) == 1


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_allocation_leaves_no_server(pytester, humbox, presses):
    humbox.unreachable = True  # allocation waits for SSH until interrupted
    project(pytester, humbox_backend(humbox), tasks=2)
    status, output = interrupt_during_allocation(
        pytester, lambda: len(humbox.servers) == 2, "-seed=1", times=presses
    )
    assert status != 0, output
    assert humbox.servers == {}, output

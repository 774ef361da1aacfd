"""The openstack backend against a local Keystone, Nova, Neutron and Glance."""

from __future__ import annotations

import base64
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from pytest_spread.backends.openstack import proxy_address

from .helpers import assert_hidden, interrupt_during_allocation, project, spread
from .openstack_api import FakeOpenStack

LANE = "openstack:ubuntu-22.04-64"
CREATE = r"^/compute/v2.1/servers$"


@pytest.fixture
def openstack(tmp_path_factory, monkeypatch):
    server = FakeOpenStack(tmp_path_factory.mktemp("openstack"))
    key = tmp_path_factory.mktemp("credentials") / "openrc"
    key.write_text(server.openrc())
    monkeypatch.setenv("OS_CREDENTIALS", str(key))
    for name in ("OS_AUTH_URL", "OS_PASSWORD", "OS_USERNAME", "OS_CLOUD"):
        monkeypatch.delenv(name, raising=False)
    try:
        yield server
        assert not server.leftovers(), "instances left on the server"
    finally:
        server.close()


def openstack_backend(workers: int = 2, extra: str = "") -> str:
    return f"""\
openstack:
    key: '$(HOST: echo "$OS_CREDENTIALS")'
    plan: shared.xsmall
    halt-timeout: 2h
    wait-timeout: 1m
    groups: [default]
    networks: [private]
    volume-auto-delete: true
{extra}    systems:
        - ubuntu-22.04-64:
            image: ubuntu-22.04
            workers: {workers}
"""


def test_two_servers_run_jobs_and_are_deleted(pytester, openstack):
    project(pytester, openstack_backend(), tasks=4)
    result = spread(pytester, "-v")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*Successful tasks: 4*"])
    result.stdout.fnmatch_lines([f"*Waiting for {LANE} (*) to boot at 127.0.0.1:*"])
    assert len(openstack.created) == 2
    params = openstack.created[0]
    assert params["flavorRef"] == "f3" and params["networks"] == [{"uuid": "n-int"}]
    assert params["imageRef"] == "i2"  # the newest image whose name starts with ubuntu-22.04
    assert params["security_groups"] == [{"name": "default"}]
    assert params["config_drive"] is True
    assert params["block_device_mapping_v2"] == [
        {
            "boot_index": 0,
            "source_type": "image",
            "destination_type": "volume",
            "volume_size": 3,
            "uuid": "i2",
            "delete_on_termination": True,
        }
    ]
    assert params["metadata"] == {
        "spread": "true",
        "owner": params["metadata"]["owner"],
        "reuse": "false",
        "halt-timeout": "2h0m0s",
    }
    user_data = base64.b64decode(params["user_data"]).decode()
    assert user_data.startswith("\n#cloud-config\n") and "chpasswd -e" in user_data
    assert openstack.servers == {}
    assert_hidden([openstack.password, *openstack.tokens], result, pytester.path)


def test_pytest_runs_the_jobs_on_servers(pytester, openstack):
    project(pytester, openstack_backend(), tasks=2)
    result = pytester.runpytest("--spread", "-p", "no:cacheprovider", "--junitxml=out.xml")
    result.assert_outcomes(passed=2)
    assert openstack.servers == {}
    assert_hidden([openstack.password, *openstack.tokens], result, pytester.path)


def test_reuse_then_discard(pytester, openstack):
    project(pytester, openstack_backend(workers=1), tasks=1)
    assert spread(pytester, "-reuse").ret == 0
    ((ident, server),) = openstack.servers.items()
    assert server["metadata"]["reuse"] == "true"
    record = yaml.safe_load((pytester.path / ".spread-reuse.yaml").read_text())
    (entry,) = record["backends"]["openstack"]["systems"]
    data = entry["ubuntu-22.04-64"]["data"]
    assert data["id"] == ident and data["name"] == server["name"]
    assert data["flavor"] == "shared.xsmall" and data["networks"] == ["private"]
    assert spread(pytester, "-reuse").ret == 0
    assert len(openstack.created) == 1
    discard = spread(pytester, "-discard")
    assert discard.ret == 0, discard.stdout.str()
    assert openstack.servers == {}


def test_gc_deletes_only_spread_servers_past_their_halt_timeout(pytester, openstack):
    old = openstack.add_server("jan011200-000001", {"spread": "true"}, timedelta(hours=3))
    labelled = openstack.add_server(
        "jan011200-000002", {"spread": "true", "halt-timeout": "30m0s"}, timedelta(hours=1)
    )
    young = openstack.add_server("jan011200-000003", {"spread": "true"}, timedelta(hours=1))
    other = openstack.add_server("database", {}, timedelta(days=30))
    project(pytester, openstack_backend())
    result = spread(pytester, "-gc")
    assert result.ret == 0, result.stdout.str()
    assert sorted(openstack.servers) == sorted([young, other])
    assert old not in openstack.servers and labelled not in openstack.servers
    result.stdout.fnmatch_lines(
        ["*Server jan011200-000001 exceeds halt-timeout. Shutting it down..."]
    )


@pytest.mark.parametrize("status", [500, 429])
def test_server_errors_are_retried(pytester, openstack, status):
    openstack.fail("POST", CREATE, status, {"computeFault": {"message": "busy"}}, times=3)
    project(pytester, openstack_backend(workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret == 0, result.stdout.str()
    assert len(openstack.calls("POST", CREATE)) == 4
    assert openstack.servers == {}


def test_errors_that_persist_end_in_a_clear_error(pytester, openstack):
    openstack.fail("POST", CREATE, 503, {"computeFault": {"message": "Nova is down"}}, times=-1)
    project(pytester, openstack_backend(workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"* Cannot allocate {LANE}: cannot create instance: Nova is down"])
    assert len(openstack.calls("POST", CREATE)) == 10 and openstack.servers == {}


def test_a_server_in_error_is_deleted(pytester, openstack):
    openstack.fault = "No valid host was found. There are not enough hosts available."
    project(pytester, openstack_backend(workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            f"* Cannot allocate {LANE}: cannot allocate new Openstack instance * (*): "
            "No valid host was found. There are not enough hosts available."
        ]
    )
    assert openstack.servers == {}


def test_a_server_without_address_is_deleted(pytester, openstack, monkeypatch):
    openstack.no_address = True
    project(pytester, openstack_backend(workers=1), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [f"*: timeout waiting for Openstack instance {LANE} (*) IP address"]
    )
    assert openstack.servers == {} and openstack.machines == {}


def test_bad_credentials_are_fatal_and_stay_secret(pytester, openstack, tmp_path):
    key = tmp_path / "bad-openrc"
    key.write_text(openstack.openrc(password="wrong-password-4711"))
    project(
        pytester,
        openstack_backend(workers=1).replace('$(HOST: echo "$OS_CREDENTIALS")', str(key)),
        tasks=1,
    )
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            f"* Cannot allocate {LANE}: cannot authenticate: "
            "The request you have made requires authentication."
        ]
    )
    assert_hidden(["wrong-password-4711", openstack.password], result, pytester.path)


def test_unknown_flavor_network_group_and_image_are_named(pytester, openstack):
    for old, new, message in [
        ("plan: shared.xsmall", "plan: huge", 'cannot find valid flavor with name "huge"'),
        (
            "networks: [private]",
            "networks: [nowhere]",
            'cannot find valid network with name "nowhere"',
        ),
        (
            "groups: [default]",
            "groups: [wide-open]",
            'cannot find valid group with name "wide-open"',
        ),
        ("image: ubuntu-22.04", "image: plan9", 'cannot find matching image for "plan9"'),
    ]:
        project(pytester, openstack_backend(workers=1).replace(old, new), tasks=1)
        spread(pytester).stdout.fnmatch_lines([f"* Cannot allocate {LANE}: {message}"])
    assert not openstack.created


def test_proxy_ports_follow_the_address_offset_in_the_cidr():
    relations = ("10.151.54.0/24:4000", "10.151.96.0/21:5000")
    assert proxy_address("10.151.54.7", "proxy.example", relations) == "proxy.example:4007"
    assert proxy_address("10.151.97.1", "proxy.example", relations) == "proxy.example:5257"
    assert proxy_address("192.0.2.1", "proxy.example", relations) is None


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_allocation_leaves_no_server(pytester, openstack, presses):
    openstack.build_delay = 2.0
    project(pytester, openstack_backend(), tasks=2)
    status, output = interrupt_during_allocation(
        pytester, lambda: len(openstack.created) == 2, "-seed=1", times=presses
    )
    assert status != 0, output
    assert openstack.servers == {}, output


def test_the_example_project_runs_against_the_local_api(pytester, openstack):
    example = Path(__file__).parents[2] / "examples" / "openstack"
    shutil.copytree(example, pytester.path, dirs_exist_ok=True)
    result = spread(pytester, "-v")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*Successful tasks: 1*"])
    assert openstack.created[0]["availability_zone"] == "nova"
    assert openstack.servers == {}


def test_application_credentials_from_the_environment(pytester, openstack, monkeypatch):
    ident, secret = openstack.app_credential
    monkeypatch.setenv("OS_AUTH_URL", openstack.url + "/identity/v3")
    monkeypatch.setenv("OS_APPLICATION_CREDENTIAL_ID", ident)
    monkeypatch.setenv("OS_APPLICATION_CREDENTIAL_SECRET", secret)
    monkeypatch.setenv("OS_REGION_NAME", "RegionOne")
    backend = openstack_backend(workers=1).replace("""key: '$(HOST: echo "$OS_CREDENTIALS")'""", "")
    project(pytester, backend, tasks=1)
    result = spread(pytester)
    assert result.ret == 0, result.stdout.str()
    assert len(openstack.created) == 1 and openstack.servers == {}
    assert_hidden([secret, *openstack.tokens], result, pytester.path)

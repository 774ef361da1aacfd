"""The google backend against a local Compute Engine (tests/cloud/google_api.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from .google_api import FakeGoogle
from .helpers import assert_hidden, interrupt_during_allocation, project, spread

INSTANCES = r"/zones/zone-a/instances$"
LANE = "google:ubuntu-22.04-64"


def google_backend(google: FakeGoogle, key: str = "", extra: str = "") -> str:
    """The backend, its key given as snapd gives it: from the environment."""
    os.environ["SPREAD_GOOGLE_KEY"] = key or google.key()  # reset by the google fixture
    return f"""\
google:
    key: '$(HOST: echo "$SPREAD_GOOGLE_KEY")'
    location: proj/zone-a
    halt-timeout: 2h
{extra}    systems:
        - ubuntu-22.04-64:
            workers: 2
"""


def secrets_of(google: FakeGoogle, key: str) -> list[str]:
    return [key, json.loads(key)["private_key"], *google.tokens]


def test_two_machines_run_jobs_and_are_deleted(pytester, google):
    key = google.key()
    project(pytester, google_backend(google, key), tasks=4)
    result = spread(pytester, "-v")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines(["*Successful tasks: 4*"])
    inserts = [
        json.loads(body)
        for (method, path), body in zip(google.requests, google.bodies, strict=True)
        if method == "POST" and re.search(INSTANCES, path)
    ]
    assert len(inserts) == 2
    for params in inserts:
        assert re.fullmatch(r"[a-z]{3}\d{6}-\d{6}", params["name"])
        assert params["machineType"] == "zones/zone-a/machineTypes/n1-standard-1"
        assert params["disks"][0]["initializeParams"] == {
            "sourceImage": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts",
            "diskSizeGb": 10,
        }
        assert params["labels"] == {
            "spread": "true",
            "owner": params["labels"]["owner"],
            "reuse": "false",
            "halt-timeout": "2h0m0s",
            "sa": "spread-tests",
        }
        assert params["tags"] == {"items": ["spread"]}
    names = {params["name"] for params in inserts}
    result.stdout.fnmatch_lines(
        [f"*Waiting for google:ubuntu-22.04-64 ({sorted(names)[0]}) to boot at 127.0.0.1:*"]
    )
    # The startup script went away once the machine was ready, and each machine was deleted.
    assert len(google.calls("POST", "/setMetadata$")) == 2
    assert {path.rsplit("/", 1)[1] for path in google.calls("DELETE", "/instances/")} == names
    assert google.instances == {}
    assert_hidden(secrets_of(google, key), result, pytester.path)


def test_pytest_runs_the_jobs_on_instances(pytester, google):
    key = google.key()
    project(pytester, google_backend(google, key), tasks=2)
    result = pytester.runpytest("--spread", "-p", "no:cacheprovider", "--junitxml=out.xml")
    result.assert_outcomes(passed=2)
    assert google.instances == {}
    assert len(google.calls("POST", INSTANCES)) == 1
    assert_hidden(secrets_of(google, key), result, pytester.path)


def test_reuse_keeps_the_instance_then_discard_deletes_it(pytester, google):
    key = google.key()
    project(pytester, google_backend(google, key), tasks=1)
    first = spread(pytester, "-reuse")
    assert first.ret == 0, first.stdout.str()
    (name,) = google.instances
    assert google.instances[name].body["labels"]["reuse"] == "true"
    record = yaml.safe_load((pytester.path / ".spread-reuse.yaml").read_text())
    (entry,) = record["backends"]["google"]["systems"]
    data = entry["ubuntu-22.04-64"]["data"]
    assert data["name"] == name and data["plan"] == "n1-standard-1" and data["created"]

    second = spread(pytester, "-reuse")
    assert second.ret == 0, second.stdout.str()
    second.stdout.fnmatch_lines(["*Reusing google:ubuntu-22.04-64 (*)...*"])
    assert len(google.calls("POST", INSTANCES)) == 1
    machine = google.machines[name]
    assert machine.path("/root/runs").read_text().count("ran ") == 2

    discard = spread(pytester, "-discard")
    assert discard.ret == 0, discard.stdout.str()
    discard.stdout.fnmatch_lines([f"*Discarding google:ubuntu-22.04-64 ({name})...*"])
    assert google.instances == {}
    assert_hidden(secrets_of(google, key), discard, pytester.path)


def test_gc_deletes_only_spread_instances_past_their_halt_timeout(pytester, google):
    google.add_instance(
        "jan011200-000001", {"spread": "true", "halt-timeout": "1h0m0s"}, timedelta(hours=2)
    )
    google.add_instance(
        "jan011200-000002", {"spread": "true", "halt-timeout": "3h0m0s"}, timedelta(hours=2)
    )
    google.add_instance("jan011200-000003", {"spread": "true"}, timedelta(hours=3))  # backend's 2h
    google.add_instance("jan011200-000004", {"spread": "true"}, timedelta(minutes=30))
    google.add_instance(
        "jan011200-000005", {"spread": "true", "halt-timeout": "0s"}, timedelta(days=9)
    )
    google.add_instance("my-database", {"spread": "true"}, timedelta(days=9))
    google.add_instance("jan011200-000006", {}, timedelta(days=9))  # not Spread's
    project(pytester, google_backend(google))
    result = spread(pytester, "-gc")
    assert result.ret == 0, result.stdout.str()
    assert sorted(google.instances) == [
        "jan011200-000002",
        "jan011200-000004",
        "jan011200-000005",
        "jan011200-000006",
        "my-database",
    ]
    result.stdout.fnmatch_lines(["*WARNING: Some Google servers ignored due to unsafe labels."])
    result.stdout.fnmatch_lines(
        ["*Server jan011200-000001 exceeds halt-timeout. Shutting it down..."]
    )
    assert not google.calls("POST", INSTANCES)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_rate_limits_are_retried(pytester, google, status):
    google.fail(
        "POST", INSTANCES, status, {"error": {"code": status, "message": "Try later."}}, times=3
    )
    google.fail("GET", r"/operations/", status, times=2)
    project(pytester, google_backend(google), tasks=1)
    result = spread(pytester)
    assert result.ret == 0, result.stdout.str()
    assert len(google.calls("POST", INSTANCES)) == 4
    result.stdout.fnmatch_lines(
        [
            f"*Google error {status} on POST /compute/v1/projects/proj/zones/zone-a/instances. "
            "Retrying a few times...*"
        ]
    )
    assert google.instances == {}


def test_errors_that_persist_end_in_a_clear_error(pytester, google):
    google.fail(
        "POST", INSTANCES, 503, {"error": {"code": 503, "message": "Backend Error."}}, times=-1
    )
    project(pytester, google_backend(google), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    assert len(google.calls("POST", INSTANCES)) == 10
    result.stdout.fnmatch_lines(
        [
            f"* Cannot allocate {LANE}: cannot allocate new Google server for ubuntu-22.04-64: "
            "backend Error"
        ]
    )
    assert google.instances == {}


def test_an_instance_without_address_is_deleted(pytester, google):
    google.no_address = True
    project(pytester, google_backend(google), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            f"*cannot allocate new Google server {LANE} (*): "
            f"cannot find IP address in Google server {LANE} (*) details"
        ]
    )
    assert google.instances == {} and google.calls("DELETE", "/instances/")


def test_a_failing_operation_deletes_the_instance(pytester, google):
    google.operation_error = (
        "The zone 'projects/proj/zones/zone-a' does not have enough resources available."
    )
    project(pytester, google_backend(google), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            f"*cannot allocate new Google server {LANE} (*): cannot provision {LANE} (*): "
            "the zone 'projects/proj/zones/zone-a' does not have enough resources available."
        ]
    )
    assert google.instances == {}


def test_bad_credentials_are_fatal_and_stay_secret(pytester, google):
    wrong = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = google.key(wrong)
    project(pytester, google_backend(google, key), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            f"* Cannot allocate {LANE}: cannot authenticate to Google: "
            "invalid_grant: Invalid JWT Signature."
        ]
    )
    assert not google.calls("GET", "/zones$") and google.instances == {}
    assert_hidden([key, json.loads(key)["private_key"]], result, pytester.path)


def test_a_key_that_is_not_json_is_named_without_its_content(pytester, google):
    project(pytester, google_backend(google, key="{not json, secret-material-1234}"), tasks=1)
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            "*cannot decode Google key: invalid JSON: "
            "Expecting property name enclosed in double quotes"
        ]
    )
    assert "secret-material" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_during_allocation_leaves_no_instance(pytester, google, presses):
    google.boot_delay = 2.0
    project(pytester, google_backend(google), tasks=2)
    status, output = interrupt_during_allocation(
        pytester, lambda: bool(google.calls("POST", INSTANCES)), "-seed=1", times=presses
    )
    assert status != 0, output
    assert google.instances == {}, output
    assert google.calls("DELETE", "/instances/"), output


def test_the_example_project_runs_against_the_local_api(pytester, tmp_path_factory, monkeypatch):
    google = FakeGoogle(tmp_path_factory.mktemp("example"), "my-gcp-project", "us-east1-b")
    try:
        google.add_image("debian-cloud", "debian-12-bookworm-v20260110", "debian-12", "Debian 12")
        monkeypatch.setenv("SPREAD_GOOGLE_API_URL", google.url)
        monkeypatch.setenv("SPREAD_GOOGLE_KEY", google.key())
        example = Path(__file__).parents[2] / "examples" / "google"
        shutil.copytree(example, pytester.path, dirs_exist_ok=True)
        result = spread(pytester, "-v")
        assert result.ret == 0, result.stdout.str()
        result.stdout.fnmatch_lines(["*Successful tasks: 4*"])
        result.stdout.fnmatch_lines(["*Rebooting on google:debian-12-64 (*) (*) as requested..."])
        assert google.instances == {}
        assert len(google.calls("POST", r"/zones/us-east1-b/instances$")) == 3
    finally:
        google.close()


def test_system_fields_and_a_key_file_shape_the_instance(pytester, google):
    (pytester.path / "keys").mkdir()
    (pytester.path / "keys" / "sa.json").write_text(google.key())
    google.add_image("proj", "my-image-v3", "", "My own image")
    project(
        pytester,
        """\
        google:
            key: keys/sa.json
            location: proj/zone-a
            plan: e2-standard-2
            systems:
                - custom-1:
                    image: my-image-v3
                    storage: preserve-size
                    cpu-family: Intel Skylake
                    secure-boot: true
                    attach-service-account: true
                - ubuntu-pro-22.04:
                    image: ubuntu-os-cloud/ubuntu-2204-lts
                    storage: 25G
                    plan: n2-standard-4
        """,
        tasks=1,
    )
    result = spread(pytester)
    assert result.ret == 0, result.stdout.str()
    inserts = {
        params["disks"][0]["initializeParams"]["sourceImage"]: params
        for params in (
            json.loads(body)
            for (method, path), body in zip(google.requests, google.bodies, strict=True)
            if method == "POST" and re.search(INSTANCES, path)
        )
    }
    custom = inserts["global/images/my-image-v3"]
    assert custom["disks"][0]["initializeParams"] == {"sourceImage": "global/images/my-image-v3"}
    assert custom["machineType"] == "zones/zone-a/machineTypes/e2-standard-2"
    assert custom["minCpuPlatform"] == "Intel Skylake"
    assert custom["shieldedInstanceConfig"] == {
        "enableSecureBoot": True,
        "enableVtpm": True,
        "enableIntegrityMonitoring": True,
    }
    assert custom["serviceAccounts"] == [
        {"email": google.email, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]}
    ]
    pro = inserts["projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"]
    assert pro["disks"][0]["initializeParams"]["diskSizeGb"] == 25
    assert pro["machineType"] == "zones/zone-a/machineTypes/n2-standard-4"
    assert "serviceAccounts" not in pro and "shieldedInstanceConfig" not in pro
    assert google.instances == {}


def test_an_unknown_image_is_named_with_the_projects_searched(pytester, google):
    project(pytester, google_backend(google).replace("- ubuntu-22.04-64:", "- ubuntu-99.04:"))
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            "* Cannot allocate google:ubuntu-99.04: cannot find any Google image matching "
            '"ubuntu-99.04" on project "proj" or "ubuntu-os-cloud"'
        ]
    )
    assert not google.calls("POST", INSTANCES)


def test_pytest_xdist_nodes_each_get_an_instance(pytester, google):
    key = google.key()
    project(pytester, google_backend(google, key), tasks=4)
    result = pytester.runpytest_subprocess(
        "--spread", "-p", "no:cacheprovider", "-n", "2", "--junitxml=out.xml"
    )
    result.assert_outcomes(passed=4)
    assert len(google.calls("POST", INSTANCES)) == 2
    assert google.instances == {}
    assert_hidden(secrets_of(google, key), result, pytester.path)


def test_application_default_credentials(pytester, google, monkeypatch, tmp_path):
    """No key: GOOGLE_APPLICATION_CREDENTIALS names the key file, as gcloud users set it."""
    key = tmp_path / "adc.json"
    key.write_text(google.key())
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    project(
        pytester,
        google_backend(google).replace("""key: '$(HOST: echo "$SPREAD_GOOGLE_KEY")'""", ""),
        tasks=1,
    )
    result = spread(pytester)
    assert result.ret == 0, result.stdout.str()
    assert google.instances == {} and len(google.calls("POST", INSTANCES)) == 1


def test_no_credentials_at_all_is_a_clear_error(pytester, google):
    project(
        pytester,
        google_backend(google).replace("""key: '$(HOST: echo "$SPREAD_GOOGLE_KEY")'""", ""),
        tasks=1,
    )
    result = spread(pytester)
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"* Cannot allocate {LANE}: cannot use Google credentials: *"])
    assert not google.calls("POST", INSTANCES)

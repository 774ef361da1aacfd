"""`location`: containers on an `lxc` remote, here this computer's daemon over HTTPS."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest


def lxc(*args: str) -> str:
    return subprocess.run(["lxc", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def loopback_remote(tmp_path: Path, lxd_shared: None):
    """An lxc client directory (LXD_CONF) whose remote `loopback` is the daemon on 127.0.0.1."""
    if lxc("config", "get", "core.https_address").strip():
        pytest.fail("the test daemon already listens on HTTPS; this test sets that itself")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    conf = tmp_path / "lxc"
    (conf / "servercerts").mkdir(parents=True)
    key, crt = str(conf / "client.key"), str(conf / "client.crt")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:secp384r1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=pytest-spread-location-test",
            "-keyout",
            key,
            "-out",
            crt,
        ],
        check=True,
        capture_output=True,
    )
    (conf / "servercerts/loopback.crt").write_bytes(Path("/var/lib/lxd/server.crt").read_bytes())
    (conf / "config.yml").write_text(
        f"remotes:\n  loopback:\n    addr: https://127.0.0.1:{port}\n    protocol: lxd\n"
    )
    lxc("config", "set", "core.https_address", f"127.0.0.1:{port}")
    lxc("config", "trust", "add", str(conf / "client.crt"))
    fingerprint = subprocess.run(
        ["openssl", "x509", "-in", str(conf / "client.crt"), "-noout", "-fingerprint", "-sha256"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    try:
        yield conf
    finally:
        short = fingerprint.split("=", 1)[1].replace(":", "").strip().lower()[:12]
        subprocess.run(["lxc", "config", "trust", "remove", short], capture_output=True)
        lxc("config", "unset", "core.https_address")


def test_containers_on_a_remote(lxd_project, loopback_remote):
    lxd_project.write(
        "- SYS_A:\n    image: debian-12\n",
        {"t": "summary: t\nexecute: hostname | grep -q '^spread-'\n"},
        "",
    )
    text = (lxd_project.root / "spread.yaml").read_text()
    text = text.replace("    lxd:\n", "    lxd:\n        location: loopback\n")
    (lxd_project.root / "spread.yaml").write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "pytest_spread", "-v"],
        cwd=lxd_project.root,
        env={**lxd_project.env(), "LXD_CONF": str(loopback_remote)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    system = lxd_project.system("a")
    assert f"Allocated lxd:{system} (loopback:spread-" in out
    assert f"Discarding lxd:{system} (loopback:spread-" in out
    assert "Successful tasks: 1" in out
    assert lxd_project.containers() == []

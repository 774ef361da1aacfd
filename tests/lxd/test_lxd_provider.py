"""The lxd provider's steps against the real daemon: image lookup, names, no address."""

from __future__ import annotations

import fcntl
import re
import threading

import pytest

from pytest_spread.backends.base import AllocationError
from pytest_spread.backends.lxd import (
    LXDProvider,
    deb_arch,
    image_parts,
    next_name,
    remote_image_name,
)
from pytest_spread.backends.lxdapi import LXD, LXDError
from pytest_spread.project.model import Backend, System


def provider(*systems: System) -> LXDProvider:
    backend = Backend(name="lxd", type="lxd", systems={s.name: s for s in systems})
    return LXDProvider(backend, None, "pw", lambda _: None)  # type: ignore[arg-type]


def system(name: str, image: str = "") -> System:
    return System(name=name, backend="lxd", image=image or name)


@pytest.mark.parametrize(
    ("image", "remote", "parts"),
    [
        ("ubuntu-16.04", "ubuntu", ["16.04", "amd64"]),
        ("debian-12", "images", ["debian", "12", "amd64"]),
        ("debian-sid-i386", "images", ["debian", "sid", "i386"]),
        ("images:fedora/39", "images", ["fedora", "39", "amd64"]),
        ("local:my-image", "local", ["my-image", "amd64"]),
    ],
)
def test_image_words(image, remote, parts):
    host = deb_arch()  # amd64 in the cases above
    assert image_parts(image) == (remote, [host if p == "amd64" else p for p in parts])


@pytest.mark.parametrize(
    ("image", "name"),
    [
        ("ubuntu-16.04", "ubuntu:16.04/amd64"),
        ("debian-sid", "images:debian/sid/amd64"),
        ("fedora-8", "images:fedora/8/amd64"),
        ("ubuntu-22.04-arm64", "ubuntu:22.04/arm64"),
        ("local:x", "local:x"),
    ],
)
def test_remote_image_names(image, name):
    assert remote_image_name(image) == name.replace("amd64", deb_arch())


def test_cached_image_found_by_properties(lxd_ready):
    lxd = LXD()
    (alias,) = [
        a for a in lxd.get("images/aliases?recursion=1") if a["name"] == "pytest-spread/debian-12"
    ]
    found = provider().local_image(lxd, system("debian-12"))
    assert found == alias["target"]
    assert provider().local_image(lxd, system("debian-bookworm")) == found
    assert provider().local_image(lxd, system("debian-13")) == ""
    assert provider().local_image(lxd, system("ubuntu-12")) == ""  # remote "ubuntu" differs
    assert provider().local_image(lxd, system("debian-12-arm64")) == ""


def test_names_are_counted_under_a_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    names: list[str] = []

    def take() -> None:
        for _ in range(20):
            names.append(next_name(system("ubuntu-22.04")))

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(names) == sorted(f"spread-{n}-ubuntu-22-04" for n in range(1, 81))
    assert (tmp_path / ".spread/lxd-count").read_text() == "80"
    with open(tmp_path / ".spread/lxd-count", "w") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        file.write("many")
    with pytest.raises(
        AllocationError, match=re.escape('expected integer in ~/.spread/lxd-count, got "many"')
    ):
        next_name(system("ubuntu-22.04"))


def test_a_container_without_address(lxd_project):
    lxd = LXD()
    name = f"spread-noaddr-{lxd_project.tag}"
    source = {"type": "image", "alias": "pytest-spread/debian-12"}
    lxd.request(
        "post",
        "instances",
        {"name": name, "source": source, "ephemeral": True, "devices": {"eth0": {"type": "none"}}},
    )
    try:
        lxd.set_state(name, "start")
        lxd_provider = provider()
        lxd_provider.address_wait = 1.0
        with pytest.raises(LXDError, match=f"^lxd server {name} has no address available$"):
            lxd_provider.address(lxd, name)
    finally:
        lxd.set_state(name, "stop", force=True)  # ephemeral: gone once stopped
    assert lxd_project.containers() == []


def test_the_daemon_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("LXD_DIR", str(tmp_path))
    with pytest.raises(
        AllocationError, match=r"cannot reach the LXD daemon at .*: no socket"
    ) as exc:
        provider(system("debian-12")).allocate(system("debian-12"), "", "pw")
    assert exc.value.fatal

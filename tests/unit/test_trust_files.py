"""Files that hold passwords are private from the start: the reuse file and its staging copies."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pytest_spread.backends.base import Machine
from pytest_spread.log import add_secret, redact
from pytest_spread.machines.reuse import ReuseFile


@pytest.mark.parametrize("shared", [False, True])
def test_reuse_file_and_staging_copies_are_0600(tmp_path, monkeypatch, shared):
    path = tmp_path / ".spread-reuse.yaml"
    stale = path.with_name(path.name + ".tmp")
    stale.write_text("left by an older run")
    stale.chmod(0o644)
    path.write_text("")
    path.chmod(0o644)
    modes: dict[str, int] = {}
    real_replace = os.replace

    def replace(source: str | Path, target: str | Path) -> None:
        modes[Path(source).name] = stat.S_IMODE(os.stat(source).st_mode)
        real_replace(source, target)
        modes[Path(target).name] = stat.S_IMODE(os.stat(target).st_mode)

    monkeypatch.setattr(os, "replace", replace)
    old = os.umask(0)  # the most permissive umask a user could have
    try:
        reuse = ReuseFile.open(path, print, shared=shared)
        reuse.add(Machine("adhoc", "ubuntu", "127.0.0.1:22", "", "the-password"))
    finally:
        os.umask(old)
    assert modes == {".spread-reuse.yaml.tmp": 0o600, ".spread-reuse.yaml.new": 0o600}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "the-password" in path.read_text()
    reuse.close(delete=True)


def test_redact_hides_every_known_secret_and_ignores_short_values():
    add_secret("hunter2-long")
    add_secret("abc")  # too short to hide without hiding ordinary words
    assert redact("pass hunter2-long, abc") == "pass <hidden>, abc"

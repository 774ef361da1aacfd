"""Opt-in SSH host key checking against a known_hosts file.

Spread checks no host key (its machines are new each time, with keys nobody
knows in advance), and neither does pytest-spread by default: see
docs/deviations.md for the risk. With `SPREAD_KNOWN_HOSTS=<file>` in the
environment, every machine must present the key that file lists for it
(`host` for port 22, `[host]:port` otherwise, as OpenSSH writes them).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ENV = "SPREAD_KNOWN_HOSTS"


def known_hosts() -> Path | None:
    """The known_hosts file to check against, if the user asked for checking."""
    value = os.environ.get(ENV, "")
    return Path(value) if value else None


def problem(key: Any, host: str, port: int, path: Path | None = None) -> str:
    """Why `key` is not acceptable for `host:port` ("" when it is, or nothing is checked)."""
    path = path or known_hosts()
    if path is None:
        return ""
    import paramiko  # already loaded by ssh.py, which calls this

    try:
        keys = paramiko.HostKeys(str(path))
    except OSError as exc:
        return f"cannot read {ENV} file {path}: {exc.strerror or exc}"
    name = host if port == 22 else f"[{host}]:{port}"
    listed = keys.lookup(name)
    if not listed:
        return f"host key of {name} is not in {path}"
    found = listed.get(key.get_name())
    if found is None or found.asbytes() != key.asbytes():
        return f"host key of {name} does not match {path} ({key.get_name()})"
    return ""

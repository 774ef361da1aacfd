"""Spread's one rule for privileges: a machine whose user is not root runs commands through sudo.

Spread logs in as the system's user and, unless that is root, prefixes every
remote command with `sudo -i` (spec §11).
"""

from __future__ import annotations

PREFIX = "sudo -i "


def needs_sudo(username: str) -> bool:
    """True when commands for `username` must go through `sudo -i` (not root, not unset)."""
    return bool(username) and username != "root"


def as_root(command: str, sudo: bool) -> str:
    """`command` run as root: itself, or through `sudo -i` when `sudo`."""
    return PREFIX + command if sudo else command

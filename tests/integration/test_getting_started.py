"""Reading docs/getting-started.md: its command blocks and the output it shows.

The page is run on a fresh clone by test_fresh_clone.py."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "getting-started.md"


def fenced(text: str, language: str) -> list[str]:
    """The fenced blocks of `text` whose info string is `language`, in order."""
    blocks: list[str] = []
    current: list[str] | None = None
    keep = False
    for line in text.splitlines(keepends=True):
        if current is None and line.startswith("```"):
            current, keep = [], line.strip()[3:] == language
        elif current is not None and line.strip() == "```":
            if keep:
                blocks.append("".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def commands(section: str) -> list[str]:
    """The `sh` blocks of one `## section` of the page, in order."""
    body = PAGE.read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return fenced(body, "sh")


def clean_environment() -> dict[str, str]:
    """This process's environment without its virtualenv and pytest's own variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "VIRTUAL_ENV", "PYTHON", "COV_"))
    }
    venv_bin = str(Path(sys.prefix) / "bin")
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if p and p != venv_bin)
    return env


def patterns(text: str) -> list[str]:
    """fnmatch patterns for the lines of shown output: times and durations vary."""
    found = []
    for line in text.splitlines():
        if line.strip():
            line = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "*", line.rstrip())
            line = re.sub(r"\d+\.\d+s\b", "*s", line).replace("[", "[[]")
            found.append(line)
    return found

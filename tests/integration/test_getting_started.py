"""docs/getting-started.md, followed verbatim on a fresh clone, gives a green run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from pytest import LineMatcher

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


def test_getting_started_on_a_fresh_clone(tmp_path):
    clone = tmp_path / "pytest-spread"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    install, run = commands("Install pytest-spread"), commands("Run the example")
    assert install and run
    assert "pip install ." in install[0]
    script = "set -e\n" + "".join(install + run)
    done = subprocess.run(
        ["bash", "-c", script],
        cwd=clone,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    # Every line the page shows of the two runs' output is there (times aside; the jobs'
    # order may differ, as the page says).
    section = PAGE.read_text().split("\n## Run the example\n")[1].split("\n## ")[0]
    spread_lines, pytest_lines = fenced(section, "")[:2]
    assert "Successful tasks: 4" in spread_lines and "4 passed" in pytest_lines
    lines = LineMatcher([line.rstrip() for line in done.stdout.splitlines()])
    lines.fnmatch_lines_random(patterns(spread_lines + pytest_lines))


def patterns(text: str) -> list[str]:
    """fnmatch patterns for the lines of shown output: times and durations vary."""
    found = []
    for line in text.splitlines():
        if line.strip():
            line = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "*", line.rstrip())
            line = re.sub(r"\d+\.\d+s\b", "*s", line).replace("[", "[[]")
            found.append(line)
    return found


def test_the_readme_first_command_on_a_fresh_clone(tmp_path):
    """The README's first command, less its apt-get part (the test must not change the host:
    CI installs the same packages, test_pytest_habits checks the list)."""
    first = (ROOT / "README.md").read_text().split("```sh\n", 1)[1].splitlines()[0]
    steps = first.split(" && ")
    assert steps[0] == "apt-get update" and steps[1].startswith("apt-get install -y ")
    clone = tmp_path / "pytest-spread"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    done = subprocess.run(
        ["bash", "-c", " && ".join(steps[2:])],
        cwd=clone,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert re.search(r"^\S+ \S+ Successful tasks: 4$", done.stdout, re.M), output[-4000:]
    assert re.search(r"^=+ 4 passed in [0-9.]+s =+$", done.stdout, re.M), output[-4000:]

"""The example projects (variants, reboot, artifacts) run green through both front ends,
and do what their READMEs say."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_example import run_example

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VARIANTS, REBOOT, ARTIFACTS = (EXAMPLES / name for name in ("variants", "reboot", "artifacts"))


def spread(where: Path, example: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The `spread` command in a copy of the example under `where`."""
    where.mkdir(exist_ok=True)
    return run_example(where, sys.executable, "-m", "pytest_spread", *args, example=example)


def pytest_spread(where: Path, example: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`pytest` (the example's ini turns the plugin on) in a copy of the example."""
    where.mkdir(exist_ok=True)
    argv = (sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args)
    return run_example(where, *argv, example=example)


def shown(example: Path, command: str) -> list[str]:
    """The output lines the example's README shows under `$ command`."""
    text = (example / "README.md").read_text()
    block = text.split(f"$ {command}\n", 1)[1].split("```", 1)[0]
    return block.split("\n$ ", 1)[0].splitlines()


def output(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout + done.stderr


def summary(done: subprocess.CompletedProcess[str]) -> str:
    """pytest's last line, without its `=` frame."""
    return done.stdout.rstrip().splitlines()[-1].strip("= ")


def files(top: Path) -> dict[str, str]:
    """Every file under top (relative path: content)."""
    return {str(p.relative_to(top)): p.read_text() for p in sorted(top.rglob("*")) if p.is_file()}


# -- variants and the environment cascade -------------------------------------------------


def test_variants_job_names_are_the_readme_listing(tmp_path):
    listing = shown(VARIANTS, "spread -list")
    assert len(listing) == 6 and "local:sandbox-two:cascade/greet:moon" in listing
    done = spread(tmp_path / "spread", VARIANTS, "-list")
    assert done.returncode == 0, output(done)
    assert done.stdout.splitlines() == listing
    done = pytest_spread(tmp_path / "pytest", VARIANTS, "--collect-only", "-q")
    assert done.returncode == 0, output(done)
    node_ids = [line for line in done.stdout.splitlines() if "::" in line]
    assert [node_id.split("::")[1] for node_id in node_ids] == listing
    assert node_ids[0] == "cascade/greet/task.yaml::local:sandbox-one:cascade/greet:french"
    # As the README says: `pytest -k moon` and `spread moon` select the moon jobs.
    moon = [job for job in listing if job.endswith(":moon")]
    done = pytest_spread(tmp_path / "pytest-k", VARIANTS, "--collect-only", "-q", "-k", "moon")
    assert [line.split("::")[1] for line in done.stdout.splitlines() if "::" in line] == moon
    assert spread(tmp_path / "spread-moon", VARIANTS, "-list", "moon").stdout.splitlines() == moon


def test_variants_run_green_with_spread(tmp_path):
    done = spread(tmp_path, VARIANTS, "-v")
    assert done.returncode == 0, output(done)
    assert re.search(r"^\S+ \S+ Successful tasks: 6$", done.stdout, re.M), output(done)
    for job in shown(VARIANTS, "spread -list"):
        system = job.split(":")[1]
        assert f"Executing {job} (local:{system}) (" in done.stdout


def test_variants_run_green_with_pytest(tmp_path):
    done = pytest_spread(tmp_path, VARIANTS, "-v")
    assert done.returncode == 0, output(done)
    assert summary(done).startswith("6 passed in "), output(done)
    for job in shown(VARIANTS, "spread -list"):
        assert f"::{job} PASSED" in done.stdout


def test_a_variant_value_is_checked_by_its_job(tmp_path):
    """The backend's COLOR/moon wins over the task's COLOR: expecting the task's value
    fails the moon jobs, and their output shows the values they had."""
    changed = tmp_path / "changed" / "variants"
    shutil.copytree(VARIANTS, changed)
    task = changed / "cascade" / "greet" / "task.yaml"
    text = task.read_text()
    assert "EXPECTED/moon: hello moon, silver" in text
    task.write_text(text.replace("hello moon, silver", "hello moon, blue"))
    done = spread(tmp_path / "run", changed, "moon")
    assert done.returncode == 1, output(done)
    assert "Error executing local:sandbox-one:cascade/greet:moon (local:sandbox-one)" in done.stdout
    assert "\nmoon: hello moon, silver\n" in done.stdout
    assert "Failed tasks: 2" in done.stdout and "Successful tasks: 0" in done.stdout


# -- reboots ------------------------------------------------------------------------------


def reboots(text: str, task: str) -> int:
    """How many times Spread's log says it rebooted for the task."""
    label = f"local:local-sandbox (local:local-sandbox:tests/{task})"
    return text.count(f"Rebooting on {label} as requested...")


def test_reboot_runs_green_with_spread(tmp_path):
    done = spread(tmp_path, REBOOT)
    assert done.returncode == 0, output(done)
    assert re.search(r"^\S+ \S+ Successful tasks: 2$", done.stdout, re.M), output(done)
    assert (reboots(done.stdout, "keys"), reboots(done.stdout, "prepare")) == (2, 1)
    assert shown_log_line() in done.stdout


def shown_log_line() -> str:
    """The log line the README shows."""
    readme = (REBOOT / "README.md").read_text()
    return readme.split("```\n", 1)[1].split("\n```", 1)[0]


def test_reboot_runs_green_with_pytest(tmp_path):
    done = pytest_spread(tmp_path, REBOOT, "-v")
    assert done.returncode == 0, output(done)
    assert summary(done).startswith("2 passed in "), output(done)
    assert (reboots(done.stdout, "keys"), reboots(done.stdout, "prepare")) == (2, 1)


# -- artifacts ----------------------------------------------------------------------------

MADE = "local:local-sandbox:tests/make"
CRASHED = "local:local-sandbox:tests/crash"


@pytest.mark.parametrize("front_end", ["spread", "pytest"])
def test_artifacts_are_fetched(tmp_path, front_end):
    if front_end == "spread":
        done = spread(tmp_path, ARTIFACTS, "-artifacts", "artifacts")
        assert "Successful tasks: 1" in done.stdout, output(done)
    else:
        done = pytest_spread(tmp_path, ARTIFACTS, "--spread-artifacts", "artifacts")
        assert summary(done).startswith("1 passed in "), output(done)
    assert done.returncode == 0, output(done)
    fetched = files(tmp_path / "artifacts" / "artifacts")
    listed = shown(ARTIFACTS, "find artifacts -type f")
    assert sorted(f"artifacts/{name}" for name in fetched) == listed
    assert fetched == {
        f"{MADE}/build.log": "building on local-sandbox\n",
        f"{MADE}/notes.txt": "nothing to report\n",
        f"{MADE}/out/result.json": '{"result": "ok"}\n',
    }


@pytest.mark.parametrize("front_end", ["spread", "pytest"])
def test_a_failing_jobs_artifacts_are_fetched(tmp_path, front_end):
    readme = (ARTIFACTS / "README.md").read_text()
    if front_end == "spread":
        command = f"spread -artifacts artifacts {CRASHED}"
        assert f"$ {command}\n" in readme
        done = spread(tmp_path, ARTIFACTS, *command.split()[1:])
        assert "Failed tasks: 1\n" in done.stdout and f"    - {CRASHED}\n" in done.stdout
    else:
        command = "pytest --spread-artifacts artifacts -k tests/crash"
        assert f"$ {command}\n" in readme
        done = pytest_spread(tmp_path, ARTIFACTS, *command.split()[1:])
        assert summary(done).startswith("1 failed, 1 deselected in "), output(done)
    assert done.returncode == 1, output(done)
    assert "the crash is on purpose: see crash.log" in done.stdout
    fetched = files(tmp_path / "artifacts" / "artifacts")
    crash_log = shown(ARTIFACTS, f"cat artifacts/{CRASHED}/crash.log")
    assert fetched == {f"{CRASHED}/crash.log": "\n".join(crash_log) + "\n"}


def test_the_failing_job_is_left_out_by_default(tmp_path):
    done = spread(tmp_path, ARTIFACTS, "-list")
    assert done.returncode == 0, output(done)
    assert done.stdout.splitlines() == [MADE]

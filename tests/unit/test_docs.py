"""The documentation site builds strictly, and what it says matches the code."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_spread.command.flags import SPREAD_FLAGS
from pytest_spread.project import yamlread
from pytest_spread.project.filters import select_jobs
from pytest_spread.project.loader import load_project
from pytest_spread.project.matrix import build_matrix

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_site_builds_strictly(tmp_path):
    done = build(ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    for page in ("getting-started", "reference", "migrating", "ci", "ide", "backends"):
        assert (tmp_path / "site" / page / "index.html").is_file()
    # Links to repository files outside docs/ are published with the site.
    assert (tmp_path / "site" / "repo" / "tests" / "schemas" / "junit-10.xsd").is_file()
    # Fenced code that Markdown could not render (inside a list item, say) shows its fence.
    unrendered = [
        str(page.relative_to(tmp_path))
        for page in (tmp_path / "site").rglob("*.html")
        if "```" in page.read_text()
    ]
    assert unrendered == []


def copy_site_sources(tmp_path: Path) -> Path:
    """What the site is built from, in a directory of its own."""
    root = tmp_path / "repo"
    shutil.copytree(DOCS, root / "docs")
    shutil.copy(ROOT / "mkdocs.yml", root)
    (root / "scripts").mkdir()
    for hook in ("mkdocs_repo_links.py", "mkdocs_nav.py"):
        shutil.copy(ROOT / "scripts" / hook, root / "scripts")
    (root / "tests" / "schemas").mkdir(parents=True)
    (root / "tests" / "schemas" / "junit-10.xsd").write_text("<schema/>")
    return root


def test_a_page_the_nav_forgets_is_added_at_its_end(tmp_path):
    root = copy_site_sources(tmp_path)
    (root / "docs" / "later.md").write_text("# Written later\n\nText.\n")
    done = build(root, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    home = (tmp_path / "site" / "index.html").read_text()
    assert home.index("Architecture") < home.index("Written later")


@pytest.mark.parametrize(
    ("link", "warning"),
    [
        ("[x](nowhere.md)", "not found among documentation files"),
        ("[x](reference.md#no-such-section)", "does not contain an anchor"),
        ("[x](../no/such/file.txt)", "not found among documentation files"),
    ],
)
def test_a_broken_link_fails_the_build(tmp_path, link, warning):
    root = copy_site_sources(tmp_path)
    with (root / "docs" / "ci.md").open("a") as page:
        page.write(f"\nSee {link}.\n")
    done = build(root, tmp_path / "site")
    assert done.returncode == 1
    assert warning in done.stderr, done.stderr


# -- the reference names every field the loader reads ----------------------------------

EVERY_LEVEL = """\
project: p
path: /r
backends:
    lxd:
        volume-auto-delete: true  # read only when present
        systems:
            - ubuntu-22.04:
                image: x
suites:
    tests/:
        summary: s
        skip:
            - reason: r
              if: 'true'
"""
SECTIONS = {
    "project": "spread.yaml: project fields",
    "backend": "Backend fields",
    "system": "System fields",
    "suite": "Suite fields",
    "task": "task.yaml fields",
    "skip": "Skip entries",
}


def fields_read(tmp_path, monkeypatch) -> dict[str, set[str]]:
    """The keys each level's reader asks for, whatever the files hold."""
    (tmp_path / "spread.yaml").write_text(EVERY_LEVEL)
    (tmp_path / "tests" / "a").mkdir(parents=True)
    (tmp_path / "tests" / "a" / "task.yaml").write_text(
        "summary: t\nskip:\n    - reason: r\n      if: 'true'\n"
    )
    read: dict[str, set[str]] = {level: set() for level in SECTIONS}
    original = yamlread.Fields.raw

    def raw(self, key):
        where = self.where
        if "skip[" in where:
            level = "skip"
        elif self.file.name == "task.yaml":
            level = "task"
        elif where.startswith("suites."):
            level = "suite"
        elif ".systems." in where:
            level = "system"
        elif where.startswith("backends."):
            level = "backend"
        elif where == "":
            level = "project"
        else:
            level = ""  # the backends: and suites: mappings themselves
        if level:
            read[level].add(key)
        return original(self, key)

    monkeypatch.setattr(yamlread.Fields, "raw", raw)
    load_project(tmp_path)
    return read


def documented(section: str) -> set[str]:
    """The `field` names in the first column of the section's table."""
    text = (DOCS / "reference.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[-1] if f"\n## {section}\n" in text else ""
    if not body:
        body = text.split(f"\n### {section}\n", 1)[1]
    body = re.split(r"\n##+ ", body, maxsplit=1)[0]
    names: set[str] = set()
    for line in body.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([a-z-]+)`", line.split(" | ")[0]))
    return names


def test_the_reference_names_every_field_the_loader_reads(tmp_path, monkeypatch):
    read = fields_read(tmp_path, monkeypatch)
    assert read["task"] >= {"summary", "execute", "skip", "artifacts"}
    for level, section in SECTIONS.items():
        missing = read[level] - documented(section)
        assert not missing, f"{section}: {sorted(missing)} not documented"
        unknown = documented(section) - read[level]
        assert not unknown, f"{section}: {sorted(unknown)} documented, but not read"


def test_the_reference_example_gives_the_jobs_it_names(tmp_path, monkeypatch):
    text = (DOCS / "reference.md").read_text()
    spread_yaml, task_yaml = re.findall(r"```yaml\n(.*?)```", text, re.S)[:2]
    (tmp_path / "spread.yaml").write_text(spread_yaml)
    task = re.search(r"# (\S+/task\.yaml)", task_yaml)
    assert task is not None
    (tmp_path / task.group(1)).parent.mkdir(parents=True)
    (tmp_path / task.group(1)).write_text(task_yaml)
    (tmp_path / "tests" / "manual").mkdir()
    monkeypatch.chdir(tmp_path)
    jobs = [job.name for job in select_jobs(build_matrix(load_project(tmp_path)).jobs, [])]
    said = text.split("That gives the jobs", 1)[1].split("\n\n", 1)[0]
    named = re.findall(r"`([a-z0-9.:/-]+:[a-z]+)`", said)
    assert named == jobs[:2]
    assert "qemu:ubuntu-22.04-64" in said
    assert [job.split(":", 2)[2] for job in jobs[2:]] == [n.split(":", 2)[2] for n in named]


# -- migrating names every flag and option --------------------------------------------


def test_migrating_names_every_spread_flag_and_pytest_option(tmp_path):
    text = (DOCS / "migrating.md").read_text()
    table = text.split("## Every flag of the spread command", 1)[1].split("\n## ", 1)[0]
    flags = set(re.findall(r"^\| `-([a-z-]+)", table, re.M))
    assert {flag.name for flag in SPREAD_FLAGS} | {"version"} == flags
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    options = set(re.findall(r"^  (--spread[a-z-]*)", done.stdout, re.M))
    assert "--spread-order" in options and "--spread-json" in options
    mentioned = set(re.findall(r"`(--spread(?:-[a-z]+)*)", text))
    assert options - mentioned == set()
    assert mentioned - options == set()

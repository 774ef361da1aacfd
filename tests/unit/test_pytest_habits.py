"""pytest habits: ini settings, warnings, node ids, project paths, JUnit XML, -n, examples.

Collection and JUnit through pytester; the example, README and `spread` command
through real subprocesses. Jobs that run for real are in
tests/integration/test_pytest_habits.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
import xmlschema

from pytest_spread import SpreadWarning, load_project
from pytest_spread.project.matrix import build_matrix
from pytest_spread.run.content import pack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hello"
SCHEMA = ROOT / "tests" / "schemas" / "junit-10.xsd"

SPREAD_YAML = """\
project: p
path: /r
variants: [x]
backends:
    lxd:
        systems: [ubuntu-16.04, ubuntu-18.04]
suites:
    tests/:
        summary: s
"""
# pytester's in-process runs inherit this session's filters (the repository's
# `filterwarnings = error`); the runs here see what a user's default would.
pytestmark = pytest.mark.filterwarnings("default::pytest_spread.SpreadWarning")

UNKNOWN_KEY = 'variants: unknown project field "variants" (Spread ignores it)'


def write_project(root: Path, spread_yaml: str = SPREAD_YAML, tasks: tuple[str, ...] = ("a",)):
    root.mkdir(parents=True, exist_ok=True)
    (root / "spread.yaml").write_text(spread_yaml)
    for task in tasks:
        (root / "tests" / task).mkdir(parents=True, exist_ok=True)
        (root / "tests" / task / "task.yaml").write_text(f"summary: {task}\n")


def collected(result: pytest.RunResult) -> list[str]:
    return [line for line in result.outlines if "::" in line]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # No LXD daemon here: lxd jobs fail at once, without reaching any network.
    monkeypatch.setenv("LXD_DIR", str(pytester.path / "no-lxd"))
    write_project(pytester.path, tasks=("a", "b"))
    return pytester


# -- 1. ini settings ---------------------------------------------------------------


def test_ini_setting_collects_without_the_flag(project):
    project.makeini(
        "[pytest]\nspread = true\nfilterwarnings = ignore::pytest_spread.SpreadWarning\n"
    )
    result = project.runpytest("--collect-only", "-q", "--strict-config")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    assert collected(result) == [
        "tests/a/task.yaml::lxd:ubuntu-16.04:tests/a",
        "tests/b/task.yaml::lxd:ubuntu-16.04:tests/b",
        "tests/a/task.yaml::lxd:ubuntu-18.04:tests/a",
        "tests/b/task.yaml::lxd:ubuntu-18.04:tests/b",
    ]
    assert "unknown config option" not in result.stderr.str()


def test_ini_project_is_relative_to_the_ini_file(pytester, monkeypatch):
    write_project(pytester.path / "spread-tests")
    pytester.makeini("[pytest]\nspread = true\nspread_project = spread-tests\n")
    monkeypatch.chdir(pytester.mkdir("elsewhere"))
    result = pytester.runpytest("--collect-only", "-q", "-W", "ignore::pytest_spread.SpreadWarning")
    assert len(collected(result)) == 2, result.stdout.str()


def test_ini_project_that_is_missing_is_named(pytester):
    pytester.makeini("[pytest]\nspread = true\nspread_project = nowhere\n")
    result = pytester.runpytest("--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: spread_project in tox.ini: no such file or directory: *"])
    assert "nowhere" in result.stderr.str()


def test_without_the_setting_a_hint_names_the_project(project):
    result = project.runpytest("--collect-only", "-q")
    assert collected(result) == []
    result.stdout.fnmatch_lines(
        ["spread.yaml is a Spread project: collect its jobs with --spread, or with spread = true*"]
    )


# -- 2. warnings -------------------------------------------------------------------


def test_warning_is_located_at_the_spread_yaml_line(project):
    result = project.runpytest("--spread", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ["spread.yaml:3", f"  spread.yaml:3: SpreadWarning: {UNKNOWN_KEY}", "    variants: [x]"]
    )
    assert "hooks.py" not in result.stdout.str()


@pytest.mark.parametrize("how", ["-W error", "filterwarnings = error"])
def test_warnings_as_errors_give_a_clean_error(project, how):
    if how.startswith("-W"):
        result = project.runpytest("--spread", "--collect-only", "-q", *how.split())
    else:
        project.makeini(f"[pytest]\n{how}\n")
        result = project.runpytest("--spread", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting spread.yaml*",
            f"spread.yaml:3: {UNKNOWN_KEY}: a SpreadWarning, made an error by the warnings filter",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output


def test_the_warning_class_is_importable_for_filters(project):
    assert issubclass(SpreadWarning, UserWarning)
    result = project.runpytest(
        "--spread",
        "--collect-only",
        "-q",
        "-W",
        "error",
        "-W",
        "ignore::pytest_spread.SpreadWarning",
    )
    assert result.ret == pytest.ExitCode.OK
    assert len(collected(result)) == 4
    assert "SpreadWarning" not in result.stdout.str()


def test_under_xdist_the_warning_is_shown_once(project):
    result = project.runpytest_subprocess("--spread", "-n", "2", "-k", "nothing-at-all")
    assert result.stdout.str().count(f"SpreadWarning: {UNKNOWN_KEY}") == 1, result.stdout.str()
    assert "1 warning" in result.stdout.lines[-1]
    assert "SpreadWarning" not in result.stderr.str()


def test_under_xdist_warnings_as_errors_are_collection_errors(project):
    result = project.runpytest_subprocess("--spread", "-n", "2", "-W", "error")
    result.stdout.fnmatch_lines(
        ["*ERROR collecting spread.yaml*", f"spread.yaml:3: {UNKNOWN_KEY}*"]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output and "Traceback" not in output


# -- 3. --spread-project anywhere ----------------------------------------------------


def test_a_project_outside_the_collected_paths_is_collected(pytester, monkeypatch):
    write_project(pytester.path / "project")
    monkeypatch.chdir(pytester.mkdir("here"))
    pytester.mkdir("here/unit")
    for args in ([], ["unit"]):
        result = pytester.runpytest(
            "--spread", "--collect-only", "-q", "--spread-project=../project", *args
        )
        assert len(collected(result)) == 2, (args, result.stdout.str())


def test_a_missing_project_path_is_named(pytester):
    result = pytester.runpytest("--spread", "--collect-only", "--spread-project=no/such/dir")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --spread-project: no such file or directory: no/such/dir"])


# -- 4. nested projects ------------------------------------------------------------

INNER_YAML = SPREAD_YAML.replace("project: p", "project: inner").replace("tests/:", "checks/:")


@pytest.fixture
def nested(pytester: pytest.Pytester) -> pytest.Pytester:
    """Spread's own layout: tests/<name>/ is a task of the root and a project of its own."""
    write_project(pytester.path, tasks=("inner", "other"))
    inner = pytester.path / "tests" / "inner"
    (inner / "spread.yaml").write_text(INNER_YAML)
    (inner / "checks" / "main").mkdir(parents=True)
    (inner / "checks" / "main" / "task.yaml").write_text("summary: main\n")
    return pytester


def test_nested_node_ids_run_back_as_is(nested):
    quiet = ("-q", "-W", "ignore::pytest_spread.SpreadWarning")
    listing = collected(nested.runpytest("--spread", "--collect-only", *quiet))
    assert "tests/inner/task.yaml::lxd:ubuntu-16.04:tests/inner" in listing
    for nodeid in listing:
        again = nested.runpytest("--spread", "--collect-only", *quiet, nodeid)
        assert collected(again) == [nodeid]
    inner = collected(nested.runpytest("--spread", "--collect-only", *quiet, "tests/inner"))
    assert inner[0] == "tests/inner/checks/main/task.yaml::lxd:ubuntu-16.04:checks/main"
    again = nested.runpytest("--spread", "--collect-only", *quiet, inner[0])
    assert collected(again) == [inner[0]]


def test_paths_of_two_projects_are_a_clear_error(nested):
    result = nested.runpytest(
        "--spread", "--collect-only", "tests/inner/task.yaml", "tests/inner/checks/main/task.yaml"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: tests/inner/checks/main/task.yaml is in the Spread project "
            "tests/inner/spread.yaml, tests/inner/task.yaml in spread.yaml: one run collects "
            "one project (run them one at a time, or name one with --spread-project)"
        ]
    )


# -- 5. a filter that matches nothing ------------------------------------------------


def test_a_filter_matching_nothing_says_so_as_spread_does(project):
    result = project.runpytest("--spread", "--collect-only", "--spread-filter", "qemu:")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    spread = subprocess.run(
        [sys.executable, "-m", "pytest_spread", "-list", "qemu:"],
        cwd=project.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert spread.returncode == 1
    assert spread.stderr.splitlines()[-1] == "error: nothing matches provider filter"
    result.stderr.fnmatch_lines(["ERROR: nothing matches provider filter (--spread-filter qemu:)"])


# -- 6. content sent to machines ---------------------------------------------------


def test_content_leaves_out_pytest_cache_and_reuse_files(tmp_path):
    write_project(tmp_path)
    for name in (
        ".pytest_cache/v/spread/durations",
        "tests/a/.pytest_cache/README.md",
        ".spread-reuse.yaml",
        ".spread-reuse.4242.yaml",
        ".spread-reuse.4242.yaml.tmp",
        "tests/a/data.txt",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n")
    content = pack(build_matrix(load_project(tmp_path)), ["lxd"], print)
    try:
        with tarfile.open(fileobj=content.file, mode="r:*") as archive:
            names = {member.name.rstrip("/") for member in archive.getmembers()}
    finally:
        content.close()
    assert {"spread.yaml", "tests/a/task.yaml", "tests/a/data.txt"} <= names
    assert not [name for name in names if ".pytest_cache" in name or ".spread-reuse" in name]


# -- 7. JUnit XML ----------------------------------------------------------------


def junit(project: pytest.Pytester, *args: str, family: str = "xunit2") -> ElementTree.Element:
    xml = project.path / "junit.xml"
    project.runpytest(
        "--spread",
        "-W",
        "ignore::pytest_spread.SpreadWarning",
        "-o",
        f"junit_family={family}",
        f"--junitxml={xml}",
        *args,
    )
    return ElementTree.parse(xml).getroot()


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]])
def test_junit_class_is_suite_and_task(project, xdist):
    root = junit(project, *xdist)
    cases = sorted((case.get("classname"), case.get("name")) for case in root.iter("testcase"))
    assert cases == [
        ("tests.a", "lxd:ubuntu-16.04:tests/a"),
        ("tests.a", "lxd:ubuntu-18.04:tests/a"),
        ("tests.b", "lxd:ubuntu-16.04:tests/b"),
        ("tests.b", "lxd:ubuntu-18.04:tests/b"),
    ]


def test_junit_messages_are_one_line_and_properties_name_the_job(project):
    (project.path / "spread.yaml").write_text(
        SPREAD_YAML.replace("variants: [x]\n", "").replace(
            "    tests/:\n        summary: s\n",
            "    tests/:\n        summary: s\n        variants: [one]\n",
        )
    )
    root = junit(project, "-k", "tests/a and 16.04")
    (case,) = root.iter("testcase")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert {k: properties[k] for k in ("backend", "system", "variant")} == {
        "backend": "lxd",
        "system": "ubuntu-16.04",
        "variant": "one",
    }
    (error,) = case.iter("error")
    assert "\n" not in error.get("message", "")
    assert error.get("message", "").startswith('failed on setup with "cannot allocate lxd:')
    assert "cannot allocate lxd:ubuntu-16.04" in (error.text or "")


def test_junit_xunit2_is_valid_against_the_schema(project):
    junit(project, family="xunit2")
    xmlschema.XMLSchema(SCHEMA).validate(project.path / "junit.xml")


def test_junit_xunit1_adds_the_task_file(project):
    root = junit(project, "-k", "tests/b and 18.04", family="xunit1")
    (case,) = root.iter("testcase")
    assert (case.get("classname"), case.get("file")) == ("tests.b", "tests/b/task.yaml")


def test_the_schema_rejects_what_ci_servers_do_not_read(tmp_path):
    schema = xmlschema.XMLSchema(SCHEMA)
    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites><testsuite name="s" tests="1"><testcase/></testsuite></testsuites>')
    assert not schema.is_valid(bad)  # a test case without a name


# -- 10. -n N beyond the workers ---------------------------------------------------


def test_n_beyond_the_workers_starts_only_the_useful_nodes(project):
    result = project.runpytest_subprocess(
        "--spread", "-n", "5", "-W", "ignore::pytest_spread.SpreadWarning"
    )
    result.stdout.fnmatch_lines(
        [
            "spread: -n 5, but the selected systems have 2 workers in all (workers:): "
            "starting 2 nodes",
            "created: 2/2 workers",
        ]
    )
    assert "[gw2]" not in result.stdout.str()
    result.assert_outcomes(errors=4)


# -- 8. and 9. the example and the README ------------------------------------------


def run_in(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # nothing written into the repository's examples
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def fixture_names(cwd: Path) -> dict[str, str]:
    """`pytest --fixtures` there: each fixture's name and where it is defined."""
    done = run_in(cwd, sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.findall(r"^(\w+)(?: \[\w+ scope\])? -- (\S+)", done.stdout, re.MULTILINE)
    return dict(found)


EXAMPLES = sorted(path.parent.name for path in (ROOT / "examples").glob("*/spread.yaml"))


@pytest.fixture(scope="module")
def fixtures_of_a_new_project(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What `pytest --fixtures` lists in a project with nothing of its own."""
    empty = tmp_path_factory.mktemp("empty")
    (empty / "pytest.ini").write_text("[pytest]\n")
    return fixture_names(empty)


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_example_keeps_the_repository_settings_out(fixtures_of_a_new_project, name):
    example = ROOT / "examples" / name
    names = fixture_names(example)
    assert "machine_factory" not in names and "pytester" not in names
    extra = {name: where for name, where in names.items() if name not in fixtures_of_a_new_project}
    assert all(not where.startswith("..") for where in extra.values()), extra  # its own
    done = run_in(example, sys.executable, "-m", "pytest", "--co", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"rootdir: {example}\nconfigfile: pytest.ini" in done.stdout
    assert "collected" in done.stdout and "::" not in done.stdout  # spread = true, not -q


def readme_block(after: str) -> str:
    """The first fenced block after the line `after` in the README."""
    text = (ROOT / "README.md").read_text()
    rest = text[text.index(after) :]
    match = re.search(r"```\w*\n(.*?)```", rest, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_readme_node_ids_are_what_the_example_prints():
    shown = readme_block("The example's jobs as pytest items").splitlines()
    command = shown[0].removeprefix("$ ").split()
    assert command[:3] == ["pytest", "--collect-only", "-q"]
    done = run_in(EXAMPLE, sys.executable, "-m", "pytest", *command[1:], "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line for line in done.stdout.splitlines() if "::" in line] == shown[1:]
    text = (ROOT / "README.md").read_text()
    nodeid = shown[1]
    path, _, name = nodeid.partition("::")
    assert "`<task name>/task.yaml::<job name>`" in text
    assert path == name.split(":")[2] + "/task.yaml"


def test_readme_first_command_installs_what_ci_installs():
    first = (ROOT / "README.md").read_text().split("```sh\n", 1)[1].splitlines()[0]
    install = re.search(r"apt-get install -y ([^&]*)", first)
    assert install is not None
    installed = set(install.group(1).split())
    ci = (ROOT / ".ci" / "run").read_text()
    listed = re.search(r"apt_packages=\(([^)]*)\)", ci)
    assert listed is not None
    wanted = set(listed.group(1).split())
    essential = {
        package
        for package in wanted
        if run_in(ROOT, "dpkg-query", "-W", "-f=${Essential}", package).stdout == "yes"
    }
    assert wanted - essential <= installed, wanted - essential - installed
    extras = re.search(r"pip install -q -e '\.\[([^]]*)\]'", ci)
    assert extras is not None
    assert f"pip install -e '.[{extras.group(1)}]'" in first
    assert "-p no:cacheprovider" not in first


def test_spread_version_names_the_implementation(tmp_path):
    done = run_in(tmp_path, sys.executable, "-m", "pytest_spread", "--version")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "spread (pytest-spread 0.1.0, Python re-implementation of Spread)\n"
    assert done.stdout.strip() in (ROOT / "README.md").read_text()


def test_a_run_without_spread_imports_nothing_heavy(tmp_path):
    """The plugin is installed for every pytest run: without --spread it adds only its
    options and fixtures, not the project model, SSH or the machines."""
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    pass\n")
    (tmp_path / "conftest.py").write_text(
        "import sys\n\n"
        "def pytest_sessionfinish(session):\n"
        "    loaded = sorted(m for m in sys.modules if m.startswith(('pytest_spread', 'paramiko',"
        " 'fabric', 'yaml')))\n"
        "    (session.config.rootpath / 'loaded.txt').write_text('\\n'.join(loaded))\n"
    )
    done = run_in(tmp_path, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout + done.stderr
    loaded = (tmp_path / "loaded.txt").read_text().split()
    assert set(loaded) <= {
        "pytest_spread",
        "pytest_spread.errors",
        "pytest_spread.plugin",
        "pytest_spread.plugin.fixtures",
        "pytest_spread.plugin.hooks",
        "pytest_spread.plugin.options",
    }, loaded
    with_spread = run_in(tmp_path, sys.executable, "-m", "pytest", "-q", "--spread", "--co")
    assert "spread.yaml" in with_spread.stdout + with_spread.stderr  # the plugin is there

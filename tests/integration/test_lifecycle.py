"""Jobs really run over SSH on machines the tests start: Spread's lifecycle rules (spec §4.5)."""

from __future__ import annotations

import sys
import textwrap

import pytest

ORDER_LOG = "/tmp/spread-order.log"


def spread_yaml(machine, *, project_extra="", backend_extra="", suites=None, discard_log=""):
    suites = suites or {"tests/": "summary: s\n"}
    suite_text = "".join(
        f"    {name}:\n" + textwrap.indent(body, " " * 8) for name, body in suites.items()
    )
    discard = f'echo "$SPREAD_SYSTEM_ADDRESS" >> {discard_log}' if discard_log else "true"
    return (
        "project: p\n"
        "path: /srv/spread-p\n" + project_extra + "backends:\n"
        "    adhoc:\n"
        f"        allocate: ADDRESS {machine.address}\n"
        f"        discard: {discard}\n"
        + textwrap.indent(backend_extra, " " * 8)
        + "        systems:\n"
        f"            - ubuntu-24.04:\n"
        f"                password: {machine.password}\n"
        "suites:\n" + suite_text
    )


def logged(script: str) -> str:
    return f"echo {script} >> {ORDER_LOG}"


@pytest.fixture
def run(pytester: pytest.Pytester):
    def run(*args: str) -> pytest.RunResult:
        return pytester.runpytest("--spread", "-p", "no:cacheprovider", "-rA", *args)

    return run


def write_tasks(pytester: pytest.Pytester, tasks: dict[str, str]) -> None:
    for name, body in tasks.items():
        (pytester.path / name).mkdir(parents=True, exist_ok=True)
        (pytester.path / name / "task.yaml").write_text(textwrap.dedent(body))


def test_a_passing_and_a_failing_job(pytester, machine, run):
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/good": "summary: g\nexecute: echo hello from $SPREAD_JOB\n",
            "tests/bad": "summary: b\nexecute: |\n    echo about to fail\n    exit 3\n",
        },
    )
    result = run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Error executing adhoc:ubuntu-24.04:tests/bad (adhoc:ubuntu-24.04) : ",
            "-----",
            "+ echo about to fail",
            "about to fail",
            "+ exit 3",
            "-----",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*spread report*",
            "Successful tasks: 1",
            "Aborted tasks: 0",
            "Failed tasks: 1",
            "    - adhoc:ubuntu-24.04:tests/bad",
        ]
    )


def test_scripts_run_in_spread_order(pytester, machine, run):
    levels = {
        key: logged(f"project-{key}")
        for key in ("prepare", "restore", "prepare-each", "restore-each")
    }
    project_extra = "".join(f"{key}: {value}\n" for key, value in levels.items())
    backend_extra = "".join(
        f"{key}: {logged('backend-' + key)}\n"
        for key in ("prepare", "restore", "prepare-each", "restore-each")
    )
    suites = {
        f"{suite}/": "summary: s\n"
        + "".join(
            f"{key}: {logged(suite + '-' + key)}\n"
            for key in ("prepare", "restore", "prepare-each", "restore-each")
        )
        for suite in ("one", "two")
    }
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(
            machine, project_extra=project_extra, backend_extra=backend_extra, suites=suites
        ),
    )
    tasks = {
        f"{suite}/{task}": f"summary: t\nprepare: {logged(task + '-prepare')}\n"
        f"execute: {logged(task + '-execute')}\nrestore: {logged(task + '-restore')}\n"
        for suite, task in (("one", "t1"), ("one", "t2"), ("two", "t3"))
    }
    write_tasks(pytester, tasks)
    run().assert_outcomes(passed=3)

    def each(task: str, suite: str) -> list[str]:
        return [
            "project-prepare-each",
            "backend-prepare-each",
            f"{suite}-prepare-each",
            f"{task}-prepare",
            f"{task}-execute",
            f"{task}-restore",
            f"{suite}-restore-each",
            "backend-restore-each",
            "project-restore-each",
        ]

    assert machine.path(ORDER_LOG).read_text().split() == [
        "project-prepare",
        "backend-prepare",
        "one-prepare",
        *each("t1", "one"),
        *each("t2", "one"),
        "one-restore",
        "two-prepare",
        *each("t3", "two"),
        "two-restore",
        "backend-restore",
        "project-restore",
    ]


def test_environment_reaches_the_scripts(pytester, machine, run):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(
            machine,
            project_extra=(
                "environment:\n    GREETING: hello\n    WHO/moon: moon\n    WHO/sun: sun\n"
            ),
        ),
    )
    write_tasks(
        pytester,
        {
            "tests/env": (
                "summary: e\nexecute: |\n"
                '    echo "$SPREAD_JOB $SPREAD_VARIANT $GREETING $WHO $PWD" >> /tmp/env.log\n'
            )
        },
    )
    run().assert_outcomes(passed=2)
    assert sorted(machine.path("/tmp/env.log").read_text().splitlines()) == [
        "adhoc:ubuntu-24.04:tests/env:moon moon hello moon /srv/spread-p/tests/env",
        "adhoc:ubuntu-24.04:tests/env:sun sun hello sun /srv/spread-p/tests/env",
    ]


def test_failed_task_prepare_is_a_setup_error_and_restore_still_runs(pytester, machine, run):
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/t": f"summary: t\nprepare: exit 1\nexecute: {logged('x')}\n"
            f"restore: {logged('restored')}\n"
        },
    )
    result = run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of*",
            "*Error preparing adhoc:ubuntu-24.04:tests/t*",
            "Aborted tasks: 1",
            "Failed task prepare: 1",
        ]
    )
    assert machine.path(ORDER_LOG).read_text().split() == ["restored"]


def test_failed_suite_prepare_aborts_its_jobs(pytester, machine, run):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(
            machine,
            suites={"tests/": f"summary: s\nprepare: exit 1\nrestore: {logged('suite-restore')}\n"},
        ),
    )
    write_tasks(
        pytester, {f"tests/{name}": f"summary: t\nexecute: {logged(name)}\n" for name in ("a", "b")}
    )
    result = run()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "Successful tasks: 0",
            "Aborted tasks: 2",
            "Failed suite prepare: 1",
            "    - adhoc:ubuntu-24.04:tests/",
        ]
    )
    assert machine.path(ORDER_LOG).read_text().split() == ["suite-restore"]


def test_failed_task_restore_stops_the_machine(pytester, machine, run):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(machine, project_extra=(f"restore: {logged('project-restore')}\n")),
    )
    write_tasks(
        pytester,
        {
            f"tests/{name}": f"summary: t\nexecute: {logged(name)}\nrestore: exit 1\n"
            for name in ("a", "b", "c")
        },
    )
    result = run()
    result.stdout.fnmatch_lines(
        ["Successful tasks: 1", "Aborted tasks: 2", "Failed task restore: 1"]
    )
    assert machine.path(ORDER_LOG).read_text().split() == ["a", "project-restore"]


def test_error_helper_and_match(pytester, machine, run):
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/error": 'summary: t\nexecute: ERROR "bad thing"\n',
            "tests/match": "summary: t\nexecute: echo foo | MATCH 'f(o|x)o'\n",
        },
    )
    result = run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*Error executing adhoc:ubuntu-24.04:tests/error (adhoc:ubuntu-24.04) : bad thing"]
    )


def test_kill_timeout_and_warnings(pytester, machine, run):
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/slow": "summary: t\nwarn-timeout: 1s\nkill-timeout: 3s\n"
            "execute: |\n    echo started\n    sleep 60\n"
        },
    )
    result = run("-o", "log_level=INFO")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*WARNING: adhoc:ubuntu-24.04 (adhoc:ubuntu-24.04:tests/slow) running late. "
            "Current output:*",
            "*<kill-timeout reached>*",
        ]
    )


def test_a_script_past_its_kill_timeout_is_stopped_with_its_children(pytester, machine, run):
    """sshd refuses Spread's `signal KILL` for root logins: the script's process group is
    killed over a new session, so nothing of it runs on when the restore does."""
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/slow": "summary: t\nkill-timeout: 1s\n"
            "execute: |\n    sleep 300 &\n    echo started\n    sleep 301\n"
            "restore: |\n    pgrep -a sleep && exit 1 || true\n"
        },
    )
    result = run("-o", "log_level=INFO")
    result.assert_outcomes(failed=1)  # the execute; the restore found no sleep left
    result.stdout.fnmatch_lines(["*<kill-timeout reached>*"])
    assert "SPREAD-PGID" not in result.stdout.str()
    assert "+ echo started" in result.stdout.str()


def test_artifacts_are_fetched_even_on_failure(pytester, machine, run, tmp_path):
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/art": "summary: t\nartifacts: [one.txt, two.txt]\n"
            "execute: |\n    echo 1 > one.txt\n    exit 1\n"
        },
    )
    target = tmp_path / "art"
    run(f"--spread-artifacts={target}").assert_outcomes(failed=1)
    assert (target / "adhoc:ubuntu-24.04:tests/art" / "one.txt").read_text() == "1\n"
    assert not (target / "adhoc:ubuntu-24.04:tests/art" / "two.txt").exists()


def test_repeat_runs_every_cycle(pytester, machine, run):
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/r": f"summary: t\nprepare: {logged('p')}\n"
            f"execute: {logged('e')}\nrestore: {logged('r')}\n"
        },
    )
    result = run("--spread-repeat=2")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["Successful tasks: 3"])
    assert machine.path(ORDER_LOG).read_text().split() == ["p", "e", "r"] * 3


@pytest.mark.parametrize("nodes", ["0", "1"])
def test_junit_has_job_properties_and_output(pytester, machine, run, nodes):
    from xml.etree import ElementTree

    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/j": "summary: t\nprepare: sleep 0.2\n"
            "execute: |\n    echo junit-output\n    exit 1\n"
        },
    )
    xml = pytester.path / "junit.xml"
    run(f"--junitxml={xml}", "-n", nodes).assert_outcomes(failed=1)
    (case,) = ElementTree.parse(xml).iter("testcase")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    timings = {name: float(properties.pop(f"{name}_seconds") or "") for name in PHASES}
    machine_seconds = float(properties.pop("machine_seconds") or "")
    assert timings["setup"] >= 0.2 > timings["call"]  # the task prepare is in setup
    assert 0 < machine_seconds < timings["setup"]  # the machine was allocated in setup
    assert all(seconds < 30 for seconds in timings.values())
    assert properties == {
        "backend": "adhoc",
        "system": "ubuntu-24.04",
        "suite": "tests/",
        "task": "tests/j",
        "variant": "",
        "sample": "1",
        "machine": machine.address,
    }
    failure = case.find("failure")
    assert failure is not None and "junit-output" in (failure.text or "")


PHASES = ("setup", "call", "teardown")


def test_discard_runs_for_the_allocated_machine(pytester, machine, run, tmp_path):
    log = tmp_path / "discarded.log"
    pytester.makefile(".yaml", spread=spread_yaml(machine, discard_log=str(log)))
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: exit 1\n"})
    run("-x").assert_outcomes(failed=1)
    assert log.read_text().split() == [machine.address]


def test_spread_command_runs_and_reports(pytester, machine):
    pytester.makefile(
        ".yaml", spread=spread_yaml(machine, project_extra="restore: rm -rf /srv/spread-p\n")
    )
    write_tasks(
        pytester,
        {
            "tests/ok": "summary: t\nexecute: echo fine\n",
            "tests/no": "summary: t\nexecute: exit 1\n",
        },
    )
    result = pytester.run(sys.executable, "-m", "pytest_spread")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "* Sequence of jobs produced with -seed=*",
            "* Project content is packed for delivery (*KB).",
            "* Allocating adhoc:ubuntu-24.04...",
            "* Connected to adhoc:ubuntu-24.04 at *.",
            "* Executing adhoc:ubuntu-24.04:tests/* (adhoc:ubuntu-24.04) (1/2)...",
            "* Executing adhoc:ubuntu-24.04:tests/* (adhoc:ubuntu-24.04) (2/2)...",
            "* Discarding adhoc:ubuntu-24.04...",
            "* Successful tasks: 1",
            "* Aborted tasks: 0",
            "* Failed tasks: 1",
            "    - adhoc:ubuntu-24.04:tests/no",
        ]
    )
    result.stdout.fnmatch_lines(
        ["* Error executing adhoc:ubuntu-24.04:tests/no (adhoc:ubuntu-24.04) : + exit 1"]
    )
    seed = result.stdout.str().split("-seed=")[1].split()[0]
    again = pytester.run(sys.executable, "-m", "pytest_spread", f"-seed={seed}")
    executed = [line.split()[3] for line in again.outlines if " Executing " in line]
    first = [line.split()[3] for line in result.outlines if " Executing " in line]
    assert executed == first  # the same seed gives the same order
    result.stderr.fnmatch_lines(["error: unsuccessful run"])


def test_project_content_is_delivered(pytester, machine, run):
    pytester.makefile(".yaml", spread=spread_yaml(machine, project_extra=("exclude: ['*.o']\n")))
    (pytester.path / "data.txt").write_text("payload\n")
    (pytester.path / "junk.o").write_text("object\n")
    write_tasks(
        pytester,
        {
            "tests/c": "summary: t\nexecute: |\n"
            "    test -f $SPREAD_PATH/data.txt\n"
            "    test ! -e $SPREAD_PATH/junk.o\n"
        },
    )
    run().assert_outcomes(passed=1)
    assert machine.path("/srv/spread-p/data.txt").read_text() == "payload\n"


def test_failed_project_prepare_aborts_the_machine(pytester, machine, run):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(
            machine,
            project_extra=f"prepare: exit 1\nrestore: {logged('project-restore')}\n",
            backend_extra=f"restore: {logged('backend-restore')}\n",
        ),
    )
    write_tasks(
        pytester,
        {f"tests/{name}": f"summary: t\nexecute: {logged(name)}\n" for name in ("a", "b", "c")},
    )
    result = run()
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(
        [
            "Successful tasks: 0",
            "Aborted tasks: 3",
            "Failed project prepare: 1",
            "    - adhoc:ubuntu-24.04:project",
        ]
    )
    # Spread: the project restore runs, the backend (never entered) does not.
    assert machine.path(ORDER_LOG).read_text().split() == ["project-restore"]


def test_failed_backend_prepare_still_restores_the_backend(pytester, machine, run):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(
            machine,
            project_extra=f"restore: {logged('project-restore')}\n",
            backend_extra=f"prepare: exit 1\nrestore: {logged('backend-restore')}\n",
        ),
    )
    write_tasks(pytester, {"tests/a": f"summary: t\nexecute: {logged('a')}\n"})
    result = run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["Aborted tasks: 1", "Failed backend prepare: 1", "    - adhoc:ubuntu-24.04:adhoc"]
    )
    assert machine.path(ORDER_LOG).read_text().split() == ["backend-restore", "project-restore"]


def test_suite_restore_on_suite_switch_failing_stops_the_machine(pytester, machine, run):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(
            machine, suites={"one/": "summary: s\nrestore: exit 1\n", "two/": "summary: s\n"}
        ),
    )
    write_tasks(
        pytester,
        {
            "one/a": f"summary: t\nexecute: {logged('a')}\n",
            "two/b": f"summary: t\nexecute: {logged('b')}\n",
        },
    )
    result = run()
    # b is aborted (setup error); Spread tries the failed suite restore once more when the
    # machine stops, which fails the run: b's teardown error.
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "Successful tasks: 1",
            "Aborted tasks: 1",
            "Failed suite restore: 2",
            "    - adhoc:ubuntu-24.04:one/",
            "    - adhoc:ubuntu-24.04:one/",
        ]
    )
    assert machine.path(ORDER_LOG).read_text().split() == ["a"]


def test_passing_jobs_keep_their_output(pytester, machine, run):
    from xml.etree import ElementTree

    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(pytester, {"tests/p": "summary: t\nexecute: echo passing-output\n"})
    xml = pytester.path / "junit.xml"
    result = run(f"--junitxml={xml}", "-o", "junit_logging=system-out", "-rP")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*Captured stdout call*", "+ echo passing-output", "passing-output"]
    )
    (case,) = ElementTree.parse(xml).iter("testcase")
    out = case.find("system-out")
    assert out is not None and "passing-output" in (out.text or "")

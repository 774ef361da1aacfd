"""Helpers, reboots, debug scripts, restore/abend modes, content and sudo on real machines."""

from __future__ import annotations

import shutil
import textwrap

import pytest

from .test_lifecycle import ORDER_LOG, logged, spread_yaml, write_tasks


def test_match_and_nomatch_messages(pytester, machine, run):
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/match": "summary: t\nexecute: |\n    printf 'foo\\nbar\\n' | MATCH baz\n",
            "tests/nomatch": (
                "summary: t\nexecute: |\n    printf 'foo\\nerror\\nbar\\n' | NOMATCH error\n"
            ),
            "tests/noargs": "summary: t\nexecute: echo x | MATCH\n",
        },
    )
    result = run()
    result.assert_outcomes(failed=3)
    # The two sides of a pipeline are traced in either order: match the rest.
    result.stdout.fnmatch_lines(
        ["*Error executing adhoc:ubuntu-24.04:tests/match (adhoc:ubuntu-24.04) : ", "-----"]
    )
    result.stdout.fnmatch_lines(["grep error: pattern not found, got:", "foo", "bar", "-----"])
    result.stdout.fnmatch_lines(
        ["NOMATCH pattern='error' found in:", "foo", "error", "bar", "-----"]
    )
    result.stdout.fnmatch_lines(["error: missing regexp argument"])


def test_reboot_chain(pytester, machine, run):
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/reboot": textwrap.dedent("""\
        summary: t
        execute: |
            echo "$SPREAD_REBOOT" >> /root/reboots.log
            case "$SPREAD_REBOOT" in
                0|1) REBOOT ;;
                2) REBOOT foo ;;
                foo) REBOOT bar ;;
            esac
    """)
        },
    )
    result = run("-o", "log_cli=true", "-o", "log_cli_level=INFO")
    result.assert_outcomes(passed=1)
    assert machine.path("/root/reboots.log").read_text().split() == ["0", "1", "2", "foo", "bar"]
    assert machine.boots == 5
    result.stdout.fnmatch_lines(
        ["*Rebooting on adhoc:ubuntu-24.04 (adhoc:ubuntu-24.04:tests/reboot) as requested...*"]
    )


def test_more_than_ten_reboots_fail(pytester, machine, run):
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(pytester, {"tests/loop": "summary: t\nexecute: REBOOT\n"})
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*rebooted on adhoc:ubuntu-24.04 (adhoc:ubuntu-24.04:tests/loop) more than 10 times*"]
    )


def test_debug_scripts_run_after_a_failure(pytester, machine, run):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(machine, project_extra=("debug-each: echo project debug-each\n")),
    )
    write_tasks(pytester, {"tests/d": "summary: t\nexecute: exit 1\ndebug: echo task debug\n"})
    result = run("-o", "log_cli=true", "-o", "log_cli_level=INFO")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Debug output for adhoc:ubuntu-24.04:tests/d (adhoc:ubuntu-24.04) : ",
            "-----",
            "+ echo task debug",
            "task debug",
            "+ echo project debug-each",
            "project debug-each",
            "-----",
        ]
    )


def test_restore_mode_runs_only_restores(pytester, machine, run):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(
            machine,
            project_extra=(
                f"prepare: {logged('project-prepare')}\nrestore: {logged('project-restore')}\n"
            ),
        ),
    )
    write_tasks(
        pytester,
        {
            "tests/r": f"summary: t\nprepare: {logged('prepare')}\n"
            f"execute: {logged('execute')}\n"
            f"restore: {logged('restore')}\n"
        },
    )
    result = run("--spread-restore")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["Successful tasks: 0", "Aborted tasks: 0"])
    assert machine.path(ORDER_LOG).read_text().split() == ["restore", "project-restore"]


def test_abend_stops_without_restoring(pytester, machine, run):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(machine, project_extra=(f"restore: {logged('project-restore')}\n")),
    )
    write_tasks(
        pytester,
        {
            name: f"summary: t\nexecute: exit 1\nrestore: {logged(name)}\n"
            for name in ("tests/a", "tests/b")
        },
    )
    result = run("--spread-abend")
    result.assert_outcomes(failed=1, errors=1)
    assert not machine.path(ORDER_LOG).exists()


NEEDS_SUDO = pytest.mark.skipif(
    shutil.which("sudo") is None,
    reason="the machines are this computer's root filesystem, which has no sudo to run",
)


def sudo_user_machine(pytester, machine_factory):
    """A machine whose login is the sudo user `ubuntu`, and the project naming it."""
    machine = machine_factory(user="ubuntu", user_password="ubuntu-pw")
    text = spread_yaml(machine).replace(
        f"                password: {machine.password}\n",
        "                username: ubuntu\n                password: ubuntu-pw\n",
    )
    pytester.makefile(".yaml", spread=text)
    return machine


@NEEDS_SUDO
def test_sudo_user_runs_scripts_as_root(pytester, machine_factory, run):
    machine = sudo_user_machine(pytester, machine_factory)
    write_tasks(
        pytester,
        {
            "tests/who": "summary: t\nexecute: |\n"
            '    test "$(id -u)" = 0\n'
            '    test -z "${SUDO_USER:-}"\n'
            "    touch /root/as-root\n"
        },
    )
    run().assert_outcomes(passed=1)
    assert machine.path("/root/as-root").exists()


@NEEDS_SUDO
def test_sudo_user_script_past_its_kill_timeout_is_stopped(pytester, machine_factory, run):
    sudo_user_machine(pytester, machine_factory)
    write_tasks(
        pytester,
        {
            "tests/slow": "summary: t\nkill-timeout: 1s\n"
            "execute: |\n    sleep 300 &\n    sleep 301\n"
            "restore: |\n    pgrep -a sleep && exit 1 || true\n"
        },
    )
    result = run()
    result.assert_outcomes(failed=1)  # the execute; the restore found no sleep left
    result.stdout.fnmatch_lines(["*<kill-timeout reached>*"])


def test_include_rename_and_repack(pytester, machine, run):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(
            machine,
            project_extra=textwrap.dedent("""\
        include: [tests, data]
        rename: ['s,^data,renamed,']
        repack: |
            echo "$SPREAD_BACKENDS" > backends.txt
            cat <&3 >&4
        """),
        ),
    )
    (pytester.path / "data").mkdir()
    (pytester.path / "data" / "file.txt").write_text("content\n")
    (pytester.path / "left-out.txt").write_text("not included\n")
    write_tasks(
        pytester,
        {
            "tests/c": "summary: t\nexecute: |\n"
            "    test -f $SPREAD_PATH/renamed/file.txt\n"
            "    test ! -e $SPREAD_PATH/left-out.txt\n"
            '    test -z "${SPREAD_BACKENDS:-}"\n'
        },
    )
    run().assert_outcomes(passed=1)
    assert (pytester.path / "backends.txt").read_text() == "adhoc\n"


def test_failing_repack_is_a_clear_error(pytester, machine, run):
    pytester.makefile(
        ".yaml",
        spread=spread_yaml(
            machine, project_extra=("repack: |\n    echo cannot repack\n    exit 4\n")
        ),
    )
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: true\n"})
    result = run()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*cannot pack project tree: *", "*cannot repack*"])
    assert "Traceback" not in result.stdout.str()

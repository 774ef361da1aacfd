"""Sessions started ahead on real machines: faster, and no script can tell (docs/benchmarks.md)."""

from __future__ import annotations

import pytest

from pytest_spread.transport import scripts
from pytest_spread.transport.ssh import Connection

from .test_lifecycle import spread_yaml, write_tasks

BASH = scripts.remote_command(trace=False, sudo_user=False)
# How long ago this session's shell started, in 1/100 s (the login shell execs it).
AGE = (
    b"read -r -a s < /proc/$$/stat; read -r up _ < /proc/uptime; echo $(( ${up/./} - ${s[21]} ))\n"
)


def age(connection: Connection) -> int:
    return int(connection.run(BASH, AGE).output)


@pytest.fixture
def connection(machine):
    connection = Connection.open(machine.address, "root", machine.password)
    yield connection
    connection.close()


def test_the_next_session_starts_while_a_script_runs(connection):
    connection.run(BASH, b"sleep 1\n", ahead=True, early=True)
    assert age(connection) >= 80


def test_without_early_the_next_session_starts_when_the_script_ends(connection):
    connection.run(BASH, b"sleep 1\n", ahead=True)
    assert age(connection) < 80


def test_a_killed_script_leaves_no_session_ahead(connection):
    # exec: what is killed is no shell (the sandbox's `sshd -i` cannot send signals)
    result = connection.run(BASH, b"exec sleep 30\n", ahead=True, early=True, kill_after=1)
    assert result.killed
    assert age(connection) < 80


def test_a_session_started_before_a_login_file_changed_says_so(connection, machine):
    program = scripts.STALE_CHECK.encode() + b"echo ran\n"
    assert connection.run(BASH, program, ahead=True, early=True).output == b"ran\n"
    other = Connection.open(machine.address, "root", machine.password)  # keeps the spare
    other.run("sleep 0.05; echo 'export FROM_BASHRC=yes' >> ~/.bashrc")
    other.close()
    stale = connection.run(BASH, program, ahead=True, early=True)
    assert scripts.stale_session(stale.output, stale.status)
    fresh = connection.run(BASH, b"echo $FROM_BASHRC\n", fresh=True)  # as execute.py does
    assert fresh.output == b"yes\n"


def test_the_next_script_sees_the_login_files_the_previous_one_changed(pytester, machine, run):
    """Spread opens each script's session when it runs: an export a prepare adds to
    root's bashrc (read by Debian's bash under sshd) reaches the execute."""
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/t": (
                "summary: t\n"
                "prepare: |\n"
                "    sleep 0.3\n"
                "    echo 'export FROM_BASHRC=yes' >> /root/.bashrc\n"
                'execute: test "${FROM_BASHRC:-}" = yes\n'
            )
        },
    )
    result = run()
    result.assert_outcomes(passed=1)


def test_a_script_with_a_syntax_error_runs_nothing(pytester, machine, run):
    """The script is parsed whole before it starts, as in Spread's subshell."""
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(pytester, {"tests/t": "summary: t\nexecute: |\n    touch /root/ran\n    if then\n"})
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*syntax error near unexpected token*"])
    assert not machine.path("/root/ran").exists()


def test_a_script_reading_stdin_gets_nothing_and_the_program_goes_on(pytester, machine, run):
    pytester.makefile(".yaml", spread=spread_yaml(machine))
    write_tasks(
        pytester,
        {
            "tests/t": (
                "summary: t\nexecute: |\n"
                '    test -z "$(cat)"\n'
                '    echo "$SPREAD_REBOOT" > /root/went-on\n'
            )
        },
    )
    result = run()
    result.assert_outcomes(passed=1)
    assert machine.path("/root/went-on").read_text() == "0\n"

"""Spread's script text: exports, wrappers, markers, error framing and late warnings."""

from __future__ import annotations

import subprocess

import pytest

from pytest_spread.run import scripts


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        ("FOO", "010", 'export FOO="010"\n'),
        ("EMPTY", "", "export EMPTY=\n"),
        ("Q", '"already quoted"', 'export Q="already quoted"\n'),
        ("S", "'single'", "export S='single'\n"),
        ("REF", "$HOME/x", 'export REF="$HOME/x"\n'),
    ],
)
def test_export_line(key, value, line):
    assert scripts.export_line(key, value) == line


def run_local(program: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/bash", "-"], input=program, capture_output=True, text=True, check=False
    )


def test_remote_script_exports_in_order_and_traces_only_the_script():
    program = scripts.remote_script(
        'echo "$A $B"',
        env=[("A", "one"), ("B", "$A-two")],
        directory="/",
        trace=True,
        sudo_user=False,
        reboot_key="0",
    )
    assert (
        program.index("export A=")
        < program.index("export B=")
        < program.index("export SPREAD_REBOOT=")
    )
    done = run_local(program.replace("set -x\n", "exec 2>&1\nset -x\n"))
    assert done.stdout.splitlines() == ["+ echo 'one one-two'", "one one-two"]


def test_undefined_variable_fails_and_stdin_is_not_eaten():
    assert (
        run_local(
            scripts.remote_script(
                "echo $NOPE", env=[], directory=None, trace=False, sudo_user=False, reboot_key="0"
            )
        ).returncode
        != 0
    )
    done = run_local(
        scripts.remote_script(
            "cat; echo after", env=[], directory=None, trace=False, sudo_user=False, reboot_key="0"
        )
    )
    assert done.stdout == "after\n"


def test_sudo_mode_unsets_sudo_variables():
    program = scripts.remote_script(
        "true", env=[], directory=None, trace=False, sudo_user=True, reboot_key="0"
    )
    assert "unset SUDO_COMMAND\nunset SUDO_USER\nunset SUDO_UID\nunset SUDO_GID\n" in program
    assert scripts.remote_command(trace=False, sudo_user=True) == "sudo -i /bin/bash -"
    assert scripts.remote_command(trace=True, sudo_user=False) == "/bin/bash - 2>&1"


@pytest.mark.parametrize(
    ("script", "status", "marker"),
    [
        ("REBOOT", 213, scripts.Marker("REBOOT", "")),
        ("REBOOT foo", 213, scripts.Marker("REBOOT", "foo")),
        ("ERROR bad thing", 213, scripts.Marker("ERROR", "bad thing")),
        ("echo '<ERROR fake>'; exit 213", 213, scripts.Marker("ERROR", "fake")),
        ("echo '<ERROR fake>'; exit 1", 1, None),
        ("exit 213", 213, None),
    ],
)
def test_helpers_and_markers(script, status, marker):
    done = run_local(
        scripts.remote_script(
            script, env=[], directory=None, trace=False, sudo_user=False, reboot_key="0"
        )
    )
    assert done.returncode == status
    assert scripts.find_marker(done.stdout, done.returncode) == marker


def test_local_helpers():
    done = run_local(
        scripts.local_script("ADDRESS 10.1.1.1:2222\nFATAL no way", env=[], trace=False)
    )
    assert scripts.find_address(done.stdout) == "10.1.1.1:2222"
    assert scripts.find_marker(done.stdout, done.returncode) == scripts.Marker("FATAL", "no way")


def test_composite_stops_at_the_first_failing_part(tmp_path):
    marker = tmp_path / "x"
    program = scripts.remote_script(
        scripts.composite(["exit 1", "", f"touch {marker}"]),
        env=[],
        directory=None,
        trace=False,
        sudo_user=False,
        reboot_key="0",
    )
    assert run_local(program).returncode == 1
    assert not marker.exists()
    assert scripts.composite(["a", " ", "b"]) == "(\na\n)\n\n(\nb\n)"


@pytest.mark.parametrize(
    ("output", "text"),
    [
        ("", "exit status 1"),
        ("  one line \n", "one line"),
        ("a\nb\n", "\n-----\na\nb\n-----"),
    ],
)
def test_output_error(output, text):
    assert scripts.output_error(output, "exit status 1") == text


def test_clean_output_drops_tty_noise():
    assert scripts.clean_output(scripts.TTY_NOISE + "\nreal\n") == "real"


def test_late_output_messages_scenario_50():
    late = scripts.LateOutput()
    assert late.message("") == "Output still empty."
    lines = [f"line {n}" for n in range(1, 21)]
    output = "\n".join(lines) + "\n"
    first = late.message(output)
    assert first == (
        "Current output:\n-----\n(... 9 lines above ...)\n" + "\n".join(lines[10:]) + "\n-----"
    )
    assert late.message(output) == "Output unchanged."
    assert late.message(output + "line 21\n") == "Current output:\n-----\n(...)\nline 21\n-----"


def test_late_output_continues_a_partial_line():
    late = scripts.LateOutput()
    late.message("first line\npartial")
    assert late.message("first line\npartial and more\n") == (
        "Current output:\n-----\n(...)\npartial and more\n-----"
    )


def test_redact_exports():
    program = 'export A="secret"\nexport B=\necho keep\n'
    assert scripts.redact_exports(program) == "export A=<hidden>\nexport B=\necho keep\n"

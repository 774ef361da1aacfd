"""Spread's bash programs, checked as text and by running them with the local bash.

The remote programs run as sshd would run them, `bash -c "<remote_command>"` with the
program on stdin; the local ones with `LOCAL_COMMAND`, stderr merged (spec §4.10).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_spread.transport import scripts
from pytest_spread.transport.scripts import Marker

HOME = "/home/tester"
BASE_ENV = {"HOME": HOME, "PATH": "/usr/bin:/bin", "LC_ALL": "C"}

REBOOT_TEXT = (
    "REBOOT() { { set +xu; } 2> /dev/null; "
    """[ -z "$1" ] && echo '<REBOOT>' || echo "<REBOOT $1>"; exit 213; }\n"""
)
ERROR_TEXT = (
    "ERROR() { { set +xu; } 2> /dev/null; "
    """[ -z "$1" ] && echo '<ERROR>' || echo "<ERROR $@>"; exit 213; }\n"""
)
MATCH_TEXT = (
    "MATCH() ( { set +xu; } 2> /dev/null; "
    '[ ${#@} -gt 0 ] || { echo "error: missing regexp argument"; return 1; }; '
    'local stdin="$(cat)"; grep -q -E "$@" <<< "$stdin" || { res=$?; '
    'echo "grep error: pattern not found, got:\n'
    '$stdin">&2; if [ $res != 1 ]; then echo "unexpected grep exit status: $res"; fi; '
    "return 1; }; )\n"
)
NOMATCH_TEXT = (
    "NOMATCH() ( { set +xu; } 2> /dev/null; "
    '[ ${#@} -gt 0 ] || { echo "error: missing regexp argument"; return 1; }; '
    'local stdin="$(cat)"; if echo "$stdin" | grep -q -E "$@"; then '
    "echo \"NOMATCH pattern='$@' found in:\n"
    '$stdin">&2; return 1; fi; )\n'
)
FIXED_TEXT = (
    "export DEBIAN_FRONTEND=noninteractive\n"
    "export DEBIAN_PRIORITY=critical\n"
    "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin\n"
)
SUDO_TEXT = "unset SUDO_COMMAND\nunset SUDO_USER\nunset SUDO_UID\nunset SUDO_GID\n"


@dataclass
class Ran:
    status: int
    stdout: str
    stderr: str

    @property
    def marker(self) -> Marker | None:
        return scripts.find_marker(self.stdout, self.status)


def bash(command: Sequence[str], program: str, cwd: Path | None = None) -> Ran:
    done = subprocess.run(
        list(command),
        input=program,
        capture_output=True,
        text=True,
        check=False,
        env=BASE_ENV,
        cwd=cwd,
        timeout=30,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def remote(
    script: str,
    env: Sequence[tuple[str, str]] = (),
    *,
    trace: bool = False,
    directory: str | None = None,
    reboot_key: str = "0",
) -> Ran:
    program = scripts.remote_script(
        script, env=env, directory=directory, trace=trace, sudo_user=False, reboot_key=reboot_key
    )
    return bash(["/bin/bash", "-c", scripts.remote_command(trace, sudo_user=False)], program)


def local(script: str, env: Sequence[tuple[str, str]] = (), *, trace: bool = False) -> Ran:
    program = scripts.local_script(script, env=env, trace=trace)
    done = subprocess.run(
        scripts.LOCAL_COMMAND,
        input=program,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        env=BASE_ENV,
        timeout=30,
    )
    return Ran(done.returncode, done.stdout, "")


# -- text -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "line"),
    [
        ("FOO", "010", 'export FOO="010"'),
        ("EMPTY", "", "export EMPTY="),
        ("Q", '"already quoted"', 'export Q="already quoted"'),
        ("S", "'single $HOME'", "export S='single $HOME'"),
        ("REF", "$HOME/x", 'export REF="$HOME/x"'),
        ("INNER", 'a "b" c', 'export INNER="a "b" c"'),  # no escaping at all
        ("SPACE", ' "late quote"', 'export SPACE=" "late quote""'),
    ],
)
def test_export_line(key, value, line):
    assert scripts.export_line(key, value) == line


def test_fixed_exports():
    assert scripts.FIXED_EXPORTS == (
        ("DEBIAN_FRONTEND", "noninteractive"),
        ("DEBIAN_PRIORITY", "critical"),
        ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"),
    )


def test_remote_wrapper_text():
    program = scripts.remote_script(
        "\n  echo hi\n\n",
        env=[("A", "1"), ("SPREAD_REBOOT", "stale"), ("B", ""), ("C", "'q'")],
        directory="/r/tests/t",
        trace=True,
        sudo_user=True,
        reboot_key="0",
    )
    assert program == (
        "set -eu\n"
        'cd "/r/tests/t"\n'
        + SUDO_TEXT
        + REBOOT_TEXT
        + ERROR_TEXT
        + MATCH_TEXT
        + NOMATCH_TEXT
        + FIXED_TEXT
        + 'export A="1"\nexport B=\nexport C=\'q\'\nexport SPREAD_REBOOT="0"\n'
        "set -x\n"
        "\n{\necho hi\n\n} < /dev/null\n"  # Spread's subshell, as a group
    )


def test_remote_wrapper_without_directory_sudo_or_trace():
    program = scripts.remote_script(
        "true", env=[], directory=None, trace=False, sudo_user=False, reboot_key="foo"
    )
    assert program == (
        "set -eu\n"
        + REBOOT_TEXT
        + ERROR_TEXT
        + MATCH_TEXT
        + NOMATCH_TEXT
        + FIXED_TEXT
        + 'export SPREAD_REBOOT="foo"\n'
        + "\n{\ntrue\n\n} < /dev/null\n"
    )


@pytest.mark.parametrize(
    ("trace", "sudo_user", "command"),
    [
        (True, False, "exec /bin/bash - 2>&1"),
        (False, False, "exec /bin/bash -"),
        (True, True, "exec sudo -i /bin/bash - 2>&1"),
        (False, True, "exec sudo -i /bin/bash -"),
    ],
)
def test_remote_command(trace, sudo_user, command):
    assert scripts.remote_command(trace, sudo_user) == command


def test_local_wrapper_text():
    program = scripts.local_script("echo hi", env=[("A", "x")], trace=True)
    assert program == (
        "set -eu\n"
        "ADDRESS() { { set +xu; } 2> /dev/null; "
        """[ -z "$1" ] && echo '<ADDRESS>' || echo "<ADDRESS $1>"; }\n"""
        "FATAL() { { set +xu; } 2> /dev/null; "
        """[ -z "$1" ] && echo '<FATAL>' || echo "<FATAL $@>"; exit 213; }\n"""
        + ERROR_TEXT
        + "MATCH() { { set +xu; } 2> /dev/null; local stdin=$(cat); "
        'echo $stdin | grep -q -E "$@" || '
        '{ echo "error: pattern not found on stdin:\\n$stdin">&2; return 1; }; }\n'
        "NOMATCH() { { set +xu; } 2> /dev/null; local stdin=$(cat); "
        'if echo $stdin | grep -q -E "$@"; then echo "NOMATCH pattern=\'$@\' found in:\n'
        '$stdin">&2; return 1; fi }\n' + FIXED_TEXT + 'export A="x"\n'
        "set -x\n"
        "\n(\necho hi\n\n) < /dev/null\n"
    )
    assert scripts.LOCAL_COMMAND == ["/bin/bash", "-eu", "-"]


def rc(text: str) -> str:
    return f"cat >> /root/.bashrc <<'END'\n{text}END\n"


def test_shell_wrapper_text():
    env = [("SPREAD_PATH", "/r"), ("X", "1"), ("SPREAD_BACKEND", "lxd"), ("PS1", "old")]
    program = scripts.remote_shell_script(env=env, directory="/r/tests/t", sudo_user=True)
    assert program == (
        "set -eu\n"
        "true > /root/.bashrc\n"
        'cd "/r/tests/t"\n'
        + SUDO_TEXT
        + rc(MATCH_TEXT)
        + rc(NOMATCH_TEXT)
        + FIXED_TEXT
        + rc('export SPREAD_PATH="/r"\n')
        + 'export X="1"\n'
        + rc('export SPREAD_BACKEND="lxd"\n')
        + rc(r'export PS1="\$SPREAD_BACKEND:\$SPREAD_SYSTEM \${PWD/#\$SPREAD_PATH/...}# "' "\n")
        + 'export SPREAD_REBOOT="0"\n'
        + "\n/bin/bash\n"
    )
    assert scripts.remote_shell_command("P", sudo_user=True) == (
        "{\nf=$(mktemp)\ntrap 'rm '$f EXIT\ncat > $f <<'SCRIPT_END'\nP\nSCRIPT_END\n"
        "sudo -i /bin/bash $f\n}"
    )


def run_shell_program(tmp_path: Path, env, then: str) -> Ran:
    """The shell program with its bashrc moved into tmp_path and `then` for the shell."""
    bashrc = tmp_path / "bashrc"
    program = scripts.remote_shell_script(env=env, directory=str(tmp_path), sudo_user=False)
    program = program.replace("/root/.bashrc", str(bashrc))
    program = program.replace("\n/bin/bash\n", f"\nsource {bashrc}\n{then}\n")
    assert "/root" not in program
    return bash(["/bin/bash", "-"], program)


def test_shell_program_puts_helpers_and_prompt_in_the_bashrc(tmp_path):
    env = [("SPREAD_PATH", "/r"), ("SPREAD_BACKEND", "lxd"), ("SPREAD_SYSTEM", "ubu"), ("X", "1")]
    done = run_shell_program(
        tmp_path,
        env,
        'echo "$PS1"; echo "$SPREAD_BACKEND $X $SPREAD_REBOOT"; echo a | MATCH a && echo ok\n'
        "type REBOOT >/dev/null 2>&1 || echo no REBOOT",
    )
    assert (done.status, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "$SPREAD_BACKEND:$SPREAD_SYSTEM ${PWD/#$SPREAD_PATH/...}# ",
        "lxd 1 0",
        "ok",
        "no REBOOT",
    ]


def test_shell_program_cannot_reference_variables_kept_for_the_bashrc(tmp_path):
    """Upstream quirk: SPREAD_PATH is only in the bashrc, so `$SPREAD_PATH` in an
    export of the shell program itself is unbound."""
    done = run_shell_program(tmp_path, [("SPREAD_PATH", "/r"), ("Y", "$SPREAD_PATH/y")], "true")
    assert done.status == 1
    assert "SPREAD_PATH: unbound variable" in done.stderr


def test_redact_exports():
    program = 'export A="secret"\nexport B=\necho keep\n'
    assert scripts.redact_exports(program) == "export A=<hidden>\nexport B=\necho keep\n"


# -- remote programs at work ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "script", "stdout"),
    [
        ([("FOO", "010")], 'echo "$FOO"', "010"),
        ([("H", "$HOME/x")], 'echo "$H"', f"{HOME}/x"),
        ([("E", "")], 'echo "[$E]"', "[]"),
        ([("S", "'$HOME'")], 'echo "$S"', "$HOME"),
        ([("D", '"$HOME"')], 'echo "$D"', HOME),
        ([("C", "$(echo sub)")], 'echo "$C"', "sub"),
        ([("A", "one"), ("B", "$A-two")], 'echo "$B"', "one-two"),
        (
            [("PATH", "/x:$PATH")],
            'echo "$PATH"',
            "/x:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin",
        ),
        ([], 'echo "$DEBIAN_FRONTEND $DEBIAN_PRIORITY"', "noninteractive critical"),
        ([], 'echo "$SPREAD_REBOOT"', "key"),
        ([("SPREAD_REBOOT", "$UNDEFINED")], 'echo "$SPREAD_REBOOT"', "key"),
    ],
)
def test_environment(env, script, stdout):
    done = remote(script, env, reboot_key="key")
    assert (done.status, done.stdout, done.stderr) == (0, stdout + "\n", "")


@pytest.mark.parametrize(
    ("env", "script", "error"),
    [
        ([], "echo $NOPE", "NOPE: unbound variable"),
        ([("A", "$B"), ("B", "1")], "true", "B: unbound variable"),
        ([("A", "$SPREAD_REBOOT")], "true", "SPREAD_REBOOT: unbound variable"),
        ([], "false\necho never", ""),
    ],
)
def test_failures(env, script, error):
    done = remote(script, env)
    assert (done.status, done.stdout) == (1, "")
    assert error in done.stderr


def test_directory(tmp_path):
    assert remote("pwd", directory=str(tmp_path)).stdout == f"{tmp_path}\n"
    done = remote("echo never", directory=str(tmp_path / "missing"))
    assert (done.status, done.stdout) == (1, "")
    assert "No such file or directory" in done.stderr


def test_trace_shows_the_script_but_not_the_exports():
    done = remote("echo hi", [("SECRET", "s3cret")], trace=True)
    assert (done.status, done.stdout, done.stderr) == (0, "+ echo hi\nhi\n", "")


def test_helpers_do_not_trace_and_tracing_resumes_after_match():
    done = remote("MATCH a <<< a\nERROR boom", trace=True)
    assert (done.status, done.stdout) == (213, "+ MATCH a\n+ ERROR boom\n<ERROR boom>\n")


def test_set_u_resumes_after_match():
    done = remote("echo a | MATCH a\necho $NOPE")
    assert done.status == 1
    assert "NOPE: unbound variable" in done.stderr


def test_the_script_cannot_read_the_rest_of_the_program():
    done = remote('cat; read -r line || true; echo "after [${line:-}]"')
    assert (done.status, done.stdout) == (0, "after []\n")


def test_the_script_runs_in_a_subshell():
    done = remote("exit 7")
    assert done.status == 7


@pytest.mark.parametrize(
    ("script", "status", "stdout", "stderr", "marker"),
    [
        ("REBOOT", 213, "<REBOOT>\n", "", Marker("REBOOT", "")),
        ("REBOOT foo", 213, "<REBOOT foo>\n", "", Marker("REBOOT", "foo")),
        ('REBOOT "a b" c', 213, "<REBOOT a b>\n", "", Marker("REBOOT", "a b")),
        ("echo x\nREBOOT\necho after", 213, "x\n<REBOOT>\n", "", Marker("REBOOT", "")),
        ("ERROR", 213, "<ERROR>\n", "", Marker("ERROR", "")),
        ('ERROR "bad thing"', 213, "<ERROR bad thing>\n", "", Marker("ERROR", "bad thing")),
        ("ERROR bad   thing", 213, "<ERROR bad thing>\n", "", Marker("ERROR", "bad thing")),
        ('ERROR "" hidden', 213, "<ERROR>\n", "", Marker("ERROR", "")),
        ("echo '<ERROR fake>'; exit 213", 213, "<ERROR fake>\n", "", Marker("ERROR", "fake")),
        ("echo '<ERROR fake>'; exit 1", 1, "<ERROR fake>\n", "", None),
        ("exit 213", 213, "", "", None),
        # spec §16 scenario 37
        ('echo foo | MATCH "(foo|bar)"\necho ok', 0, "ok\n", "", None),
        (
            r'echo -e "foo\nbar" | MATCH baz' "\necho never",
            1,
            "",
            "grep error: pattern not found, got:\nfoo\nbar\n",
            None,
        ),
        ("echo foo | MATCH", 1, "error: missing regexp argument\n", "", None),
        ("echo FOO | MATCH -i foo\necho ok", 0, "ok\n", "", None),
        ('printf "a\\n\\n\\n" | MATCH b', 1, "", "grep error: pattern not found, got:\na\n", None),
        # spec §16 scenario 38
        (
            r'echo -e "foo\nerror\nbar" | NOMATCH error' "\necho never",
            1,
            "",
            "NOMATCH pattern='error' found in:\nfoo\nerror\nbar\n",
            None,
        ),
        ("echo foo | NOMATCH error\necho ok", 0, "ok\n", "", None),
        ("echo foo | NOMATCH", 1, "error: missing regexp argument\n", "", None),
        ("echo ERR | NOMATCH -i err", 1, "", "NOMATCH pattern='-i err' found in:\nERR\n", None),
    ],
)
def test_remote_helpers(script, status, stdout, stderr, marker):
    done = remote(script)
    assert (done.status, done.stdout, done.stderr) == (status, stdout, stderr)
    assert done.marker == marker


def test_match_reports_an_unexpected_grep_status():
    done = remote('echo foo | MATCH "("')
    assert (done.status, done.stdout) == (1, "unexpected grep exit status: 2\n")
    assert done.stderr.endswith("grep error: pattern not found, got:\nfoo\n")


# -- composite scripts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "text"),
    [
        (["echo P", "", "  \n", "echo B\n"], "(\necho P\n)\n\n(\necho B\n)"),
        (["", ""], ""),
        (["a\nb"], "(\na\nb\n)"),
    ],
)
def test_composite_text(parts, text):
    assert scripts.composite(parts) == text


def test_composite_runs_parts_in_order():
    done = remote(scripts.composite(["echo P", "echo B", "echo S", "echo T"]))
    assert (done.status, done.stdout) == (0, "P\nB\nS\nT\n")


def test_composite_stops_at_the_first_failing_part(tmp_path):
    """Spec §16 scenario 46: a failing task restore skips the `restore-each` parts."""
    marker = tmp_path / "x"
    done = remote(scripts.composite(["echo R; exit 1", f"touch {marker}"]))
    assert (done.status, done.stdout) == (1, "R\n")
    assert not marker.exists()


def test_composite_parts_do_not_leak(tmp_path):
    script = scripts.composite(["cd /; X=1", 'pwd; echo "${X:-unset}"'])
    done = remote(script, directory=str(tmp_path))
    assert done.stdout == f"{tmp_path}\nunset\n"


# -- local programs at work -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("script", "status", "output", "marker"),
    [
        ("ADDRESS 10.1.1.1:2222\necho next", 0, "<ADDRESS 10.1.1.1:2222>\nnext\n", None),
        ("ADDRESS", 0, "<ADDRESS>\n", None),
        ("FATAL no   way", 213, "<FATAL no way>\n", Marker("FATAL", "no way")),
        ("ERROR oops", 213, "<ERROR oops>\n", Marker("ERROR", "oops")),
        ("echo foo | MATCH bar", 1, "error: pattern not found on stdin:\\nfoo\n", None),
        ('printf "a\\n  b\\n" | MATCH "^a b$"\necho ok', 0, "ok\n", None),
        ("echo error | NOMATCH err", 1, "NOMATCH pattern='err' found in:\nerror\n", None),
        ('printf "x  y\\n" | NOMATCH "x  y"\necho ok', 0, "ok\n", None),  # whitespace collapsed
        ('echo "$DEBIAN_FRONTEND"', 0, "noninteractive\n", None),
        ("echo $NOPE", 1, None, None),
    ],
)
def test_local_helpers(script, status, output, marker):
    done = local(script)
    assert done.status == status
    if output is not None:
        assert done.stdout == output
    assert done.marker == marker


def test_local_helpers_leave_trace_and_set_u_off():
    """The local helpers have `{ }` bodies: after ADDRESS, -x and -u stay disabled."""
    done = local("ADDRESS a\necho $NOPE\necho done", trace=True)
    assert (done.status, done.stdout) == (0, "+ ADDRESS a\n<ADDRESS a>\n\ndone\n")
    assert scripts.find_address(done.stdout) == "a"


def test_local_environment():
    done = local('echo "$A $B"', [("A", "$HOME"), ("B", "")])
    assert (done.status, done.stdout) == (0, f"{HOME} \n")


# -- reading output ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "status", "marker"),
    [
        ("<REBOOT>\n", 213, Marker("REBOOT", "")),
        ("out\n<REBOOT key>\n\n", 213, Marker("REBOOT", "key")),
        ("  <ERROR x>  ", 213, Marker("ERROR", "x")),
        ("<ERROR x>\r\n", 213, Marker("ERROR", "x")),
        ("<ERROR a> b>", 213, Marker("ERROR", "a> b")),
        ("<ERROR  x>", 213, Marker("ERROR", " x")),
        ("<MY_MARK arg>", 213, Marker("MY_MARK", "arg")),
        ("<ERROR x>", 1, None),
        ("<ERROR x>", 0, None),
        ("<ERROR x>\nmore", 213, None),
        ("<error x>", 213, None),
        ("<ERROR>x", 213, None),
        ("prefix <ERROR x>", 213, None),
        ("<ERROR9 x>", 213, None),
        ("", 213, None),
    ],
)
def test_find_marker(output, status, marker):
    assert scripts.find_marker(output, status) == marker


@pytest.mark.parametrize(
    ("output", "address"),
    [
        ("+ ADDRESS 10.0.0.1\n<ADDRESS 10.0.0.1>\n", "10.0.0.1"),
        ("   <ADDRESS 10.0.0.1:22>  \nmore output\n", "10.0.0.1:22"),
        ("<ADDRESS a>\n<ADDRESS b>", "b"),
        ("<ADDRESS a>\n<ADDRESS>", ""),
        ("<ADDRESS>", ""),
        ("<ADDRESS a b>", "a b"),
        ("ADDRESS=10.0.0.1", None),
        ("no markers", None),
        ("", None),
    ],
)
def test_find_address(output, address):
    assert scripts.find_address(output) == address


def test_find_markers():
    output = "+ x\n<ADDRESS x>\n<FATAL no way>\n<ERROR>\n"
    assert scripts.find_markers(output) == {"ADDRESS": "x", "FATAL": "no way", "ERROR": ""}


@pytest.mark.parametrize(
    ("output", "text"),
    [
        ("", "exit status 1"),
        (" \n\t", "exit status 1"),
        ("  one line \n", "one line"),
        ("a\nb\n", "\n-----\na\nb\n-----"),
        ("\n\na\n\n  b  \n", "\n-----\na\n\n  b\n-----"),
    ],
)
def test_output_error(output, text):
    assert scripts.output_error(output, "exit status 1") == text


@pytest.mark.parametrize(
    ("output", "clean"),
    [
        (scripts.TTY_NOISE + "\nreal\n", "real"),
        (scripts.TTY_NOISE, ""),
        (scripts.TTY_NOISE + scripts.TTY_NOISE, scripts.TTY_NOISE),
        (" " + scripts.TTY_NOISE + "\nx", scripts.TTY_NOISE + "\nx"),  # only at the very start
        ("x\n" + scripts.TTY_NOISE, "x\n" + scripts.TTY_NOISE),
        ("\u00a0x\u3000\n", "x"),  # Go trims Unicode spaces...
        ("\x1cx\x1c", "\x1cx\x1c"),  # ...but not the separators Python's strip() removes
    ],
)
def test_clean_output(output, clean):
    assert scripts.clean_output(output) == clean


# -- late warnings ----------------------------------------------------------------------------


def lines(first: int, last: int) -> str:
    return "".join(f"line {n}\n" for n in range(first, last + 1))


def framed(text: str) -> str:
    return f"Current output:\n-----\n{text}\n-----"


def test_late_output_scenario_50():
    output = lines(1, 20)
    late = scripts.LateOutput()
    assert late.message(output) == framed("(... 9 lines above ...)\n" + lines(11, 20).strip())
    assert late.message(output) == "Output unchanged."
    assert late.message(output) == "Output unchanged."


def test_late_output_silent():
    late = scripts.LateOutput()
    assert late.message("") == "Output still empty."
    assert late.message(" \n") == "Output still empty."
    assert late.warning("lxd:ubuntu (tests/x)", "") == (
        "WARNING: lxd:ubuntu (tests/x) running late. Output still empty."
    )


@pytest.mark.parametrize(
    ("ticks", "messages"),
    [
        (["one\ntwo\n", "one\ntwo\nthree\n"], ["one\ntwo", "(...)\nthree"]),
        # a partial line is shown again, from its start, at every tick
        (
            ["first\npartial", "first\npartial", "first\npartial done\n"],
            ["first\npartial", "(...)\npartial", "(...)\npartial done"],
        ),
        # the first line never counts as shown when its newline is at index 0 or 1
        (["a\n", "a\nb\n"], ["a", "a\nb"]),
        (["ab\n", "ab\nc\n"], ["ab", "(...)\nc"]),
        # the continuation marker counts as a line for the tail
        (
            [lines(1, 20), lines(1, 35)],
            [
                "(... 9 lines above ...)\n" + lines(11, 20),
                "(... 5 lines above ...)\n" + lines(26, 35),
            ],
        ),
    ],
)
def test_late_output_continuation(ticks, messages):
    late = scripts.LateOutput()
    assert [late.message(tick) for tick in ticks] == [framed(m.strip()) for m in messages]


@pytest.mark.parametrize(
    ("output", "errors", "message"),
    [
        ("out\n", "err\n", framed("out\n\nerr")),
        ("", "err\n", framed("err")),
        ("same", "same and more", framed("same and more")),
        ("out", "", framed("out")),
    ],
)
def test_late_output_split_streams(output, errors, message):
    assert scripts.LateOutput().message(output, errors) == message


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (13, lines(1, 13).strip()),  # 12 newlines: whole
        (14, "(... 3 lines above ...)\n" + lines(5, 14).strip()),  # 13 newlines: tailed
        (3, lines(1, 3).strip()),
    ],
)
def test_tail(count, shown):
    assert scripts.tail(lines(1, count).strip()) == shown


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (b"<SPREAD-PGID 4242>\n+ true\n", (4242, b"+ true\n")),
        (b"<SPREAD-PGID 7>\n", (7, b"")),
        (b"+ true\n", (None, b"+ true\n")),  # no /proc: nothing was printed
        (b"<SPREAD-PGID 42", (None, b"<SPREAD-PGID 42")),  # not a whole line yet
        (b"<SPREAD-PGID x>\nout\n", (None, b"<SPREAD-PGID x>\nout\n")),
    ],
)
def test_the_process_group_line_is_taken_out_of_the_output(output, expected):
    assert scripts.split_group(output) == expected


def test_the_process_group_line_prints_the_group_of_the_shell():
    done = subprocess.run(
        ["setsid", "bash", "-c", scripts.REPORT_GROUP + "echo $$"],
        capture_output=True,
        check=True,
    )
    group, rest = scripts.split_group(done.stdout)
    assert group == int(rest)  # setsid: the shell leads its own group

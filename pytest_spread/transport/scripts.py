"""The bash programs Spread sends and how their output is read (spec §3.6-3.7, §4, §5).

Pure text in and out; running the programs is the caller's business. The helper
functions (REBOOT, ERROR, MATCH, ...) are byte for byte those of Spread's
`spread/client.go`, since scripts depend on their exact output and exit codes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pytest_spread.transport.sudo import as_root

Env = Sequence[tuple[str, str]]

# Go's bytes.TrimSpace set (unicode.IsSpace); Python's str.strip() also eats \x1c-\x1f.
GO_SPACE: Final = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

FIXED_EXPORTS: Final = (
    ("DEBIAN_FRONTEND", "noninteractive"),
    ("DEBIAN_PRIORITY", "critical"),
    ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin"),
)
REBOOT_KEY: Final = "SPREAD_REBOOT"
SHELL_PS1: Final = r"\$SPREAD_BACKEND:\$SPREAD_SYSTEM \${PWD/#\$SPREAD_PATH/...}# "
SHELL_RC: Final = "/root/.bashrc"
# In shell mode these go to the bashrc, where the interactive shell reads them.
_RC_KEYS: Final = frozenset({"PS1", "SPREAD_PATH", "SPREAD_BACKEND", "SPREAD_SYSTEM"})
_SUDO_VARIABLES: Final = ("SUDO_COMMAND", "SUDO_USER", "SUDO_UID", "SUDO_GID")

LOCAL_COMMAND: Final = ["/bin/bash", "-eu", "-"]
TTY_NOISE: Final = "mesg: ttyname failed: Inappropriate ioctl for device"
MARKER_STATUS: Final = 213
MARKER_RE: Final = re.compile(r"<([A-Z_]+)(?: (.*))?>")


def go_trim(text: str) -> str:
    """`text` without leading and trailing whitespace, as Go's TrimSpace sees it."""
    return text.strip(GO_SPACE)


# -- helper functions -------------------------------------------------------------------------

_QUIET = "{ set +xu; } 2> /dev/null;"  # no trace of the helper, no -u inside it
_NEED_ARGS = '[ ${#@} -gt 0 ] || { echo "error: missing regexp argument"; return 1; };'


def _announcer(name: str, argument: str, exits: bool) -> str:
    """`NAME [arg]`: print `<NAME>` (no or empty first argument) or `<NAME arg>`."""
    show = f'[ -z "$1" ] && echo \'<{name}>\' || echo "<{name} {argument}>";'
    end = f" exit {MARKER_STATUS};" if exits else ""
    return f"{name}() {{ {_QUIET} {show}{end} }}\n"


# Remote MATCH/NOMATCH run in a subshell and quote their input; the newlines inside
# the echoed messages are real newlines in the program text.
_MATCH = (
    f'MATCH() ( {_QUIET} {_NEED_ARGS} local stdin="$(cat)"; grep -q -E "$@" <<< "$stdin" || '
    '{ res=$?; echo "grep error: pattern not found, got:\n$stdin">&2; '
    'if [ $res != 1 ]; then echo "unexpected grep exit status: $res"; fi; return 1; }; )\n'
)
_NOMATCH = (
    f'NOMATCH() ( {_QUIET} {_NEED_ARGS} local stdin="$(cat)"; '
    'if echo "$stdin" | grep -q -E "$@"; then '
    "echo \"NOMATCH pattern='$@' found in:\n$stdin\">&2; return 1; fi; )\n"
)
# The local variants are older: a `{ }` body (so -x and -u stay off after them), unquoted
# `echo $stdin` (whitespace collapses) and a literal backslash-n in MATCH's message.
_LOCAL_MATCH = (
    f'MATCH() {{ {_QUIET} local stdin=$(cat); echo $stdin | grep -q -E "$@" || '
    '{ echo "error: pattern not found on stdin:\\n$stdin">&2; return 1; }; }\n'
)
_LOCAL_NOMATCH = (
    f'NOMATCH() {{ {_QUIET} local stdin=$(cat); if echo $stdin | grep -q -E "$@"; then '
    "echo \"NOMATCH pattern='$@' found in:\n$stdin\">&2; return 1; fi }\n"
)

REMOTE_MARKERS: Final = _announcer("REBOOT", "$1", True) + _announcer("ERROR", "$@", True)
REMOTE_CHECKS: Final = _MATCH + _NOMATCH
LOCAL_HELPERS: Final = (
    _announcer("ADDRESS", "$1", False)
    + _announcer("FATAL", "$@", True)
    + _announcer("ERROR", "$@", True)
    + _LOCAL_MATCH
    + _LOCAL_NOMATCH
)


# -- environment ------------------------------------------------------------------------------


def export_line(key: str, value: str) -> str:
    """`export K="V"` with no escaping; `export K=V` when V is empty or starts with a quote."""
    if not value or value[0] in "\"'":
        return f"export {key}={value}"
    return f'export {key}="{value}"'


def _fixed_exports() -> str:
    return "".join(f"export {key}={value}\n" for key, value in FIXED_EXPORTS)


def with_variable(env: Env, key: str, value: str) -> list[tuple[str, str]]:
    """`env` after Spread's `set`: `key` moves to the end with its new value (spec §3.1)."""
    return [(k, v) for k, v in env if k != key] + [(key, value)]


# -- wrappers ---------------------------------------------------------------------------------


def _prologue(directory: str | None, sudo_user: bool) -> str:
    lines = [f'cd "{directory}"\n'] if directory else []
    if sudo_user:  # `sudo -i` leaves these behind; scripts must not see them
        lines += [f"unset {name}\n" for name in _SUDO_VARIABLES]
    return "".join(lines)


def _body(script: str) -> str:
    """The script in a subshell whose stdin cannot eat the rest of the program."""
    return f"\n(\n{go_trim(script)}\n\n) < /dev/null\n"


def _remote_body(script: str) -> str:
    """The script as one command group whose stdin cannot eat the rest of the program.

    Spread runs it in a subshell; a group is parsed whole just the same (a syntax
    error anywhere runs nothing), and bash moves its own input off the redirected
    stdin. Nothing follows it, so the only differences are one fork less per
    script and `$BASH_SUBSHELL`/`$BASHPID` (0 and `$$`).
    """
    return f"\n{{\n{go_trim(script)}\n\n}} < /dev/null\n"


def _trace(trace: bool) -> str:
    return "set -x\n" if trace else ""  # after the exports, so secrets are not traced


def remote_script(
    script: str,
    *,
    env: Env,
    directory: str | None,
    trace: bool,
    sudo_user: bool,
    reboot_key: str,
) -> str:
    """The program fed on stdin to the remote bash for one script (spec §4.1).

    `SPREAD_REBOOT=<reboot_key>` is exported last. An empty script makes a
    program bash rejects: Spread skips empty scripts before getting here.
    """
    env = with_variable(env, REBOOT_KEY, reboot_key)
    return "".join(
        [
            "set -eu\n",
            _prologue(directory, sudo_user),
            REMOTE_MARKERS,
            REMOTE_CHECKS,
            _fixed_exports(),
            "".join(export_line(key, value) + "\n" for key, value in env),
            _trace(trace),
            _remote_body(script),
        ]
    )


def _to_rc(text: str) -> str:
    return f"cat >> {SHELL_RC} <<'END'\n{text}END\n"


def remote_shell_script(
    *, env: Env, directory: str | None, sudo_user: bool, reboot_key: str = "0"
) -> str:
    """The program of an interactive `-shell`/`-debug` session (spec §4.1 shell mode, §4.9).

    It empties the remote root's bashrc (as Spread does), writes MATCH, NOMATCH, PS1 and
    the SPREAD_PATH/BACKEND/SYSTEM exports into it, exports the rest and runs `/bin/bash`.
    """
    env = with_variable(with_variable(env, "PS1", SHELL_PS1), REBOOT_KEY, reboot_key)
    exports = []
    for key, value in env:
        line = export_line(key, value) + "\n"
        exports.append(_to_rc(line) if key in _RC_KEYS else line)
    return "".join(
        [
            "set -eu\n",
            f"true > {SHELL_RC}\n",
            _prologue(directory, sudo_user),
            _to_rc(_MATCH),
            _to_rc(_NOMATCH),
            _fixed_exports(),
            *exports,
            "\n/bin/bash\n",
        ]
    )


def remote_command(trace: bool, sudo_user: bool) -> str:
    """The remote command line running the program given on its stdin (spec §4.1).

    `trace` (also Spread's "combined" mode) merges stderr into stdout on the remote side.
    The login shell execs it rather than waiting for it in a child: one process less
    per script (Spread's command has no `exec`; the script sees no difference).
    """
    command = "exec " + as_root("/bin/bash -", sudo_user)
    return f"{command} 2>&1" if trace else command


# The files a root login reads when sshd starts a session, before the program arrives:
# sshd's rc files, then bash's rc files (Debian's bash reads them under sshd).
SESSION_START_FILES: Final = (
    "/etc/ssh/sshrc",
    "~/.ssh/rc",
    "~/.ssh/environment",
    "/etc/bash.bashrc",
    "~/.bashrc",
)
STALE_SESSION: Final = "<SPREAD-STALE-SESSION>"
STALE_STATUS: Final = 214
# Sent first to a session started while the previous script ran: when one of those
# files is not older than the session's output pipe (made by sshd as it started the
# session), the session read it too early. It says so and exits; nothing has run.
STALE_CHECK: Final = (
    "[ -e /proc/self/fd/1 ] && for _f in "
    + " ".join(SESSION_START_FILES)
    + '; do [ -e "$_f" ] && ! [ /proc/self/fd/1 -nt "$_f" ]'
    + f" && {{ echo '{STALE_SESSION}'; exit {STALE_STATUS}; }}; done; unset _f\n"
)


# Sent before the program: the script's process group, for killing it at its kill-timeout
# (sshd refuses the `signal` request for root logins). The client takes the line out.
GROUP_PREFIX: Final = b"<SPREAD-PGID "
REPORT_GROUP: Final = (
    'read -r -a _s < /proc/$$/stat 2> /dev/null && echo "<SPREAD-PGID ${_s[4]}>"; unset _s\n'
)


def split_group(output: bytes) -> tuple[int | None, bytes]:
    """The process group REPORT_GROUP printed (None if it did not), and the rest."""
    if not output.startswith(GROUP_PREFIX):
        return None, output
    line, newline, rest = output.partition(b"\n")
    number = line[len(GROUP_PREFIX) : -1]
    if not newline or not line.endswith(b">") or not number.isdigit():
        return None, output
    return int(number), rest


def stale_session(output: bytes, status: int) -> bool:
    """True when a session started early found its login files changed (STALE_CHECK)."""
    return status == STALE_STATUS and output.strip() == STALE_SESSION.encode()


def remote_shell_command(program: str, sudo_user: bool) -> str:
    """The remote command of a shell session (run on a PTY, spec §4.9).

    The program goes to a temporary file first: the session's stdin is the user's terminal.
    """
    return (
        "{\nf=$(mktemp)\ntrap 'rm '$f EXIT\n"
        f"cat > $f <<'SCRIPT_END'\n{program}\nSCRIPT_END\n"
        f"{as_root('/bin/bash $f', sudo_user)}\n}}"
    )


def local_script(script: str, *, env: Env, trace: bool) -> str:
    """The program fed to the local `/bin/bash -eu -` (spec §4.10): repack, adhoc."""
    return "".join(
        [
            "set -eu\n",
            LOCAL_HELPERS,
            _fixed_exports(),
            "".join(export_line(key, value) + "\n" for key, value in env),
            _trace(trace),
            _body(script),
        ]
    )


def composite(parts: Sequence[str]) -> str:
    """Several scripts as one, each in its own subshell: the first failure stops the rest."""
    return "\n\n".join(f"(\n{part}\n)" for part in map(go_trim, parts) if part)


_EXPORT_RE = re.compile(r"^(export [A-Za-z_][A-Za-z0-9_]*=).+$", re.MULTILINE)


def redact_exports(program: str) -> str:
    """The program with exported values hidden: they may hold secrets (for -vv logs)."""
    return _EXPORT_RE.sub(r"\1<hidden>", program)


# -- reading the output -----------------------------------------------------------------------


@dataclass(frozen=True)
class Marker:
    """A helper's report, `<NAME argument>` (argument "" for a bare `<NAME>`)."""

    name: str
    argument: str


def _marker(line: str) -> Marker | None:
    match = MARKER_RE.fullmatch(line)
    return Marker(match.group(1), match.group(2) or "") if match else None


def find_marker(output: str, exit_status: int) -> Marker | None:
    """The marker that ends the trimmed output of a script that exited with 213 (§4.2)."""
    if exit_status != MARKER_STATUS:
        return None
    return _marker(go_trim(output).split("\n")[-1])


def find_markers(output: str) -> dict[str, str]:
    """Every marker line of a local script's output (each line trimmed); last one wins.

    This is how Spread reads an adhoc allocate/discard (§12.5), whatever the exit status.
    """
    found: dict[str, str] = {}
    for line in go_trim(output).split("\n"):
        marker = _marker(go_trim(line))
        if marker is not None:
            found[marker.name] = marker.argument
    return found


def find_address(output: str) -> str | None:
    """The last `<ADDRESS ...>` value printed ("" for a bare `<ADDRESS>`), None if none."""
    return find_markers(output).get("ADDRESS")


def clean_output(output: str) -> str:
    """Output without the tty complaint some logins print first, trimmed (spec §4.8)."""
    return go_trim(output.removeprefix(TTY_NOISE))


def output_error(output: str, fallback: str) -> str:
    """Spread's OUTPUTERR: multi-line output framed by `-----`, one line as is, or `fallback`."""
    output = go_trim(output)
    if not output:
        return fallback
    if "\n" in output:
        return f"\n-----\n{output}\n-----"
    return output


# -- late warnings ----------------------------------------------------------------------------

CONTINUED: Final = "(...)"


class _Since:
    """One stream's output since the previous warning, from the start of the line that was
    partially shown then; `(...)` marks a continuation."""

    def __init__(self) -> None:
        self.offset = 0

    def take(self, output: str) -> str:
        # Spread looks for the last newline before the old offset, but not at index 0 or 1.
        newline = output.rfind("\n", 2, self.offset)
        self.offset = len(output)
        return go_trim(CONTINUED + output[newline:] if newline > 0 else output)


class LateOutput:
    """The text of successive "running late" warnings for one script (spec §5).

    Each tick gets the whole output so far (and, for split output, the whole
    error output) and describes what is new since the previous tick.
    """

    def __init__(self) -> None:
        self._out = _Since()
        self._err = _Since()

    def message(self, output: str, errors: str = "") -> str:
        """`Output still empty.`, `Output unchanged.` or `Current output:` and the text."""
        text = self._merge(self._out.take(output), self._err.take(errors))
        if text == CONTINUED:
            return "Output unchanged."
        if not text:
            return "Output still empty."
        return f"Current output:\n-----\n{tail(text)}\n-----"

    def warning(self, label: str, output: str, errors: str = "") -> str:
        """The whole log line: `WARNING: <label> running late. <message>`."""
        return f"WARNING: {label} running late. {self.message(output, errors)}"

    @staticmethod
    def _merge(output: str, errors: str) -> str:
        if not output or errors.startswith(output):
            return errors
        return f"{output}\n\n{errors}" if errors else output


def tail(text: str, display: int = 10) -> str:
    """The last `display` lines after `(... N lines above ...)` once `text` has
    `display + 3` newlines or more; N is the newline count minus `display`."""
    newlines = text.count("\n")
    if newlines < display + 3:
        return text
    last = "\n".join(text.split("\n")[-display:])
    return f"(... {newlines - display} lines above ...)\n{last}"

"""The bash programs Spread sends: wrappers, helper functions, markers (spec §4.1-4.2, §4.10).

Pure text in and out; running them is the caller's business.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

FIXED_EXPORTS = (
    "export DEBIAN_FRONTEND=noninteractive\n"
    "export DEBIAN_PRIORITY=critical\n"
    "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/snap/bin\n"
)

_SILENT = "{ set +xu; } 2> /dev/null;"
REMOTE_HELPERS = (
    f'REBOOT() {{ {_SILENT} [ -z "$1" ] && echo \'<REBOOT>\' || echo "<REBOOT $1>"; exit 213; }}\n'
    f'ERROR() {{ {_SILENT} [ -z "$1" ] && echo \'<ERROR>\' || echo "<ERROR $@>"; exit 213; }}\n'
    f'MATCH() ( {_SILENT} [ ${{#@}} -gt 0 ] || {{ echo "error: missing regexp argument"; '
    'return 1; }; local stdin="$(cat)"; grep -q -E "$@" <<< "$stdin" || { res=$?; '
    'echo "grep error: pattern not found, got:\n$stdin">&2; if [ $res != 1 ]; then '
    'echo "unexpected grep exit status: $res"; fi; return 1; }; )\n'
    f'NOMATCH() ( {_SILENT} [ ${{#@}} -gt 0 ] || {{ echo "error: missing regexp argument"; '
    'return 1; }; local stdin="$(cat)"; if echo "$stdin" | grep -q -E "$@"; then '
    "echo \"NOMATCH pattern='$@' found in:\n$stdin\">&2; return 1; fi; )\n"
)
LOCAL_HELPERS = (
    f'ADDRESS() {{ {_SILENT} [ -z "$1" ] && echo \'<ADDRESS>\' || echo "<ADDRESS $1>"; }}\n'
    f'FATAL() {{ {_SILENT} [ -z "$1" ] && echo \'<FATAL>\' || echo "<FATAL $@>"; exit 213; }}\n'
    f'ERROR() {{ {_SILENT} [ -z "$1" ] && echo \'<ERROR>\' || echo "<ERROR $@>"; exit 213; }}\n'
    f'MATCH() {{ {_SILENT} local stdin=$(cat); echo $stdin | grep -q -E "$@" || '
    '{ echo "error: pattern not found on stdin:\\\\n$stdin">&2; return 1; }; }\n'
    f'NOMATCH() {{ {_SILENT} local stdin=$(cat); if echo $stdin | grep -q -E "$@"; then '
    "echo \"NOMATCH pattern='$@' found in:\n$stdin\">&2; return 1; fi }\n"
)
LOCAL_COMMAND = ["/bin/bash", "-eu", "-"]
TTY_NOISE = "mesg: ttyname failed: Inappropriate ioctl for device"
MARKER_RE = re.compile(r"^<([A-Z_]+)(?: (.*))?>$")
_ADDRESS_RE = re.compile(r"^<ADDRESS (.*)>$")


@dataclass(frozen=True)
class Marker:
    """A helper's report, `<NAME argument>` as the last output line of a 213 exit."""

    name: str
    argument: str


def export_line(key: str, value: str) -> str:
    """`export K="V"`, unquoted when V is empty or brings its own quotes (spec §3.6)."""
    if not value or value[0] in "\"'":
        return f"export {key}={value}\n"
    return f'export {key}="{value}"\n'


def _exports(env: Iterable[tuple[str, str]]) -> str:
    return "".join(export_line(key, value) for key, value in env)


def _body(script: str) -> str:
    """The user script in a subshell whose stdin cannot eat the rest of the program."""
    return f"\n(\n{script.strip()}\n\n) < /dev/null\n"


def remote_script(
    script: str,
    *,
    env: Sequence[tuple[str, str]],
    directory: str | None,
    trace: bool,
    sudo_user: bool,
    reboot_key: str,
) -> str:
    """The program fed to the remote bash for one script (spec §4.1)."""
    parts = ["set -eu\n"]
    if directory:
        parts.append(f'cd "{directory}"\n')
    if sudo_user:
        parts.append("unset SUDO_COMMAND\nunset SUDO_USER\nunset SUDO_UID\nunset SUDO_GID\n")
    parts += [
        REMOTE_HELPERS,
        FIXED_EXPORTS,
        _exports(env),
        export_line("SPREAD_REBOOT", reboot_key),
    ]
    if trace:
        parts.append("set -x\n")  # after the exports: secrets are not traced
    parts.append(_body(script))
    return "".join(parts)


_EXPORT_RE = re.compile(r"^(export [A-Za-z_][A-Za-z0-9_]*=).+$", re.MULTILINE)


def redact_exports(program: str) -> str:
    """The program with exported values hidden: they may hold secrets (for -vv logs)."""
    return _EXPORT_RE.sub(r"\1<hidden>", program)


def remote_command(trace: bool, sudo_user: bool) -> str:
    """The command that runs a program given on stdin; trace mode merges stderr."""
    sudo = "sudo -i " if sudo_user else ""
    return f"{sudo}/bin/bash - 2>&1" if trace else f"{sudo}/bin/bash -"


def local_script(script: str, *, env: Sequence[tuple[str, str]], trace: bool) -> str:
    """The program fed to the local `/bin/bash -eu -` (spec §4.10)."""
    parts = ["set -eu\n", LOCAL_HELPERS, FIXED_EXPORTS, _exports(env)]
    if trace:
        parts.append("set -x\n")
    parts.append(_body(script))
    return "".join(parts)


def composite(parts: Iterable[str]) -> str:
    """Several scripts run as one, each in its own subshell; the first failure stops it."""
    return "\n\n".join(f"(\n{part.strip()}\n)" for part in parts if part.strip())


def find_marker(output: str, status: int) -> Marker | None:
    """The helper marker ending the output of a script that exited with 213."""
    if status != 213:
        return None
    lines = output.strip().split("\n")
    match = MARKER_RE.match(lines[-1])
    return Marker(match.group(1), match.group(2) or "") if match else None


def find_address(output: str) -> str | None:
    """The last `ADDRESS` a local script printed (adhoc allocate)."""
    found = None
    for line in output.splitlines():
        match = _ADDRESS_RE.match(line.strip())
        if match:
            found = match.group(1)
    return found


def clean_output(output: str) -> str:
    """Output without the tty noise some shells print first, trimmed (spec §4.8)."""
    if output.startswith(TTY_NOISE):
        output = output[len(TTY_NOISE) :]
    return output.strip()


def output_error(output: str, fallback: str) -> str:
    """Spread's OUTPUTERR: framed multi-line output, the single line, or `fallback`."""
    output = output.strip()
    if not output:
        return fallback
    if "\n" in output:
        return f"\n-----\n{output}\n-----"
    return output


class LateOutput:
    """The text of successive "running late" warnings for one script (spec §5).

    Each call gets the whole output so far and describes what is new since the
    previous call, restarting at the line that was partially shown before.
    """

    UNCHANGED = "(...)"

    def __init__(self, tail: bool = True) -> None:
        self._offset = 0
        self._tail = tail

    def since_last(self, output: str) -> str:
        data = output
        start = output.rfind("\n", 2, self._offset) if self._offset > 2 else -1
        if start > 1:
            data = self.UNCHANGED + output[start:]
        self._offset = len(output)
        return data.strip()

    def message(self, output: str) -> str:
        """`Output unchanged.`, `Output still empty.` or the new output, framed."""
        text = self.since_last(output)
        if text == self.UNCHANGED:
            return "Output unchanged."
        if not text:
            return "Output still empty."
        return f"Current output:\n-----\n{tail(text) if self._tail else text}\n-----"


def tail(output: str, display: int = 10) -> str:
    """The last `display` lines with a count of those above, when 13 or more newlines."""
    newlines = output.count("\n")
    if newlines < display + 3:
        return output
    lines = output.split("\n")
    return f"(... {newlines - display} lines above ...)\n" + "\n".join(lines[-display:])

"""Run one script of a job on a machine: wrapper, timeouts, reboots, debug (spec §4.6-4.7, §5)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pytest_spread.backends.base import Machine
from pytest_spread.errors import SpreadError
from pytest_spread.log import debug, redact
from pytest_spread.project.environment import job_environment
from pytest_spread.project.matrix import Job, Matrix
from pytest_spread.run.observers import NO_OBSERVER, RunObserver
from pytest_spread.run.shell import ShellModes, run_shell
from pytest_spread.transport import scripts
from pytest_spread.transport.retry import retry
from pytest_spread.transport.ssh import Connection, RemoteError, Result
from pytest_spread.transport.sudo import as_root
from pytest_spread.transport.timeouts import Limits

MAX_REBOOTS = 10
QUICK_REBOOT = 1.0  # seconds after a reboot request during which the machine is tried often
NO_SHELLS = ShellModes()
VERBS = {
    "prepare": ("Preparing", "preparing"),
    "execute": ("Executing", "executing"),
    "restore": ("Restoring", "restoring"),
    "debug": ("Debugging", "debugging"),
}

Log = Callable[[str], None]


@dataclass
class Step:
    """One script to run: what it is, for which job, where and with which limits."""

    verb: str  # prepare, execute, restore
    context: str  # "lxd:ubuntu-16.04", "lxd:ubuntu-16.04:tests/", or the job name
    job: Job
    script: str
    directory: str
    limits: Limits
    debug: str = ""
    progress: str = ""  # " (3/10)" for executes


class ScriptFailed(Exception):
    """A script failed; `str()` is Spread's error text (output framed by -----).

    `line` is the whole log line, `Error executing <context> (<label>) : <text>`.
    """

    line = ""


class ScriptRunner:
    """Runs steps on one machine over its connection, logging like Spread."""

    observer: RunObserver = NO_OBSERVER  # hears every script and message (see observe)

    def __init__(
        self,
        machine: Machine,
        connection: Connection,
        matrix: Matrix,
        log: Log,
        reconnect: Callable[[], Connection],
        shells: ShellModes = NO_SHELLS,
    ) -> None:
        self.machine = machine
        self.connection = connection
        self.matrix = matrix
        self.log = log
        self.reconnect = reconnect
        self.shells = shells
        self.sudo = machine.sudo

    def observe(self, observer: RunObserver) -> None:
        """Tell `observer` about this machine's scripts and messages from now on."""
        log, machine = self.log, self.machine

        def logged(message: str) -> None:
            log(message)
            observer.message(machine, message)

        self.observer, self.log = observer, logged

    def run(self, step: Step) -> str:
        """Run the step and return its output; ScriptFailed (after debug) when it fails."""
        if not step.script.strip():
            return ""
        present, gerund = VERBS[step.verb]
        where = f"{step.context} ({self.machine.label})"
        self.observer.script_started(step.verb, step.context, step.job, self.machine)
        self.log(f"{present} {where}{step.progress}...")
        shells, executing = self.shells, step.verb == "execute"
        if executing and (shells.shell or shells.shell_before):
            self._shell(step, f"Starting shell instead of executing {step.job.name}...")
            if shells.shell:
                self._ended(step, "", ok=True)
                return ""  # the shell replaces the execute, which counts as a success
        try:
            output = self._run_with_reboots(step)
        except ScriptFailed as failure:
            failure.line = f"Error {gerund} {where} : {failure}"
            self.log(failure.line)
            self._ended(step, str(failure), ok=False)
            if step.debug.strip():
                self._debug(step, where)
            if shells.debug or shells.shell_after:
                self._shell(step, "Starting shell to debug...")
            raise
        if executing and shells.shell_after:
            self._shell(step, f"Starting shell after executing {step.job.name}...")
        self._ended(step, output, ok=True)
        return output

    def _ended(self, step: Step, output: str, *, ok: bool) -> None:
        self.observer.script_ended(step.verb, step.context, step.job, self.machine, output, ok)

    def check(self, step: Step) -> bool:
        """Run a spread-plus `skip:` condition: True when it succeeds.

        Logged as `Checking <context> (<label>)...`; a failing condition is no
        error (no message, no debug script): the job simply runs.
        """
        self.observer.script_started(step.verb, step.context, step.job, self.machine)
        self.log(f"Checking {step.context} ({self.machine.label})...")
        try:
            self._run_with_reboots(step)
        except ScriptFailed as failure:
            self._ended(step, str(failure), ok=False)
            return False
        self._ended(step, "", ok=True)
        return True

    def _shell(self, step: Step, announce: str) -> None:
        """An interactive shell where the step's script runs, with its environment."""
        self.log(announce)
        program = scripts.remote_shell_script(
            env=job_environment(step.job, self.matrix),
            directory=step.directory,
            sudo_user=self.sudo,
        )
        try:
            run_shell(self.connection, scripts.remote_shell_command(program, self.sudo))
        except SpreadError as exc:
            self.log(f"Error running debug shell: {exc}")
        self.log("Continuing...")

    def _debug(self, step: Step, where: str) -> None:
        debug = Step("debug", step.context, step.job, step.debug, step.directory, step.limits)
        try:
            output = self._run_with_reboots(debug)
        except ScriptFailed as failure:
            self.log(f"Error debugging {where} : {failure}")
            return
        if output.strip():
            self.log(f"Debug output for {where} : {scripts.output_error(output, '')}")

    def _run_with_reboots(self, step: Step) -> str:
        label = f"{self.machine} ({step.context})"
        env = job_environment(step.job, self.matrix)
        outputs: list[str] = []
        key = ""
        for count in range(MAX_REBOOTS + 2):
            key = key or str(count)
            output, status, killed = self._run_once(step, env, key, label)
            marker = scripts.find_marker(output, status)
            if marker is None or marker.name != "REBOOT":
                outputs.append(output)
                return self._outcome("\n".join(outputs), status, killed, marker)
            if count > MAX_REBOOTS:
                raise ScriptFailed(f"rebooted on {label} more than {MAX_REBOOTS} times")
            self.log(f"Rebooting on {label} as requested...")
            outputs.append(output)
            key = marker.argument
            self._reboot(label, step.limits)
        raise AssertionError("unreachable")

    def _run_once(
        self, step: Step, env: list[tuple[str, str]], key: str, label: str
    ) -> tuple[str, int, bool]:
        program = scripts.remote_script(
            step.script,
            env=env,
            directory=step.directory,
            trace=True,
            sudo_user=self.sudo,
            reboot_key=key,
        )
        debug(f"Sending script for {label}:\n-----\n{scripts.redact_exports(program)}\n------")
        late = scripts.LateOutput()

        def warn(output: bytes) -> None:
            text = scripts.split_group(output)[1].decode("utf-8", "replace")
            self.log(f"WARNING: {label} running late. {late.message(text)}")

        command = scripts.remote_command(trace=True, sudo_user=self.sudo)
        # Logged in as root, the next script's session starts while this one runs:
        # its login files are checked when it is used (STALE_CHECK). With sudo, the
        # target user's login (sudo -i) would be read early: it starts after this ends.
        early = not self.sudo

        def run(stdin: bytes, fresh: bool = False) -> Result:
            return self.connection.run(
                command,
                stdin,
                kill_after=step.limits.kill,
                tick=step.limits.warn,
                on_tick=warn,
                ahead=True,
                early=early,
                fresh=fresh,
            )

        stdin = scripts.REPORT_GROUP.encode() + program.encode()
        try:
            result = run(scripts.STALE_CHECK.encode() + stdin if early else stdin)
            if early and scripts.stale_session(result.output, result.status):
                result = run(stdin, fresh=True)
        except RemoteError as exc:
            raise ScriptFailed(str(exc)) from exc
        group, output_bytes = scripts.split_group(result.output)
        if result.killed and group is not None and group > 1:
            self._kill_group(group)
        text = redact(output_bytes.decode("utf-8", "replace"))
        if text:
            debug(f"Output from running script on {label}:\n-----\n{text}\n-----")
        output = scripts.clean_output(text)
        if result.killed:
            output += "\n<kill-timeout reached>"
        return output, result.status, result.killed

    def _outcome(
        self, output: str, status: int, killed: bool, marker: scripts.Marker | None
    ) -> str:
        if killed:
            raise ScriptFailed(scripts.output_error(output, "kill-timeout reached"))
        if marker is not None and marker.name == "ERROR":
            raise ScriptFailed(marker.argument)
        if status != 0:
            fallback = (
                f"Process exited with status {status}"
                if status >= 0
                else "connection closed before the script finished"
            )
            raise ScriptFailed(scripts.output_error(output, fallback))
        return output

    def _kill_group(self, group: int) -> None:
        """Kill a script past its kill-timeout with all its processes.

        Spread's `signal KILL` over the session is refused by sshd for root
        logins, which leaves the script running; a new session kills its group.
        """
        try:
            self.connection.run(as_root(f"kill -KILL -- -{group}", self.sudo), kill_after=10)
        except RemoteError:
            pass  # the machine is gone or unreachable: nothing left to stop there

    def _reboot(self, label: str, limits: Limits) -> None:
        """Reboot the machine and wait until it is back with a new boot id (spec §4.7)."""
        try:
            before = self._boot_id(self.connection)
        except RemoteError as exc:
            raise ScriptFailed(f"cannot obtain the remote system boot_id: {exc}") from exc
        try:
            self.connection.run(as_root("reboot", self.sudo), kill_after=10)
        except RemoteError:
            pass  # the connection may drop while the machine goes down
        self.connection.close()
        next_warning = time.monotonic() + limits.warn

        def back_with_new_boot() -> Connection:
            connection = self.reconnect()
            try:
                if self._boot_id(connection) != before:
                    return connection
            except RemoteError:
                pass
            connection.close()
            raise RemoteError("the machine is not back from its reboot yet")

        def taking_a_while(_: RemoteError) -> None:
            nonlocal next_warning
            if time.monotonic() >= next_warning:
                self.log(f"Reboot on {label} is taking a while...")
                next_warning += limits.warn

        def wait(timeout: float, interval: float) -> Connection:
            return retry(
                back_with_new_boot,
                errors=RemoteError,
                timeout=timeout,
                interval=interval,
                on_error=taking_a_while,
                stop=None,  # a reboot is part of the running job: Ctrl-C lets it finish
            )

        started = time.monotonic()
        try:
            try:  # a quick reboot (a container, a sandbox) is seen within 50 ms, not 200
                self.connection = wait(min(QUICK_REBOOT, limits.kill), 0.05)
            except RemoteError:
                self.connection = wait(limits.kill - (time.monotonic() - started), 0.2)
        except RemoteError:
            raise ScriptFailed(f"kill-timeout reached after {label} reboot request") from None

    def _boot_id(self, connection: Connection) -> str:
        result = connection.run(
            as_root("cat /proc/sys/kernel/random/boot_id", self.sudo), kill_after=30
        )
        if result.status != 0:
            raise RemoteError(scripts.output_error(result.text, f"exit status {result.status}"))
        return result.text.strip()

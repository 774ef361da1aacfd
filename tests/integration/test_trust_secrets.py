"""Secrets and files: passwords never shown, private reuse files, harmless artifacts."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from .test_lifecycle import write_tasks
from .test_trust_fidelity import PYTEST, SPREAD, ledger_yaml, leftover, run


class ProcessWatch:
    """Samples every process's command line while a run goes on (except the run itself)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret.encode()
        self.found: list[str] = []
        self.exclude: set[int] = {os.getpid()}
        self.typed: bytes = b""  # the command line the user typed (its forks show it too)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> ProcessWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.02):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit() or int(entry.name) in self.exclude:
                    continue
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if self.secret in cmdline and cmdline != self.typed:
                    self.found.append(cmdline.replace(b"\0", b" ").decode(errors="replace"))


@pytest.fixture
def secret_grep() -> Callable[..., list[str]]:
    """`grep(secret, *directories, texts=...)`: every file and text that shows the secret."""

    def grep(secret: str, *directories: Path, texts: dict[str, str] | None = None) -> list[str]:
        found = [name for name, text in (texts or {}).items() if secret in text]
        for directory in directories:
            for path in sorted(directory.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    if secret.encode() in path.read_bytes():
                        found.append(str(path))
        return found

    return grep


def secret_project(pytester, machine, ledger: Path) -> None:
    """The machine's root password is given only on the command line (-pass).

    The working allocate traces the password (shown at -vv); the `broken`
    backend's fails with it in its message, which lands in its job's error.
    """
    text = ledger_yaml(
        machine,
        ledger,
        password=False,
        allocate_extra='test "$SPREAD_PASSWORD" != nothing\n',
    )
    broken = (
        "    broken:\n        type: adhoc\n"
        '        allocate: FATAL "no machine for $SPREAD_PASSWORD"\n'
        "        systems: [ubuntu-22.04]\n"
    )
    pytester.makefile(".yaml", spread=text.replace("suites:\n", broken + "suites:\n"))
    write_tasks(
        pytester,
        {
            "tests/ok": "summary: t\nexecute: echo fine > out.txt\nartifacts: [out.txt]\n",
            "tests/bad": "summary: t\nexecute: |\n    echo failing\n    exit 1\n",
        },
    )


@pytest.mark.parametrize("command", ["spread", "pytest"])
def test_a_password_given_on_the_command_line_is_never_shown(
    pytester, machine, tmp_path, secret_grep, command
):
    ledger = tmp_path / "ledger"
    secret_project(pytester, machine, ledger)
    secret = machine.password
    artifacts = tmp_path / "artifacts"
    with ProcessWatch(secret) as watch:
        if command == "spread":
            args = ["-vv", f"-pass={secret}", f"-artifacts={artifacts}"]
            process = subprocess.Popen(
                [*SPREAD, *args],
                cwd=pytester.path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        else:
            args = [
                f"--spread-password={secret}",
                "-vv",
                f"--spread-artifacts={artifacts}",
                "--junitxml=out.xml",
                "--log-level=DEBUG",
                "--log-file=run.log",
                "--log-file-level=DEBUG",
            ]
            process = subprocess.Popen(
                [*PYTEST, *args],
                cwd=pytester.path,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        watch.exclude.add(process.pid)  # the user typed it there
        watch.typed = b"\0".join(os.fsencode(str(arg)) for arg in list(process.args)) + b"\0"  # type: ignore[arg-type]
        out, _ = process.communicate(timeout=120)
    assert process.returncode == 1, out
    # The run did what it says: the password worked, and the broken backend's trace
    # (which holds the password) reached the output, hidden.
    assert "fine" in (artifacts / "adhoc:ubuntu-24.04:tests/ok" / "out.txt").read_text()
    assert "allocate broken:ubuntu-22.04: no machine for <hidden>" in out, out
    log = out if command == "spread" else (pytester.path / "run.log").read_text()
    assert "+ test <hidden> '!=' nothing" in log, log
    assert "Running local script" in log and "Output from running local script" in log
    if command == "pytest":
        xml = (pytester.path / "out.xml").read_text()
        assert "no machine for &lt;hidden&gt;" in xml, xml
        assert "failing" in xml
    found = secret_grep(secret, pytester.path, artifacts, texts={"output": out})
    assert found == [], out
    assert watch.found == []
    assert leftover(ledger) == {}


def test_the_kept_reuse_file_is_private(pytester, machine, tmp_path):
    ledger = tmp_path / "ledger"
    pytester.makefile(".yaml", spread=ledger_yaml(machine, ledger))
    write_tasks(pytester, {"tests/ok": "summary: t\nexecute: true\n"})
    status, out = run(SPREAD, pytester.path, "-reuse")
    assert status == 0, out
    reuse = pytester.path / ".spread-reuse.yaml"
    assert machine.password in reuse.read_text()  # what the next run logs in with
    assert stat.S_IMODE(reuse.stat().st_mode) == 0o600
    assert list(pytester.path.glob(".spread-reuse.yaml.*")) == []
    status, out = run(SPREAD, pytester.path, "-discard")
    assert status == 0, out
    assert leftover(ledger) == {}


# -- 19. artifacts -------------------------------------------------------------------------


def test_artifacts_cannot_plant_owners_or_setuid_files(pytester, machine, tmp_path):
    ledger = tmp_path / "ledger"
    pytester.makefile(".yaml", spread=ledger_yaml(machine, ledger))
    execute = (
        "execute: |\n"
        "    install -m 4755 /bin/true suid\n"
        "    install -m 2777 -d shared\n"
        "    echo x > shared/owned\n"
        "    chown 4321:4321 shared/owned\n"
        "    chmod 0666 shared/owned\n"
    )
    write_tasks(pytester, {"tests/a": f"summary: t\n{execute}artifacts: [suid, shared]\n"})
    target = tmp_path / "artifacts"
    status, out = run(SPREAD, pytester.path, f"-artifacts={target}")
    assert status == 0, out
    unpacked = target / "adhoc:ubuntu-24.04:tests/a"
    files = [unpacked / "suid", unpacked / "shared", unpacked / "shared" / "owned"]
    umask = os.umask(0)
    os.umask(umask)
    for path in files:
        info = path.lstat()
        assert (info.st_uid, info.st_gid) == (os.getuid(), os.getgid()), path
        assert not info.st_mode & (stat.S_ISUID | stat.S_ISGID), path
        assert not info.st_mode & umask, path
    assert (unpacked / "shared" / "owned").read_text() == "x\n"
    assert leftover(ledger) == {}


def test_process_watch_sees_a_secret_on_a_command_line(tmp_path):
    """The watch used above really finds a secret in a process listing."""
    with ProcessWatch("s3cr3t-value") as watch:
        subprocess.run([sys.executable, "-c", "import time; time.sleep(0.3)", "s3cr3t-value"])
    assert watch.found


# -- 20. opt-in host key checking ------------------------------------------------------------


def _host_key_line(machine, key_type: str, key_base64: str) -> str:
    host, _, port = machine.address.rpartition(":")
    return f"[{host}]:{port} {key_type} {key_base64}\n"


def test_known_hosts_is_checked_only_when_asked(pytester, machine, tmp_path):
    import paramiko

    from pytest_spread.transport.ssh import split_address

    ledger = tmp_path / "ledger"
    text = ledger_yaml(machine, ledger, project_extra="restore: rm -rf /srv/spread-p\n")
    pytester.makefile(".yaml", spread=text)
    write_tasks(pytester, {"tests/a": "summary: t\nexecute: true\n"})
    transport = paramiko.Transport(split_address(machine.address))
    transport.start_client(timeout=10)
    key = transport.get_remote_server_key()
    transport.close()
    good = tmp_path / "known_hosts"
    good.write_text(_host_key_line(machine, key.get_name(), key.get_base64()))
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")])
    other = (tmp_path / "k.pub").read_text().split()
    wrong = tmp_path / "wrong_hosts"
    wrong.write_text(_host_key_line(machine, other[0], other[1]))
    unknown = tmp_path / "unknown_hosts"
    unknown.write_text("[127.0.0.2]:22 " + " ".join(other[:2]) + "\n")

    def spread(known: Path | None) -> tuple[int, str]:
        env = {**os.environ}
        env.pop("SPREAD_KNOWN_HOSTS", None)
        if known is not None:
            env["SPREAD_KNOWN_HOSTS"] = str(known)
        done = subprocess.run(SPREAD, cwd=pytester.path, env=env, capture_output=True, text=True)
        return done.returncode, done.stdout + done.stderr

    assert spread(None)[0] == 0  # as Spread: no checking by default
    status, out = spread(good)
    assert status == 0, out
    host, _, port = machine.address.rpartition(":")
    status, out = spread(wrong)
    assert status == 1
    assert f"host key of [{host}]:{port} does not match {wrong} (ssh-ed25519)" in out, out
    status, out = spread(unknown)
    assert status == 1
    assert f"host key of [{host}]:{port} is not in {unknown}" in out, out
    assert leftover(ledger) == {}

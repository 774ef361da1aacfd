"""The sandbox machines are isolated from this computer (they must never change it)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import secrets
import shlex
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_spread.backends.sandbox import attach, seccomp, start_machine
from pytest_spread.backends.sandbox import state as sandbox_state
from pytest_spread.transport.ssh import Connection


def digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_machine_writes_stay_in_the_machine(machine):
    host_systemctl = digest("/usr/bin/systemctl")
    host_bashrc = digest("/root/.bashrc")
    connection = Connection.open(machine.address, "root", machine.password)
    try:
        script = (
            "set -e; echo mine > /root/marker; test ! -s /root/.bashrc; "
            "head -1 /usr/sbin/reboot; echo shm > /dev/shm/spread-sandbox-test; "
            "! echo 1 > /proc/sys/kernel/printk_ratelimit 2>/dev/null"
        )
        result = connection.run(f"bash -c '{script}'")
    finally:
        connection.close()
    assert result.status == 0, result.text
    assert result.text.startswith("#!/bin/sh")
    assert machine.path("/root/marker").read_text() == "mine\n"
    assert machine.path("/usr/sbin/reboot").read_text().endswith("kill -TERM 1\n")
    assert not Path("/root/marker").exists()
    assert not Path("/dev/shm/spread-sandbox-test").exists()
    assert digest("/usr/bin/systemctl") == host_systemctl
    assert digest("/root/.bashrc") == host_bashrc


def test_machines_are_isolated_from_each_other(machine_factory):
    one, two = machine_factory(), machine_factory()
    for machine, text in ((one, "one"), (two, "two")):
        connection = Connection.open(machine.address, "root", machine.password)
        connection.run(f"echo {text} > /root/name")
        connection.close()
    assert one.path("/root/name").read_text() == "one\n"
    assert two.path("/root/name").read_text() == "two\n"


def test_stop_leaves_nothing_behind(machine_factory):
    machine = machine_factory()
    workdir = machine.workdir
    machine.stop()
    assert not workdir.exists()
    assert str(workdir) not in Path("/proc/mounts").read_text()


def run(machine, script: str, user: str = "root") -> tuple[int, str]:
    """Run a bash script on the machine as root; its status and output."""
    connection = Connection.open(machine.address, user, machine.password)
    try:
        result = connection.run(f"bash -c {shlex.quote(script)}")
    finally:
        connection.close()
    return result.status, result.text


def python_on(machine, code: str) -> str:
    status, output = run(machine, f"python3 -c {shlex.quote(textwrap.dedent(code))}")
    assert status == 0, output
    return output


NAMESPACES = ("mnt", "pid", "uts", "ipc", "net", "cgroup")


def test_machine_has_its_own_namespaces(machine):
    inside = python_on(
        machine,
        f"""
        import os
        for name in {NAMESPACES!r}:
            print(name, os.readlink(f"/proc/self/ns/{{name}}"))
        """,
    )
    theirs = dict(line.split() for line in inside.splitlines())
    for name in NAMESPACES:
        assert theirs[name] != os.readlink(f"/proc/self/ns/{name}"), name
    status, links = run(machine, "ip -o link show | cut -d: -f2")
    assert status == 0 and links.split() == ["lo"], links


def test_outbound_network_only_when_asked(machine_factory):
    """Through slirp4netns; no traffic leaves this computer here: the host's loopback is refused."""
    machine = machine_factory(network=True)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        inside = python_on(machine, "import os; print(os.readlink('/proc/self/ns/net'))")
        assert inside.strip() != os.readlink("/proc/self/ns/net")
        status, output = run(machine, "ip -o -4 addr show tap0; ip route show default")
        assert status == 0 and "inet 10.0.2.100/24" in output, output
        assert "default via 10.0.2.2 dev tap0" in output, output
        assert run(machine, "cat /etc/resolv.conf") == (0, "nameserver 10.0.2.3\n")
        status, output = run(machine, f"timeout 10 bash -c 'echo > /dev/tcp/10.0.2.2/{port}'")
        assert status != 0, output
        listener.settimeout(0.5)
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def test_chroot_escape_stays_in_the_machine(machine, tmp_path):
    marker = tmp_path / "host-marker"
    marker.write_text("only on the host\n")
    inside = python_on(
        machine,
        f"""
        import os
        print("before", os.path.exists({str(marker)!r}))
        os.makedirs("/tmp/jail", exist_ok=True)
        outside = os.open("/", os.O_RDONLY)
        os.chroot("/tmp/jail")
        os.fchdir(outside)
        for _ in range(100):
            os.chdir("..")
        os.chroot(".")
        print("escaped", os.path.exists({str(marker)!r}))
        print("machine", os.path.exists("/run/spread-sandbox/sshd_config"))
        """,
    )
    assert inside.split() == ["before", "False", "escaped", "False", "machine", "True"]


DROPPED = {"SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_TIME": 25, "SYS_ADMIN": 21}
DROPPED |= {"MKNOD": 27, "SYS_PTRACE": 19, "NET_ADMIN": 12, "SYS_BOOT": 22, "DAC_READ_SEARCH": 2}
KEPT = {"CHOWN": 0, "DAC_OVERRIDE": 1, "KILL": 5, "SETUID": 7, "SYS_CHROOT": 18}


def test_capability_bounding_set_is_dockers(machine):
    status, output = run(machine, "grep -E '^Cap(Bnd|Eff)' /proc/self/status")
    assert status == 0, output
    sets = {name.rstrip(":"): int(value, 16) for name, value in map(str.split, output.splitlines())}
    for name, bit in DROPPED.items():
        assert not sets["CapBnd"] & (1 << bit), name
        assert not sets["CapEff"] & (1 << bit), name
    for name, bit in KEPT.items():
        assert sets["CapBnd"] & (1 << bit), name
    status, output = run(machine, "grep ^Seccomp: /proc/self/status")
    assert (status, output) == (0, "Seccomp:\t2\n")


def test_root_of_a_machine_cannot_act_on_the_host(machine):
    """Key rings, kernel log, mounts, hostname, device nodes, clock: refused (EPERM) inside."""
    column = 0 if platform.machine() == "x86_64" else 1
    keyctl = seccomp.DENIED["keyctl"][column]
    inside = python_on(
        machine,
        f"""
        import ctypes, errno, os, socket, time
        libc = ctypes.CDLL(None, use_errno=True)
        def outcome(result):
            return "ok" if result >= 0 else errno.errorcode[ctypes.get_errno()]
        print("keyctl", outcome(libc.syscall({keyctl}, 0, -4, 0)))  # the user key ring
        print("syslog", outcome(libc.klogctl(3, None, 0)))
        print("mount", outcome(libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)))
        # Harmless even if they worked: the same name, the same time.
        name = socket.gethostname().encode()
        print("hostname", outcome(libc.sethostname(name, len(name))))
        print("mknod", outcome(libc.mknod(b"/root/disk", 0o60600, os.makedev(8, 0))))
        now = time.clock_gettime(time.CLOCK_REALTIME)
        spec = (ctypes.c_long * 2)(int(now), int(now % 1 * 1e9))
        print("clock", outcome(libc.clock_settime(time.CLOCK_REALTIME, spec)))
        """,
    )
    results = dict(line.split() for line in inside.splitlines())
    assert results == {name: "EPERM" for name in results}, inside
    assert set(results) == {"keyctl", "syslog", "mount", "hostname", "mknod", "clock"}


def test_kernel_knobs_are_masked_or_read_only(machine):
    """Write to sysrq-trigger only where the mount table already shows it read-only."""
    inside = python_on(
        machine,
        """
        import errno, os
        mounts = {}
        for line in open("/proc/self/mountinfo"):
            fields = line.split()
            mounts[fields[4]] = fields[5].split(",")
        TARGETS = {
            "/proc/sysrq-trigger": ("/proc/sysrq-trigger", os.O_WRONLY),
            "/proc/sys": ("/proc/sys/kernel/hostname", os.O_WRONLY),
            "/sys": ("/sys/spread-sandbox-test", os.O_WRONLY | os.O_CREAT),
        }
        for path in TARGETS:
            if not os.path.exists(path):
                print(path, "absent")
            elif "ro" not in mounts.get(path, []):
                print(path, "WRITABLE")  # never try to write it
            else:
                target, flags = TARGETS[path]
                try:
                    fd = os.open(target, flags)
                except OSError as exc:
                    print(path, errno.errorcode[exc.errno])
                else:
                    os.close(fd)
                    print(path, "OPENED")
        if not os.path.exists("/proc/kcore"):
            print("/proc/kcore", "absent")
        elif os.stat("/proc/kcore").st_rdev == os.stat("/dev/null").st_rdev:
            print("/proc/kcore", "masked")
        else:
            print("/proc/kcore", "VISIBLE")
        """,
    )
    results = dict(line.split() for line in inside.splitlines())
    assert results["/proc/sysrq-trigger"] in ("absent", "EROFS", "EACCES"), inside
    assert results["/proc/sys"] in ("EROFS", "EACCES"), inside
    assert results["/sys"] in ("EROFS", "EACCES"), inside
    assert results["/proc/kcore"] in ("absent", "masked"), inside
    _, devices = run(machine, "ls /dev")
    assert set(devices.split()) <= {
        "null",
        "zero",
        "full",
        "random",
        "urandom",
        "tty",
        "ptmx",
        "pts",
        "shm",
        "mqueue",
        "fd",
        "stdin",
        "stdout",
        "stderr",
    }


def test_kill_everything_inside_leaves_the_host_alive(machine):
    seconds = f"300.{secrets.randbelow(10**6):06d}"
    sentinel = subprocess.Popen(["sleep", seconds])
    try:
        host_pid_ns = os.readlink("/proc/self/ns/pid")
        pattern = "[3]" + seconds[1:].replace(".", "[.]")
        # Refuse to kill anything if this shell could see the host's processes.
        guard = (
            f'[ "$(readlink /proc/self/ns/pid)" != "{host_pid_ns}" ] || exit 3; '
            f"! grep -qs '{pattern}' /proc/[0-9]*/cmdline || exit 4; "
        )
        assert subprocess.run(["bash", "-c", guard], check=False).returncode == 3
        host_guard = guard.replace(host_pid_ns, "pid:[0]")
        assert subprocess.run(["bash", "-c", host_guard], check=False).returncode == 4
        script = guard + "kill -9 -1"
        assert run(machine, "setsid sleep 1000 < /dev/null > /dev/null 2>&1 &")[0] == 0
        try:
            status, output = run(machine, script)
        except Exception:  # the session may end with its shell
            status, output = -1, ""
        assert status not in (0, 3, 4), output
        assert sentinel.poll() is None
        assert os.path.exists(f"/proc/{os.getppid()}")
        assert run(machine, "echo still here") == (0, "still here\n")
        assert run(machine, "pgrep -x sleep")[0] == 1  # the kill did happen, inside
    finally:
        sentinel.kill()
        sentinel.wait()


def test_planted_symlinks_are_resolved_inside_the_machine(machine, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("host\n")
    script = (
        f"ln -s {secret} /root/to-host; ln -s / /root/slash; "
        f"mkdir -p {tmp_path}; echo machine > {secret}.in-machine"
    )
    assert run(machine, script)[0] == 0
    with pytest.raises(FileNotFoundError):
        machine.path("/root/to-host").read_text()
    assert not machine.path(f"/root/slash{secret}").exists()
    assert not machine.path(f"/../../..{secret}").exists()
    machine.path("/root/to-host").write_text("pwned\n")  # lands in the machine
    assert run(machine, f"cat {secret}") == (0, "pwned\n")
    assert secret.read_text() == "host\n"
    machine.path(f"/root/slash{secret}.in-machine").write_text("written\n")
    assert secret.read_text() == "host\n"
    assert not Path(f"{secret}.in-machine").exists()
    assert run(machine, f"cat {secret}.in-machine") == (0, "written\n")
    machine.path("/root/to-host").unlink()
    assert secret.exists() and not machine.path("/root/to-host").exists()


def sandbox_command(*args: str, env: dict[str, str], **kwargs) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest_spread.backends.sandbox", *args]
    full_env = {**os.environ, **env}
    return subprocess.run(
        command, env=full_env, capture_output=True, text=True, timeout=60, check=False, **kwargs
    )


@pytest.mark.parametrize("hostile", ["mode", "owner", "symlink"])
def test_hostile_state_directory_is_refused(tmp_path, hostile):
    sentinel = subprocess.Popen(["sleep", "300"])
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep me\n")
    state = tmp_path / "state"
    if hostile == "symlink":
        real = tmp_path / "elsewhere"
        real.mkdir(mode=0o700)
        state.symlink_to(real)
        records = real
    else:
        state.mkdir(mode=0o700)
        if hostile == "mode":
            state.chmod(0o777)
        else:
            os.chown(state, 65534, 65534)
        records = state
    record = {"address": "127.0.0.1:1", "pid": sentinel.pid, "workdir": f"{state}/machine-x"}
    record["start"] = int(Path(f"/proc/{sentinel.pid}/stat").read_text().rsplit(")")[1].split()[19])
    (records / "1.json").write_text(json.dumps(record))
    (records / "machine-x").symlink_to(victim)
    try:
        env = {"SPREAD_SANDBOX_DIR": str(state), "SPREAD_PASSWORD": "pw"}
        for args in (["start"], ["stop", "--all"], ["stop", "127.0.0.1:1"], ["list"]):
            done = sandbox_command(*args, env=env)
            assert done.returncode == 1, (args, done.stdout, done.stderr)
            assert "error: refusing the sandbox state directory" in done.stderr
            assert done.stdout == ""
        assert sentinel.poll() is None
        assert (victim / "precious").read_text() == "keep me\n"
    finally:
        sentinel.kill()
        sentinel.wait()


def test_signals_go_only_to_the_recorded_process():
    sentinel = subprocess.Popen(["sleep", "300"])
    try:
        started = sandbox_state.start_time(sentinel.pid)
        assert not sandbox_state.kill_verified(sentinel.pid, started + 1)
        assert sentinel.poll() is None
        assert sandbox_state.kill_verified(sentinel.pid, started)
        assert sentinel.wait(timeout=10) == -9
    finally:
        sentinel.kill()
        sentinel.wait()


def test_command_line_machine_lives_until_stop(sandbox_state_dir, tmp_path):
    done = sandbox_command("start", env={}, input="secret-pw\n")
    assert done.returncode == 1 and "no password" in done.stderr
    done = sandbox_command("start", "--password-stdin", env={}, input="secret-pw\n")
    assert done.returncode == 0, done.stderr
    address = done.stdout.strip()
    listing = sandbox_command("list", env={})
    assert listing.stdout.startswith(f"{address}  up    boots=1"), listing.stdout
    assert "secret-pw" not in Path("/proc/self/cmdline").read_text()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            assert b"secret-pw" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    machine = attach(address)
    machine.password = "secret-pw"
    machine.path("/root/note").write_text("kept\n")
    assert sandbox_command("cat", address, "/root/note", env={}).stdout == "kept\n"
    host_file = tmp_path / "host-file"
    host_file.write_text("host only\n")
    assert run(machine, f"ln -s {host_file} /root/to-host")[0] == 0
    done = sandbox_command("cat", address, "/root/to-host", env={})
    assert (done.returncode, done.stdout) == (1, ""), done.stdout
    assert f"error: cat: {address}:/root/to-host: No such file or directory" in done.stderr
    before = machine.path("/proc/sys/kernel/random/boot_id").read_text()
    connection = Connection.open(address, "root", "secret-pw")
    connection.run("reboot", kill_after=5)
    connection.close()
    deadline = time.monotonic() + 20
    while machine.boots < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert machine.boots == 2
    assert run(machine, "cat /root/note") == (0, "kept\n")
    assert machine.path("/proc/sys/kernel/random/boot_id").read_text() != before
    workdir = machine.workdir
    assert sandbox_command("stop", address, env={}).returncode == 0
    assert not workdir.exists()
    assert sandbox_command("list", env={}).stdout == ""
    assert sandbox_command("stop", address, env={}).returncode == 0  # twice is fine


def test_a_failed_start_says_why(tmp_path):
    with pytest.raises(RuntimeError) as failure:
        start_machine(tmp_path / "m", tmp_path / "cache", password="pw", user="no such user!")
    assert "first-boot setup failed" in str(failure.value)
    assert "useradd" in str(failure.value)  # the script's own stderr
    assert not (tmp_path / "m").exists()
    with pytest.raises(ValueError, match="newline"):
        start_machine(tmp_path / "n", tmp_path / "cache", password="two\nlines")


def machine_processes(init: int) -> list[int]:
    """Host pids of the processes in the PID namespace of the machine's pid 1."""
    try:
        namespace = os.readlink(f"/proc/{init}/ns/pid")
    except FileNotFoundError:
        return []
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/ns/pid") == namespace:
                found.append(int(pid))
    return found


def wait_until(condition, timeout: float = 20) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_machine_ends_with_the_process_that_started_it(tmp_path):
    script = textwrap.dedent(f"""\
        import sys, time
        from pathlib import Path
        from pytest_spread.backends.sandbox import start_machine
        machine = start_machine(Path({str(tmp_path / "m")!r}), Path({str(tmp_path / "c")!r}),
                                password="pw")
        print(machine.pid, flush=True)
        time.sleep(300)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None
        init = int(owner.stdout.readline())
        assert machine_processes(init)
        owner.kill()
        owner.wait()
        assert wait_until(lambda: not machine_processes(init))
        assert wait_until(lambda: not (tmp_path / "m").exists())
    finally:
        owner.kill()
        owner.wait()
        if owner.stdout is not None:
            owner.stdout.close()


def test_stop_cleans_up_after_a_dead_supervisor(sandbox_state_dir):
    done = sandbox_command("start", env={"SPREAD_PASSWORD": "pw"})
    assert done.returncode == 0, done.stderr
    address = done.stdout.strip()
    machine = attach(address)
    init = machine.pid
    record = json.loads((sandbox_state_dir / f"{machine.port}.json").read_text())
    assert sandbox_state.kill_verified(record["pid"], record["start"])
    assert wait_until(lambda: not machine_processes(init))  # the machine goes with it
    assert "stale" in sandbox_command("list", env={}).stdout
    assert sandbox_command("stop", "--all", env={}).returncode == 0
    assert not machine.workdir.exists()
    assert sandbox_command("list", env={}).stdout == ""


def test_pid_one_holds_nothing_of_the_host(machine):
    status, output = run(
        machine, "for fd in /proc/1/fd/*; do readlink $fd; done; cat /proc/1/environ"
    )
    assert status == 0, output
    links = output.splitlines()[:-1]
    assert all(
        link in ("/dev/null", "/run/spread-sandbox/sshd.log") or link.startswith("socket:")
        for link in links
    ), links
    assert "PASSWORD" not in output

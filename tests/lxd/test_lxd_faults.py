"""LXD faults: a missing image, the daemon stopped mid-run. Clear errors, nothing left."""

from __future__ import annotations

import subprocess
import time


def test_missing_image_is_a_clear_fatal_error(lxd_project):
    lxd_project.write("- SYS_A:\n    image: local:no-such-image\n", {"t": "summary: t\n"})
    result = lxd_project.spread("-v")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "cannot launch lxd container: local:no-such-image not found" in out
    assert out.count("Allocating lxd:") == 1  # fatal: not retried
    assert "Traceback" not in out
    assert lxd_project.containers() == []


def test_daemon_stopped_mid_run(lxd_project_alone):
    project = lxd_project_alone
    project.write("- SYS_A:\n    image: debian-12\n", {"slow": "summary: s\nexecute: sleep 120\n"})
    run = project.popen("-v")
    assert run.stdout is not None
    seen = ""
    for line in run.stdout:
        seen += line
        if "Executing lxd:" in line:
            break
    time.sleep(1)
    stopped = subprocess.run(["lxd", "shutdown", "--timeout=60"], capture_output=True, text=True)
    assert stopped.returncode == 0, stopped.stderr
    rest, _ = run.communicate(timeout=180)
    out = seen + rest
    assert run.returncode != 0, out
    assert "Traceback" not in out
    # The job's machine went away with the daemon; discarding it says why it could not.
    assert f"Error executing lxd:{project.system('a')}:tests/main/slow" in out, out
    assert "cannot discard lxd container: cannot reach the LXD daemon" in out, out
    assert "Failed tasks: 1" in out

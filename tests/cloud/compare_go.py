"""Spread's Go tool and pytest-spread against the same local Google and Humbox APIs.

    .venv/bin/python -m tests.cloud.compare_go [/tmp/go-spread/bin/spread]

Runs one project with each tool against one fake cloud and prints the
requests each made (consecutive repeats, i.e. polls, folded; names of
instances and operations replaced by placeholders) and the outcome. The Go
tool reaches https://www.googleapis.com through tls_proxy.TLSProxy
(HTTPS_PROXY and SSL_CERT_FILE); Humbox's location is a URL already. Not a
test: it needs the Go tool (/work/shared/tools/build-go-spread).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from .google_api import FakeGoogle
from .humbox_api import FakeHumbox
from .server import FakeApi
from .tls_proxy import TLSProxy

PROJECT = """\
project: compare
path: /srv/compare
backends:
{backend}
suites:
    tests/:
        summary: s
"""


def write_project(directory: Path, backend: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    text = PROJECT.format(backend=textwrap.indent(textwrap.dedent(backend), "    "))
    (directory / "spread.yaml").write_text(text)
    for name in ("a", "b"):
        (directory / "tests" / name).mkdir(parents=True, exist_ok=True)
        (directory / "tests" / name / "task.yaml").write_text("summary: t\nexecute: echo ok\n")


def sequence(api: FakeApi) -> list[str]:
    """The requests made, placeholders for generated names, polls folded."""
    folded: list[str] = []
    for method, path in api.requests:
        path = re.sub(r"[a-z]{3}\d{6}-\d{6}", "<instance>", path)
        path = re.sub(r"operation-[0-9a-f-]+", "<operation>", path)
        path = re.sub(r"/v1/servers/hb[0-9a-f]+", "/v1/servers/<name>", path)
        path = re.sub(r"start=\d+", "start=<n>", path)
        line = f"{method} {path}"
        if not folded or folded[-1] != line:
            folded.append(line)
    return folded


def created(api: FakeApi) -> dict[str, object]:
    """The body of the first create request, generated values left out."""
    for (method, path), body in zip(api.requests, api.bodies, strict=True):
        if method == "POST" and re.search(r"/instances$|/v1/servers$", path):
            params = json.loads(body)
            params.pop("name", None)
            for item in params.get("metadata", {}).get("items", []):
                item["value"] = "<script>"
            for key in ("password",):
                params.get("labels", {}).pop(key, None) and params["labels"].update({key: "<pw>"})
                params.get("custom", {}).pop(key, None) and params["custom"].update({key: "<pw>"})
            if "password" in params:
                params["password"] = "<pw>"
            return dict(params)
    return {}


def run(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str, float]:
    start = time.monotonic()
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - start


def compare(
    name: str,
    api: FakeApi,
    go: list[str],
    ours: list[str],
    where: Path,
    go_env: dict[str, str],
    our_env: dict[str, str],
) -> None:
    results: dict[str, list[str]] = {}
    bodies: dict[str, list[str]] = {}
    for tool, command, env in (("go", go, go_env), ("python", ours, our_env)):
        api.requests.clear()
        api.bodies.clear()
        status, output, seconds = run(command, where, env)
        results[tool] = sequence(api)
        bodies[tool] = json.dumps(created(api), indent=1, sort_keys=True).splitlines()
        left = len(getattr(api, "instances", getattr(api, "servers", {})))
        print(f"== {name} / {tool}: exit {status}, {seconds:.1f} s, {left} left on the server")
        if status != 0:
            print(textwrap.indent(output[-3000:], "   | "))
        print(textwrap.indent("\n".join(results[tool]), "    "))
    diff = list(difflib.unified_diff(results["go"], results["python"], "go", "python", lineterm=""))
    print(f"== {name}: " + ("same requests" if not diff else "differences:"))
    print(textwrap.indent("\n".join(diff), "    "))
    diff = list(difflib.unified_diff(bodies["go"], bodies["python"], "go", "python", lineterm=""))
    print(f"== {name} create request: " + ("same" if not diff else "differences:"))
    print(textwrap.indent("\n".join(diff), "    "))


def main(argv: list[str]) -> int:
    go_spread = argv[0] if argv else "/tmp/go-spread/bin/spread"
    base = Path(tempfile.mkdtemp(prefix="compare-go-"))
    plain = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "NO_PROXY": "", "USER": "tester"}
    python = [sys.executable, "-m", "pytest_spread", "-v"]

    google = FakeGoogle(base / "google")
    proxy = TLSProxy(base, ["www.googleapis.com"], int(google.url.rsplit(":", 1)[1]))
    try:
        key = google.key()
        project = base / "google-project"
        write_project(
            project,
            """\
            google:
                key: '$(HOST: echo "$SPREAD_GOOGLE_KEY")'
                location: proj/zone-a
                systems:
                    - ubuntu-22.04-64
            """,
        )
        go_env = {
            **plain,
            "HOME": str(base),
            "SPREAD_GOOGLE_KEY": key,
            "HTTPS_PROXY": proxy.url,
            "SSL_CERT_FILE": str(proxy.ca_file),
        }
        our_env = {
            **os.environ,
            "SPREAD_GOOGLE_KEY": key,
            "SPREAD_GOOGLE_API_URL": google.url,
            "NO_PROXY": "127.0.0.1",
            "USER": "tester",
        }
        compare("google", google, [go_spread, "-v"], python, project, go_env, our_env)
    finally:
        proxy.close()
        google.close()

    humbox = FakeHumbox(base / "humbox")
    try:
        project = base / "humbox-project"
        write_project(
            project,
            f"""\
            humbox:
                key: '$(HOST: echo "$HUMBOX_KEY")'
                location: {humbox.location}
                systems:
                    - ubuntu-22.04
            """,
        )
        go_env = {**plain, "HOME": str(base), "HUMBOX_KEY": humbox.key}
        our_env = {
            **os.environ,
            "HUMBOX_KEY": humbox.key,
            "NO_PROXY": "127.0.0.1",
            "USER": "tester",
        }
        compare("humbox", humbox, [go_spread, "-v"], python, project, go_env, our_env)
    finally:
        humbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A local HTTP API server for the cloud backend tests: routes, faults, recorded requests.

Each fake cloud (google_api.py, humbox_api.py...) is a FakeApi with its own
routes; it listens on 127.0.0.1 only, serves from threads of the test
process, and hands out sandbox machines (pytest_spread.backends.sandbox) as
its instances. `fail()` injects faults: the next matching requests get the
given status and body instead of their real answer.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import paramiko

from pytest_spread.backends import sandbox


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {key: values[0] for key, values in parse_qs(self.body.decode()).items()}


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes or str
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[..., Reply]


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    reply: Reply
    times: int  # how many requests it answers; -1: all


class FakeApi:
    """An HTTP server on 127.0.0.1 with regex routes, faults and a request log."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []  # (method, path with query)
        self.bodies: list[bytes] = []
        self.lock = threading.RLock()
        self.machines: dict[str, Any] = {}  # sandbox machines by instance name
        self.preexisting: set[Any] = set()  # instances a test put there itself
        self._machine_count = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + r"\Z"), handler))

    def fail(
        self,
        method: str,
        pattern: str,
        status: int,
        body: Any = None,
        times: int = 1,
        **headers: str,
    ) -> None:
        """The next `times` requests matching get this answer instead (-1: all of them)."""
        with self.lock:
            reply = Reply(status, body, dict(headers))
            self.faults.append(Fault(method, re.compile(pattern), reply, times))

    def calls(self, method: str, pattern: str) -> list[str]:
        """The paths of the recorded requests matching."""
        regex = re.compile(pattern)
        return [path for m, path in self.requests if m == method and regex.search(path)]

    def live(self) -> set[Any]:
        """The instances (servers) the fake holds now; each fake says where they are."""
        raise NotImplementedError

    def leftovers(self) -> set[Any]:
        """Instances that runs created and left behind."""
        with self.lock:
            return self.live() - self.preexisting

    # -- machines ----------------------------------------------------------------

    def start_machine(self, password: str) -> Any:
        """A sandbox machine taking root logins with `password`."""
        with self.lock:
            self._machine_count += 1
            workdir = self.workdir / f"m{self._machine_count}"
            # The shared host key is made on first use, by one thread only.
            sandbox.host_key(self.workdir / "cache")
        return sandbox.start_machine(workdir, self.workdir / "cache", password=password)

    def run_detached(self, machine: Any, password: str, script: str) -> bool:
        """Start `script` as root in the machine, detached from the SSH session.

        Boot scripts HUP sshd (`pkill -o -HUP sshd`), which may be the very
        session that started them; detached, they run to their end anyway.
        False when the machine went away meanwhile.
        """
        host, port = machine.address.split(":")
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect(
                host, int(port), "root", password, look_for_keys=False, allow_agent=False
            )
            command = (
                "cat > /root/.boot-script && "
                "setsid -f bash /root/.boot-script </dev/null >/root/.boot-log 2>&1"
            )
            stdin, stdout, _ = client.exec_command(command)
            stdin.write(script)
            stdin.channel.shutdown_write()
            return bool(stdout.channel.recv_exit_status() == 0)
        except (OSError, EOFError, paramiko.SSHException):
            return False
        finally:
            client.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with self.lock:
            machines = list(self.machines.values())
            self.machines.clear()
        for machine in machines:
            machine.stop()

    # -- HTTP --------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        with self.lock:
            self.requests.append((request.method, _with_query(request)))
            self.bodies.append(request.body)
            for fault in self.faults:
                if fault.method == request.method and fault.pattern.search(request.path):
                    if fault.times > 0:
                        fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                    return fault.reply
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                return handler(request, *match.groups())
        return Reply(404, {"error": {"code": 404, "message": f"no route for {request.path}"}})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                query = {key: values[0] for key, values in parse_qs(url.query).items()}
                headers = {key.lower(): value for key, value in self.headers.items()}
                request = Request(self.command, url.path, query, headers, body)
                try:
                    reply = api.handle(request)
                except Exception as exc:  # a bug in a fake: show it in the client's error
                    reply = Reply(599, {"error": {"message": f"fake server bug: {exc!r}"}})
                data = reply.body
                if not isinstance(data, (bytes, str)):
                    data = b"" if data is None else json.dumps(data)
                payload = data.encode() if isinstance(data, str) else data
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in reply.headers.items():
                    self.send_header(key.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return RequestHandler


def _with_query(request: Request) -> str:
    if not request.query:
        return request.path
    return request.path + "?" + "&".join(f"{k}={v}" for k, v in sorted(request.query.items()))


def token() -> str:
    return secrets.token_urlsafe(24)

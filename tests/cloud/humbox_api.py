"""A local Humbox service: its three endpoints, basic auth, sandbox machines as servers."""

from __future__ import annotations

import base64
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_spread.backends import sandbox

from .server import FakeApi, Reply, Request


class FakeHumbox(FakeApi):
    """Humbox for one account; `servers` maps names to their JSON."""

    def __init__(self, workdir: Path, account: str = "tester") -> None:
        super().__init__(workdir)
        self.account = account
        self.key = "hbx-" + secrets.token_hex(16)
        self.servers: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []  # the request bodies of created servers
        self.unreachable = False  # servers get an address nobody listens on
        self.route("GET", "/v1/servers", self._list)
        self.route("POST", "/v1/servers", self._create)
        self.route("DELETE", r"/v1/servers/([^/]+)", self._delete)

    def live(self) -> set[Any]:
        return set(self.servers)

    @property
    def location(self) -> str:
        return self.url.replace("http://", f"http://{self.account}@")

    def _denied(self, request: Request) -> Reply | None:
        expected = base64.b64encode(f"{self.account}:{self.key}".encode()).decode()
        if request.headers.get("authorization") == f"Basic {expected}":
            return None
        return Reply(401, {"error": "invalid account or key"})

    def _list(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        with self.lock:
            return Reply(200, {"servers": list(self.servers.values())})

    def _create(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        params = request.json()
        if not params.get("image") or not params.get("password"):
            return Reply(400, {"error": "image and password are required"})
        name = f"hb{secrets.token_hex(3)}"
        if self.unreachable:
            address = f"127.0.0.1:{sandbox.free_port()}"
        else:
            machine = self.start_machine(params["password"])
            address = machine.address
            with self.lock:
                self.machines[name] = machine
        server = {"name": name, "birth": datetime.now(timezone.utc).isoformat(), "ssh": address}
        with self.lock:
            self.servers[name] = server
            self.created.append(params)
        return Reply(200, {"server": server})

    def _delete(self, request: Request, name: str) -> Reply:
        if denied := self._denied(request):
            return denied
        with self.lock:
            server = self.servers.pop(name, None)
            machine = self.machines.pop(name, None)
        if machine is not None:
            machine.stop()
        if server is None:
            return Reply(404, {"error": f"server {name} not found"})
        return Reply(200, {})

"""A local OpenStack: Keystone v3 tokens and catalogue, Nova, Neutron and Glance subsets.

One HTTP server with a path prefix per service (/identity/v3, /compute/v2.1,
/network, /image), as a devstack behind one proxy looks. A server boots as a
sandbox machine started with a throwaway password; the `runcmd` lines of its
cloud-config user data then really run in it over SSH (setting root's hashed
password), and the console output gets cloud-init's final line and the
ready marker. The server's address is the machine's `127.0.0.1:<port>`.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from .server import FakeApi, Reply, Request, token

SERVER = r"/compute/v2.1/servers/([0-9a-f-]+)"
FINISHED = "/var/lib/cloud/instance/boot-finished"  # cloud-init writes it at the end


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, kind: str, message: str) -> Reply:
    return Reply(status, {kind: {"message": message, "code": status}})


class FakeOpenStack(FakeApi):
    """One project of one cloud; `servers` by id."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.username, self.password = "spread", "os-" + secrets.token_hex(12)
        self.app_credential = (secrets.token_hex(8), "app-" + secrets.token_hex(12))
        self.tokens: set[str] = set()
        self.servers: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []  # the create requests
        self.flavors = [
            {"id": "f1", "name": "m1.small"},
            {"id": "f2", "name": "m1.medium"},
            {"id": "f3", "name": "shared.xsmall"},
        ]
        self.networks = [
            {"id": "n-ext", "name": "ext_net", "router:external": True},
            {"id": "n-int", "name": "private", "router:external": False},
            {"id": "n-other", "name": "other", "router:external": False},
        ]
        self.groups = [{"id": "g1", "name": "default"}, {"id": "g2", "name": "ssh"}]
        self.images = [
            {
                "id": "i1",
                "name": "ubuntu-22.04-server-cloudimg-amd64-20260101",
                "status": "active",
                "created_at": "2026-01-01T00:00:00Z",
                "min_disk": 3,
            },
            {
                "id": "i2",
                "name": "ubuntu-22.04-server-cloudimg-amd64-20260301",
                "status": "active",
                "created_at": "2026-03-01T00:00:00Z",
                "min_disk": 3,
            },
            {
                "id": "i3",
                "name": "debian-12",
                "status": "active",
                "created_at": "2026-02-01T00:00:00Z",
                "min_disk": 0,
            },
        ]
        self.page_size = 2
        self.build_delay = 0.0
        self.no_address = False
        self.fault = ""  # servers go to ERROR with this fault message
        self.route("POST", "/identity/v3/auth/tokens", self._auth)
        self.route("GET", "/compute/v2.1/flavors", self._flavors)
        self.route("GET", "/network/v2.0/networks", self._list("networks"))
        self.route("GET", "/network/v2.0/security-groups", self._list("security_groups"))
        self.route("GET", "/image/v2/images", self._images)
        self.route("POST", "/compute/v2.1/servers", self._create)
        self.route("GET", "/compute/v2.1/servers/detail", self._servers)
        self.route("GET", SERVER, self._get)
        self.route("DELETE", SERVER, self._delete)
        self.route("POST", SERVER + "/action", self._action)

    def openrc(self, password: str = "") -> str:
        return (
            f"OS_AUTH_URL={self.url}/identity\n"
            f"OS_USERNAME={self.username}\n"
            f"OS_PASSWORD='{password or self.password}'\n"
            "OS_PROJECT_NAME=spread-tests\n"
            "OS_USER_DOMAIN_NAME=Default\n"
            "OS_PROJECT_DOMAIN_NAME=Default\n"
            "OS_REGION_NAME=RegionOne\n"
            "# comments and blank lines are fine\n\n"
        )

    def live(self) -> set[Any]:
        return set(self.servers)

    def add_server(self, name: str, metadata: dict[str, str], age: timedelta) -> str:
        ident = secrets.token_hex(16)
        created = _iso(datetime.now(timezone.utc) - age)
        with self.lock:
            self.servers[ident] = {
                "id": ident,
                "name": name,
                "status": "ACTIVE",
                "metadata": metadata,
                "created": created,
                "addresses": {},
            }
            self.preexisting.add(ident)
        return ident

    # -- Keystone --------------------------------------------------------------------

    def _auth(self, request: Request) -> Reply:
        identity = request.json()["auth"]["identity"]
        user = identity.get("password", {}).get("user", {})
        credential = identity.get("application_credential", {})
        if "application_credential" in identity.get("methods", []):
            valid = (credential.get("id"), credential.get("secret")) == self.app_credential
        else:
            valid = (user.get("name"), user.get("password")) == (self.username, self.password)
        if not valid:
            return _error(401, "error", "The request you have made requires authentication.")
        issued = token()
        self.tokens.add(issued)
        catalog = [
            {
                "type": kind,
                "name": name,
                "endpoints": [
                    {
                        "interface": "public",
                        "region": "RegionOne",
                        "region_id": "RegionOne",
                        "url": f"{self.url}{path}",
                    },
                    {
                        "interface": "internal",
                        "region": "RegionOne",
                        "region_id": "RegionOne",
                        "url": "http://192.0.2.1:9999",
                    },
                ],
            }
            for kind, name, path in [
                ("identity", "keystone", "/identity"),
                ("compute", "nova", "/compute/v2.1"),
                ("network", "neutron", "/network"),
                ("image", "glance", "/image"),
            ]
        ]
        expires = _iso(datetime.now(timezone.utc) + timedelta(hours=1))
        return Reply(
            201, {"token": {"catalog": catalog, "expires_at": expires}}, {"X-Subject-Token": issued}
        )

    def _denied(self, request: Request) -> Reply | None:
        if request.headers.get("x-auth-token") in self.tokens:
            return None
        return _error(401, "error", "The request you have made requires authentication.")

    # -- Nova, Neutron, Glance -------------------------------------------------------

    def _flavors(self, request: Request) -> Reply:
        return self._denied(request) or Reply(200, {"flavors": self.flavors})

    def _list(self, key: str):
        def handler(request: Request) -> Reply:
            items = {"networks": self.networks, "security_groups": self.groups}[key]
            return self._denied(request) or Reply(200, {key: items})

        return handler

    def _images(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        start = int(request.query.get("marker", "0"))
        body: dict[str, Any] = {"images": self.images[start : start + self.page_size]}
        if start + self.page_size < len(self.images):
            body["next"] = f"/v2/images?marker={start + self.page_size}"
        return Reply(200, body)

    def _create(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        params = request.json()["server"]
        if params["flavorRef"] not in {f["id"] for f in self.flavors}:
            return _error(400, "badRequest", f"Flavor {params['flavorRef']} could not be found.")
        ident = f"{secrets.randbits(32):08x}-0000-4000-8000-{secrets.randbits(48):012x}"
        server = {
            "id": ident,
            "name": params["name"],
            "status": "BUILD",
            "metadata": params.get("metadata", {}),
            "created": _iso(datetime.now(timezone.utc)),
            "addresses": {},
            "console": "",
        }
        with self.lock:
            self.servers[ident] = server
            self.created.append(params)
        threading.Thread(target=self._build, args=(server, params), daemon=True).start()
        return Reply(202, {"server": {"id": ident, "links": [], "OS-DCF:diskConfig": "MANUAL"}})

    def _build(self, server: dict[str, Any], params: dict[str, Any]) -> None:
        time.sleep(self.build_delay)
        if self.fault:
            with self.lock:
                server["status"] = "ERROR"
                server["fault"] = {"code": 500, "message": self.fault}
            return
        bootstrap = secrets.token_hex(8)
        machine = self.start_machine(bootstrap)
        with self.lock:
            if server["id"] not in self.servers:
                machine.stop()
                return
            self.machines[server["id"]] = machine
            server["status"] = "ACTIVE"
            if not self.no_address:
                network = next(
                    (n["name"] for n in self.networks if n["id"] == params["networks"][0]["uuid"]),
                    "private",
                )
                server["addresses"] = {
                    network: [{"addr": machine.address, "version": 4, "OS-EXT-IPS:type": "fixed"}]
                }
        config = yaml.safe_load(base64.b64decode(params.get("user_data", "")).decode()) or {}
        commands = [
            *(config.get("runcmd") or []),
            f"mkdir -p {FINISHED.rsplit('/', 1)[0]}",
            f"touch {FINISHED}",
        ]
        self.run_detached(machine, bootstrap, "\n".join(commands) + "\n")

    def _servers(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        with self.lock:
            return Reply(200, {"servers": [self._view(s) for s in self.servers.values()]})

    def _get(self, request: Request, ident: str) -> Reply:
        if denied := self._denied(request):
            return denied
        with self.lock:
            server = self.servers.get(ident)
            if server is None:
                return _error(404, "itemNotFound", "Instance could not be found.")
            return Reply(200, {"server": self._view(server)})

    def _delete(self, request: Request, ident: str) -> Reply:
        if denied := self._denied(request):
            return denied
        with self.lock:
            server = self.servers.pop(ident, None)
            machine = self.machines.pop(ident, None)
        if machine is not None:
            machine.stop()
        if server is None:
            return _error(404, "itemNotFound", "Instance could not be found.")
        return Reply(204)

    def _action(self, request: Request, ident: str) -> Reply:
        if denied := self._denied(request):
            return denied
        with self.lock:
            server = self.servers.get(ident)
            if server is None:
                return _error(404, "itemNotFound", "Instance could not be found.")
            machine = self.machines.get(ident)
        if "os-getConsoleOutput" in request.json():
            output = "[    0.000000] Linux version 6.8.0\n"
            if machine is not None and machine.path(FINISHED).exists():
                # What the runcmd lines write to /dev/ttyS0 on a real server.
                output += "Cloud-init v. 24.1 finished\nMACHINE-IS-READY\n"
            return Reply(200, {"output": output})
        return _error(400, "badRequest", "unsupported action")

    def _view(self, server: dict[str, Any]) -> dict[str, Any]:
        return dict(server)

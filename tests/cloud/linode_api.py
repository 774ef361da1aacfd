"""A local Linode API v4: instances, disks, configs, ips, boot, events and the catalogues.

Token auth (`Authorization: Bearer`); v4's paged list shape (`data`, `page`,
`pages`, `results`) and error shape (`errors: [{reason, field}]`). A server
boots as a sandbox machine whose root password is its root disk's
`root_pass`; its public IPv4 is the machine's `127.0.0.1:<port>`.
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from .server import FakeApi, Reply, Request

INSTANCE = r"/v4/linode/instances/(\d+)"
TYPES = [
    {"id": "g6-nanode-1", "label": "Nanode 1GB", "memory": 1024, "disk": 25600},
    {"id": "g6-standard-1", "label": "Linode 2GB", "memory": 2048, "disk": 51200},
]
REGIONS = [
    {"id": "us-west", "label": "Fremont, CA", "country": "us"},
    {"id": "eu-west", "label": "London, UK", "country": "uk"},
]
IMAGES = [
    {"id": "linode/ubuntu22.04", "label": "Ubuntu 22.04 LTS", "vendor": "Ubuntu"},
    {"id": "linode/debian12", "label": "Debian 12", "vendor": "Debian"},
]
KERNELS = [
    {"id": "linode/latest-64bit", "label": "Latest 64 bit (6.2.9-x86_64-linode160)"},
    {"id": "linode/grub2", "label": "GRUB 2"},
]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _error(status: int, reason: str, field: str = "") -> Reply:
    error = {"reason": reason, **({"field": field} if field else {})}
    return Reply(status, {"errors": [error]})


class FakeLinode(FakeApi):
    """One Linode account: `instances` by id, with their disks and configs."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.token = secrets.token_hex(32)
        self.instances: dict[int, dict[str, Any]] = {}
        self.disks: dict[int, dict[int, dict[str, Any]]] = {}
        self.configs: dict[int, dict[int, dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.ids = itertools.count(1000)
        self.no_address = False  # servers have no public IPv4
        self.failing_boot = False  # boot events fail
        for path, items in (
            ("/v4/linode/types", TYPES),
            ("/v4/regions", REGIONS),
            ("/v4/images", IMAGES),
            ("/v4/linode/kernels", KERNELS),
        ):
            self.route("GET", path, lambda request, items=items: self._page(request, items))
        self.route("GET", "/v4/linode/instances", self._list)
        self.route("POST", "/v4/linode/instances", self._create)
        self.route("GET", INSTANCE, self._get)
        self.route("PUT", INSTANCE, self._update)
        self.route("DELETE", INSTANCE, self._delete)
        self.route("POST", INSTANCE + "/disks", self._create_disk)
        self.route("GET", INSTANCE + r"/disks/(\d+)", self._get_disk)
        self.route("POST", INSTANCE + "/configs", self._create_config)
        self.route("GET", INSTANCE + "/ips", self._ips)
        self.route("POST", INSTANCE + "/boot", self._boot)
        self.route("GET", "/v4/account/events", self._events)

    def live(self) -> set[Any]:
        return set(self.instances)

    def add_instance(self, label: str, tags: list[str], age: timedelta) -> int:
        """A server an earlier run (or someone else) left."""
        ident = next(self.ids)
        created = (datetime.now(timezone.utc) - age).strftime("%Y-%m-%dT%H:%M:%S")
        with self.lock:
            self.instances[ident] = self._instance(ident, label, tags, "running", created)
            self.preexisting.add(ident)
        return ident

    # -- helpers ---------------------------------------------------------------------

    def _denied(self, request: Request) -> Reply | None:
        if request.headers.get("authorization") == f"Bearer {self.token}":
            return None
        return _error(401, "Invalid Token")

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Reply:
        size = int(request.query.get("page_size", "100"))
        page = int(request.query.get("page", "1"))
        pages = max(1, -(-len(items) // size))
        chunk = items[(page - 1) * size : page * size]
        return Reply(200, {"data": chunk, "page": page, "pages": pages, "results": len(items)})

    def _instance(
        self, ident: int, label: str, tags: list[str], status: str, created: str
    ) -> dict[str, Any]:
        return {
            "id": ident,
            "label": label,
            "status": status,
            "created": created,
            "updated": created,
            "type": "g6-standard-1",
            "region": "us-west",
            "image": None,
            "tags": tags,
            "group": "",
            "ipv4": [],
        }

    def _found(self, request: Request, ident: str) -> tuple[dict[str, Any] | None, Reply | None]:
        if denied := self._denied(request):
            return None, denied
        instance = self.instances.get(int(ident))
        if instance is None:
            return None, _error(404, "Not found")
        return instance, None

    # -- instances -------------------------------------------------------------------

    def _list(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        with self.lock:
            items = [json.loads(json.dumps(i)) for i in self.instances.values()]
        return self._page(request, items)

    def _create(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        params = request.json()
        if params.get("type") not in {t["id"] for t in TYPES}:
            return _error(400, "A valid plan type by that ID was not found", "type")
        if params.get("region") not in {r["id"] for r in REGIONS}:
            return _error(400, "region is not valid", "region")
        ident = next(self.ids)
        with self.lock:
            instance = self._instance(
                ident,
                params.get("label") or f"linode{ident}",
                params.get("tags", []),
                "offline",
                _now(),
            )
            instance["type"], instance["region"] = params["type"], params["region"]
            self.instances[ident] = instance
            self.disks[ident], self.configs[ident] = {}, {}
        return Reply(200, instance)

    def _get(self, request: Request, ident: str) -> Reply:
        instance, error = self._found(request, ident)
        return error or Reply(200, instance)

    def _update(self, request: Request, ident: str) -> Reply:
        instance, error = self._found(request, ident)
        if error or instance is None:
            return error or Reply(500)
        with self.lock:
            instance.update({k: v for k, v in request.json().items() if k in ("label", "tags")})
        return Reply(200, instance)

    def _delete(self, request: Request, ident: str) -> Reply:
        _instance, error = self._found(request, ident)
        if error:
            return error
        with self.lock:
            self.instances.pop(int(ident), None)
            machine = self.machines.pop(ident, None)
        if machine is not None:
            machine.stop()
        return Reply(200, {})

    # -- disks, configs, ips, boot, events -------------------------------------------

    def _create_disk(self, request: Request, ident: str) -> Reply:
        _instance, error = self._found(request, ident)
        if error:
            return error
        params = request.json()
        if "image" in params and params["image"] not in {i["id"] for i in IMAGES}:
            return _error(400, "image is not valid", "image")
        disk = {
            "id": next(self.ids),
            "label": params.get("label", ""),
            "size": params.get("size", 0),
            "filesystem": params.get("filesystem", "ext4"),
            "status": "not ready",
            "created": _now(),
        }
        with self.lock:
            self.disks[int(ident)][disk["id"]] = {**disk, "root_pass": params.get("root_pass")}

        def ready() -> None:
            # The root disk's machine starts now: its address is the server's IPv4.
            machine = self.start_machine(params["root_pass"]) if params.get("root_pass") else None
            time.sleep(0.05)
            with self.lock:
                disk_ = self.disks.get(int(ident), {}).get(disk["id"])
                if machine is not None and int(ident) not in self.instances:
                    machine.stop()  # deleted meanwhile
                    return
                if machine is not None:
                    self.machines[ident] = machine
                    self.instances[int(ident)]["ipv4"] = [machine.address]
                if disk_ is not None:
                    disk_["status"] = "ready"

        threading.Thread(target=ready, daemon=True).start()
        return Reply(200, disk)

    def _get_disk(self, request: Request, ident: str, disk: str) -> Reply:
        _, error = self._found(request, ident)
        if error:
            return error
        with self.lock:
            found = self.disks[int(ident)].get(int(disk))
            if found is None:
                return _error(404, "Not found")
            return Reply(200, {k: v for k, v in found.items() if k != "root_pass"})

    def _create_config(self, request: Request, ident: str) -> Reply:
        _, error = self._found(request, ident)
        if error:
            return error
        params = request.json()
        if params.get("kernel") not in {k["id"] for k in KERNELS}:
            return _error(400, "kernel is not valid", "kernel")
        config = {"id": next(self.ids), **params}
        with self.lock:
            self.configs[int(ident)][config["id"]] = config
        return Reply(200, config)

    def _ips(self, request: Request, ident: str) -> Reply:
        instance, error = self._found(request, ident)
        if error or instance is None:
            return error or Reply(500)
        public = (
            []
            if self.no_address
            else [
                {"address": address, "type": "ipv4", "public": True} for address in instance["ipv4"]
            ]
        )
        return Reply(200, {"ipv4": {"public": public, "private": [], "shared": []}})

    def _boot(self, request: Request, ident: str) -> Reply:
        instance, error = self._found(request, ident)
        if error or instance is None:
            return error or Reply(500)
        config = self.configs[int(ident)].get(request.json().get("config_id"))
        if config is None:
            return _error(400, "config_id is not valid", "config_id")
        event = {
            "id": next(self.ids),
            "action": "linode_boot",
            "status": "started",
            "entity": {"id": int(ident), "type": "linode", "label": instance["label"]},
            "created": _now(),
        }
        with self.lock:
            self.events.append(event)
            instance["status"] = "booting"
        threading.Thread(target=self._start, args=(ident, config, event), daemon=True).start()
        return Reply(200, {})

    def _start(self, ident: str, config: dict[str, Any], event: dict[str, Any]) -> None:
        if self.failing_boot:
            with self.lock:
                event["status"] = "failed"
                self.instances.get(int(ident), {})["status"] = "offline"
            return
        time.sleep(0.05)
        with self.lock:
            instance = self.instances.get(int(ident))
            if instance is not None and ident in self.machines:
                instance["status"] = "running"
                event["status"] = "finished"

    def _events(self, request: Request) -> Reply:
        if denied := self._denied(request):
            return denied
        wanted = json.loads(request.headers.get("x-filter", "{}"))
        with self.lock:
            events = [
                e
                for e in reversed(self.events)
                if all(
                    (
                        e["entity"].get(key.split(".", 1)[1])
                        if key.startswith("entity.")
                        else e.get(key)
                    )
                    == value
                    for key, value in wanted.items()
                )
            ]
        return self._page(request, events)

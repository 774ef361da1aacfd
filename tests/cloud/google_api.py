"""A local Compute Engine v1 API and OAuth token endpoint, with sandbox machines as instances.

Speaks the request and response shapes the google backend (and Spread's
google.go) use: zones, global images (paged), zone instances (insert, get,
list, delete, serialPort, setMetadata), zone operations, and the service
account JWT bearer flow at /token. A new instance is a sandbox machine
started with a throwaway password; its startup script then really runs in it
over SSH (setting root's password, writing the ready marker to /dev/ttyS2),
and the serial ports read that machine's /dev/ttyS0 and /dev/ttyS2.
The NAT address is the machine's `127.0.0.1:<port>` (Compute gives an IP,
reached on port 22; the sandbox machines share 127.0.0.1).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .server import FakeApi, Reply, Request, token

PROJECTS = "/compute/v1/projects"
ZONE_PATH = PROJECTS + r"/([^/]+)/zones/([^/]+)"


@dataclass
class Instance:
    body: dict[str, Any]
    machine: Any = None
    ready: threading.Event = field(default_factory=threading.Event)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FakeGoogle(FakeApi):
    """Compute Engine for one project and zone, plus public image projects."""

    def __init__(self, workdir: Path, project: str = "proj", zone: str = "zone-a") -> None:
        super().__init__(workdir)
        self.project, self.zone = project, zone
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.email = f"spread-tests@{project}.iam.gserviceaccount.com"
        self.tokens: set[str] = set()
        self.images: dict[str, list[dict[str, Any]]] = {project: [], "ubuntu-os-cloud": []}
        self.page_size = 500
        self.instances: dict[str, Instance] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        self.boot_delay = 0.0  # seconds before a new instance's operation is done
        self.no_address = False  # instances come up without a NAT IP
        self.never_ready = False  # the startup script never runs
        self.operation_error = ""  # message of a failing insert operation
        self.add_image(
            "ubuntu-os-cloud",
            "ubuntu-2204-jammy-v20260101",
            "ubuntu-2204-lts",
            "Canonical, Ubuntu, 22.04 LTS, amd64 jammy image",
        )
        self.route("POST", "/token", self._token)
        self.route("GET", PROJECTS + r"/([^/]+)/zones", self._zones)
        self.route("GET", PROJECTS + r"/([^/]+)/global/images", self._images)
        self.route("POST", ZONE_PATH + "/instances", self._insert)
        self.route("GET", ZONE_PATH + "/instances", self._list)
        self.route("GET", ZONE_PATH + r"/instances/([^/]+)", self._get)
        self.route("DELETE", ZONE_PATH + r"/instances/([^/]+)", self._delete)
        self.route("GET", ZONE_PATH + r"/instances/([^/]+)/serialPort", self._serial)
        self.route("POST", ZONE_PATH + r"/instances/([^/]+)/setMetadata", self._set_metadata)
        self.route("GET", ZONE_PATH + r"/operations/([^/]+)", self._operation)

    # -- set-up for tests ------------------------------------------------------------

    def key(self, private_key: rsa.RSAPrivateKey | None = None) -> str:
        """A service-account key (JSON) whose tokens come from this server."""
        pem = (private_key or self.private_key).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return json.dumps(
            {
                "type": "service_account",
                "project_id": self.project,
                "private_key_id": secrets.token_hex(20),
                "private_key": pem.decode(),
                "client_email": self.email,
                "client_id": "1234567890",
                "auth_uri": f"{self.url}/auth",
                "token_uri": f"{self.url}/token",
            }
        )

    def add_image(self, project: str, name: str, family: str = "", description: str = "") -> None:
        self.images.setdefault(project, []).insert(
            0,
            {
                "kind": "compute#image",
                "name": name,
                "family": family,
                "description": description,
                "status": "READY",
            },
        )

    def live(self) -> set[Any]:
        return set(self.instances)

    def add_instance(self, name: str, labels: dict[str, str], age: timedelta) -> None:
        """An instance some earlier run left (no machine behind it)."""
        created = datetime.now(timezone.utc) - age
        body = self._instance_body(name, {"labels": labels}, created)
        body["status"] = "RUNNING"
        with self.lock:
            self.instances[name] = Instance(body)
            self.preexisting.add(name)

    # -- OAuth -----------------------------------------------------------------------

    def _token(self, request: Request) -> Reply:
        form = request.form()
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return Reply(400, {"error": "unsupported_grant_type"})
        try:
            head, payload, signature = form.get("assertion", "").split(".")
            self.private_key.public_key().verify(
                _unb64(signature),
                f"{head}.{payload}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
            claims = json.loads(_unb64(payload))
        except (ValueError, InvalidSignature):
            return Reply(
                400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            )
        # The audience is Google's token URL (google-auth) or the key's token_uri (Go's
        # oauth2, which the real endpoint accepts too).
        audiences = ("https://oauth2.googleapis.com/token", f"{self.url}/token")
        if claims.get("iss") != self.email or claims.get("aud") not in audiences:
            return Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT."})
        access = "ya29." + token()
        self.tokens.add(access)
        return Reply(200, {"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    def _authorized(self, request: Request) -> Reply | None:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer ") and auth[7:] in self.tokens:
            return None
        return Reply(
            401,
            {
                "error": {
                    "code": 401,
                    "message": "Request is missing required authentication credential.",
                    "errors": [
                        {"message": "Login Required.", "domain": "global", "reason": "required"}
                    ],
                    "status": "UNAUTHENTICATED",
                }
            },
        )

    # -- Compute ---------------------------------------------------------------------

    def _zones(self, request: Request, project: str) -> Reply:
        return self._authorized(request) or Reply(
            200,
            {
                "kind": "compute#zoneList",
                "items": [{"kind": "compute#zone", "name": self.zone, "status": "UP"}],
            },
        )

    def _images(self, request: Request, project: str) -> Reply:
        if denied := self._authorized(request):
            return denied
        if project not in self.images:
            return _not_found(f"projects/{project}")
        start = int(request.query.get("pageToken", "0"))
        items = self.images[project][start : start + self.page_size]
        body: dict[str, Any] = {"kind": "compute#imageList", "items": items}
        if start + self.page_size < len(self.images[project]):
            body["nextPageToken"] = str(start + self.page_size)
        return Reply(200, body)

    def _insert(self, request: Request, project: str, zone: str) -> Reply:
        if denied := self._authorized(request):
            return denied
        params = request.json()
        name = params["name"]
        with self.lock:
            if name in self.instances:
                return Reply(
                    409,
                    {"error": {"code": 409, "message": f"The resource '{name}' already exists"}},
                )
            instance = Instance(self._instance_body(name, params, datetime.now(timezone.utc)))
            self.instances[name] = instance
            operation = self._operation_body(name, "insert", "RUNNING")
            answer = dict(operation)  # as it is now, not as the boot thread changes it
        threading.Thread(target=self._boot, args=(instance, operation), daemon=True).start()
        return Reply(200, answer)

    def _boot(self, instance: Instance, operation: dict[str, Any]) -> None:
        name = instance.body["name"]
        time.sleep(self.boot_delay)
        if self.operation_error:
            with self.lock:
                instance.body["status"] = "TERMINATED"
                operation["error"] = {
                    "errors": [
                        {"code": "ZONE_RESOURCE_POOL_EXHAUSTED", "message": self.operation_error}
                    ]
                }
                operation["status"] = "DONE"
            return
        bootstrap = secrets.token_hex(8)
        machine = self.start_machine(bootstrap)
        with self.lock:
            if name not in self.instances:  # deleted while booting
                machine.stop()
                operation["status"] = "DONE"
                return
            self.machines[name] = machine
            instance.machine = machine
            instance.body["status"] = "RUNNING"
            if not self.no_address:
                access = instance.body["networkInterfaces"][0]["accessConfigs"][0]
                access["natIP"] = machine.address
            operation["status"] = "DONE"
        if not self.never_ready:
            self._run_startup_script(instance, bootstrap)

    def _run_startup_script(self, instance: Instance, bootstrap: str) -> None:
        script = next(
            (
                item["value"]
                for item in instance.body["metadata"].get("items", [])
                if item["key"] == "startup-script"
            ),
            "",
        )
        self.run_detached(instance.machine, bootstrap, script)

    def _list(self, request: Request, project: str, zone: str) -> Reply:
        if denied := self._authorized(request):
            return denied
        with self.lock:
            items = [json.loads(json.dumps(i.body)) for i in self.instances.values()]
        return Reply(200, {"kind": "compute#instanceList", "items": items})

    def _get(self, request: Request, project: str, zone: str, name: str) -> Reply:
        if denied := self._authorized(request):
            return denied
        with self.lock:
            instance = self.instances.get(name)
            if instance is None:
                return _not_found(f"projects/{project}/zones/{zone}/instances/{name}")
            return Reply(200, json.loads(json.dumps(instance.body)))

    def _delete(self, request: Request, project: str, zone: str, name: str) -> Reply:
        if denied := self._authorized(request):
            return denied
        with self.lock:
            instance = self.instances.pop(name, None)
            if instance is None:
                return _not_found(f"projects/{project}/zones/{zone}/instances/{name}")
            machine = self.machines.pop(name, None)
            operation = self._operation_body(name, "delete", "DONE")
        if machine is not None:
            machine.stop()
        return Reply(200, operation)

    def _serial(self, request: Request, project: str, zone: str, name: str) -> Reply:
        if denied := self._authorized(request):
            return denied
        with self.lock:
            instance = self.instances.get(name)
        if instance is None:
            return _not_found(f"projects/{project}/zones/{zone}/instances/{name}")
        device = {"1": "/dev/ttyS0", "3": "/dev/ttyS2"}.get(request.query.get("port", "1"))
        contents = ""
        if instance.machine is not None and device is not None:
            try:
                contents = instance.machine.path(device).read_text()
            except OSError:
                contents = ""
        start = int(request.query.get("start", "0"))
        return Reply(
            200,
            {
                "kind": "compute#serialPortOutput",
                "contents": contents[start:],
                "start": str(start),
                "next": str(len(contents)),
            },
        )

    def _set_metadata(self, request: Request, project: str, zone: str, name: str) -> Reply:
        if denied := self._authorized(request):
            return denied
        body = request.json()
        with self.lock:
            instance = self.instances.get(name)
            if instance is None:
                return _not_found(f"projects/{project}/zones/{zone}/instances/{name}")
            metadata = instance.body["metadata"]
            if body.get("fingerprint") != metadata["fingerprint"]:
                return Reply(
                    412,
                    {
                        "error": {
                            "code": 412,
                            "message": "Supplied fingerprint does not match current metadata "
                            "fingerprint.",
                        }
                    },
                )
            metadata["items"] = body.get("items", [])
            metadata["fingerprint"] = _b64(secrets.token_bytes(8))
            return Reply(200, self._operation_body(name, "setMetadata", "DONE"))

    def _operation(self, request: Request, project: str, zone: str, name: str) -> Reply:
        if denied := self._authorized(request):
            return denied
        with self.lock:
            operation = self.operations.get(name)
            if operation is None:
                return _not_found(f"projects/{project}/zones/{zone}/operations/{name}")
            return Reply(200, dict(operation))

    # -- shapes ----------------------------------------------------------------------

    def _instance_body(
        self, name: str, params: dict[str, Any], created: datetime
    ) -> dict[str, Any]:
        base = f"https://www.googleapis.com{PROJECTS}/{self.project}/zones/{self.zone}"
        metadata = dict(params.get("metadata") or {})
        metadata["fingerprint"] = _b64(secrets.token_bytes(8))
        metadata.setdefault("items", [])
        return {
            "kind": "compute#instance",
            "id": str(secrets.randbits(60)),
            "creationTimestamp": created.astimezone(timezone(timedelta(hours=-8))).isoformat(
                timespec="milliseconds"
            ),
            "name": name,
            "machineType": f"{base}/machineTypes/"
            + str(params.get("machineType", "")).rsplit("/", 1)[-1],
            "status": "PROVISIONING",
            "zone": base,
            "networkInterfaces": [
                {
                    "network": f"https://www.googleapis.com{PROJECTS}/{self.project}/global/networks/default",
                    "networkIP": "10.128.0.2",
                    "name": "nic0",
                    "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "name": "External NAT"}],
                }
            ],
            "disks": params.get("disks", []),
            "metadata": metadata,
            "labels": dict(params.get("labels") or {}),
            "tags": params.get("tags", {}),
            "selfLink": f"{base}/instances/{name}",
            "request": params,
        }

    def _operation_body(self, target: str, kind: str, status: str) -> dict[str, Any]:
        name = f"operation-{int(time.time() * 1000)}-{secrets.token_hex(6)}"
        operation = {
            "kind": "compute#operation",
            "id": str(secrets.randbits(60)),
            "name": name,
            "zone": self.zone,
            "operationType": kind,
            "targetLink": f"{PROJECTS}/{self.project}/zones/{self.zone}/instances/{target}",
            "status": status,
            "progress": 100 if status == "DONE" else 0,
            "insertTime": datetime.now(timezone.utc).isoformat(),
        }
        self.operations[name] = operation
        return operation


def _not_found(resource: str) -> Reply:
    message = f"The resource '{resource}' was not found"
    return Reply(
        404,
        {
            "error": {
                "code": 404,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": "notFound"}],
            }
        },
    )

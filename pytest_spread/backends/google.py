"""The google backend: Compute Engine instances, as Spread's google.go (spread-plus) makes them.

`location` is `<project>/<zone>`; `key` a service-account JSON document or a
path to a credentials file (application default credentials when empty).
Each machine is an instance named after the UTC time of its creation, with a
startup script that sets root's password, enables password logins and writes
a ready marker to the serial port; the script is removed from the metadata
once the marker shows. `SPREAD_GOOGLE_API_URL` points the Compute API
elsewhere (default https://www.googleapis.com); the OAuth token endpoint is
the key's own `token_uri`.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pytest_spread.backends import google_auth
from pytest_spread.backends.base import AllocationError, Machine
from pytest_spread.backends.cloud import InFlight, local_user
from pytest_spread.backends.http import Api, ApiError, Pacing, Response, status_error
from pytest_spread.project.gocompat import format_duration, go_quote, parse_duration
from pytest_spread.project.model import Backend, System

API_URL = "https://www.googleapis.com"
DEFAULT_PLAN = "n1-standard-1"
READY_MARKER = "MACHINE-IS-READY"
WAIT_LIMIT = 180.0  # seconds for an operation, and for the ready marker
GIB = 1 << 30
STARTUP_SCRIPT = """
echo root:{password} | chpasswd

sed -i 's/^\\s*#\\?\\s*\\(PermitRootLogin\\|PasswordAuthentication\\)\\>.*/\\1 yes/' /etc/ssh/sshd_config
sed -i 's/^PermitRootLogin=/#PermitRootLogin=/g' /etc/ssh/sshd_config.d/* || true
sed -i 's/^PasswordAuthentication=/#PasswordAuthentication=/g' /etc/ssh/sshd_config.d/* || true
test -d /etc/ssh/sshd_config.d && echo 'PermitRootLogin=yes' > /etc/ssh/sshd_config.d/00-spread.conf
test -d /etc/ssh/sshd_config.d && echo 'PasswordAuthentication=yes' >> /etc/ssh/sshd_config.d/00-spread.conf

pkill -o -HUP sshd || true

echo -e '\\n{marker}\\n' > /dev/ttyS0 || echo -e '\\n{marker}\\n' > /dev/console
echo -e '\\n{marker}\\n' > /dev/ttyS2
"""  # noqa: E501
IMAGE_PROJECTS = {
    "ubuntu-": "ubuntu-os-cloud",
    "centos-": "centos-cloud",
    "debian-": "debian-cloud",
    "opensuse-": "opensuse-cloud",
    "freebsd-": "freebsd-org-cloud-dev",
}
MONTHS = "jan feb mar apr may jun jul aug sep oct nov dec".split()
NAME_RE = re.compile(r"^([a-z]{3})(\d\d)(\d\d)(\d\d)-(\d{6})$")
LABEL_RE = re.compile(r"^[a-z0-9_-]+$")
TERM_RE = re.compile(r"[a-z]+|[0-9](?:[0-9.]*[0-9])?")


def instance_name(now: datetime) -> str:
    """Spread's name for an instance created at `now` (UTC): `nov241834-123456`."""
    return f"{MONTHS[now.month - 1]}{now:%d%H%M}-{now.microsecond:06d}"


def is_spread_name(name: str) -> bool:
    """Whether the name parses back as one of Spread's (only those are ever deleted)."""
    match = NAME_RE.match(name)
    if not match or match.group(1) not in MONTHS:
        return False
    day, hour, minute = (int(match.group(i)) for i in (2, 3, 4))
    return 1 <= day <= 31 and hour < 24 and minute < 60


def valid_label(value: str) -> bool:
    return len(value) < 64 and bool(LABEL_RE.match(value))


def terms(text: str) -> list[str]:
    return TERM_RE.findall(text.lower())


def contains_terms(superset: list[str], subset: list[str]) -> bool:
    """Whether `subset` appears in `superset` in order (not necessarily adjacent)."""
    rest = iter(superset)
    return all(term in rest for term in subset)


@dataclass(frozen=True)
class Image:
    project: str
    name: str
    family: str
    terms: tuple[str, ...]


class GoogleProvider:
    """Allocates Compute Engine instances in the backend's project and zone."""

    reuse = False  # set by the run: labels the instances with reuse=true

    def __init__(
        self,
        backend: Backend,
        project_dir: Path,
        password: str,
        log: Callable[[str], None],
        wait: float = 300.0,
    ) -> None:
        self.backend = backend
        self.project_dir = project_dir
        self.session_password = password
        self.log = log
        self.pacing = Pacing.from_env(poll=5.0)
        self.api_url = os.environ.get("SPREAD_GOOGLE_API_URL", "").rstrip("/") or API_URL
        self.gproject, _, self.zone = backend.location.partition("/")
        self.service_account = ""
        self.in_flight = InFlight()
        self._lock = threading.Lock()
        self._api: Api | None = None
        self._key_error: AllocationError | None = None
        self._images: dict[str, list[Image]] = {}
        self._last_name = ""
        self._credential_secrets: Callable[[], list[str]] = list

    # -- the provider interface -----------------------------------------------

    def allocate(self, system: System, username: str, password: str) -> Machine:
        self._check_key()
        name = self._new_name()
        plan = system.plan or DEFAULT_PLAN
        image, family = self._image(system)
        params = self._instance(system, name, plan, image, family)
        try:
            operation = self._zone("POST", "/instances", params)
        except AllocationError as exc:
            raise AllocationError(
                f"cannot allocate new Google server for {system.name}: {exc}", fatal=True
            ) from None
        server = f"{self.backend.name}:{system.name} ({name})"
        self.in_flight.add(name, lambda: self._delete(name, server))
        created = datetime.now(timezone.utc)
        try:
            self._wait_operation(server, "provision", str(operation.get("name", "")))
            address = self._address(name, server)
            self._wait_boot(name, server, address)
            self._drop_startup_script(name)
        except AllocationError as exc:
            self.in_flight.done(name)
            try:
                self._delete(name, server)
            except AllocationError:
                raise AllocationError(
                    f"cannot allocate or deallocate (!) new Google server {server}: {exc}",
                    fatal=True,
                ) from None
            raise AllocationError(
                f"cannot allocate new Google server {server}: {exc}", fatal=True
            ) from None
        self.in_flight.done(name)
        data = {"name": name, "plan": plan, "created": created.isoformat()}
        return Machine(
            self.backend.name, system.name, address, username, password, name=name, data=data
        )

    def discard(self, machine: Machine) -> None:
        self._delete(machine.name, str(machine))

    def interrupt(self) -> None:
        """The run is abandoned: delete the instances still being allocated."""
        self.in_flight.interrupt()

    def collect_garbage(self) -> None:
        """Delete this backend's instances older than their halt-timeout (Spread's -gc)."""
        self._check_key()
        now = datetime.now(timezone.utc)
        warned = False
        for item in self._list("/instances"):
            name = str(item.get("name", ""))
            labels = item.get("labels") or {}
            if not is_spread_name(name) or labels.get("spread") != "true":
                if not warned:
                    self.log("WARNING: Some Google servers ignored due to unsafe labels.")
                    warned = True
                continue
            timeout = self.backend.halt_timeout
            if "halt-timeout" in labels:
                try:
                    timeout = parse_duration(str(labels["halt-timeout"]).strip())
                except ValueError:
                    self.log(
                        f"WARNING: Ignoring bad Google server {name} halt-timeout label: "
                        f"{go_quote(str(labels['halt-timeout']))}"
                    )
            if timeout == 0:
                continue
            self.log(f"Checking {name}...")
            created = _timestamp(str(item.get("creationTimestamp", "")))
            if created is None or (now - created).total_seconds() * 1e9 <= timeout:
                continue
            self.log(f"Server {name} exceeds halt-timeout. Shutting it down...")
            try:
                self._delete(name, name)
            except AllocationError as exc:
                self.log(f"WARNING: Cannot garbage collect {name}: {exc}")

    # -- allocation steps -----------------------------------------------------

    def _new_name(self) -> str:
        with self._lock:  # two machines of one run must not share a name
            while (name := instance_name(datetime.now(timezone.utc))) == self._last_name:
                time.sleep(0.000_01)
            self._last_name = name
        return name

    def _instance(
        self, system: System, name: str, plan: str, image: Image, family: bool
    ) -> dict[str, Any]:
        source = "" if image.project == self.gproject else f"projects/{image.project}/"
        source += (
            f"global/images/family/{image.family}" if family else f"global/images/{image.name}"
        )
        disk: dict[str, Any] = {"sourceImage": source}
        if system.storage == 0:
            disk["diskSizeGb"] = 10
        elif system.storage > 0:
            disk["diskSizeGb"] = system.storage // GIB
        metadata = [
            {
                "key": "startup-script",
                "value": STARTUP_SCRIPT.format(password=self.session_password, marker=READY_MARKER),
            }
        ]
        params: dict[str, Any] = {
            "name": name,
            "machineType": f"zones/{self.zone}/machineTypes/{plan}",
            "minCpuPlatform": system.cpu_family or "AUTOMATIC",
            "networkInterfaces": [
                {
                    "accessConfigs": [{"type": "ONE_TO_ONE_NAT", "name": "External NAT"}],
                    "network": "global/networks/default",
                }
            ],
            "disks": [
                {
                    "autoDelete": "true",
                    "boot": "true",
                    "type": "PERSISTENT",
                    "initializeParams": disk,
                }
            ],
            "metadata": {"items": metadata},
            "labels": self._labels(),
            "tags": {"items": ["spread"]},
        }
        if system.secure_boot:
            params["shieldedInstanceConfig"] = {
                "enableSecureBoot": True,
                "enableVtpm": True,
                "enableIntegrityMonitoring": True,
            }
        if system.attach_service_account:
            if not self.service_account:
                raise AllocationError("no service account to attach", fatal=True)
            params["serviceAccounts"] = [
                {
                    "email": self.service_account,
                    "scopes": [google_auth.SCOPE],
                }
            ]
        return params

    def _labels(self) -> dict[str, str]:
        owner = local_user().lower()
        if not valid_label(owner) and "@" in owner and "." in owner[owner.index("@") :]:
            owner = owner[: owner.index("@")].replace(".", "-")
        labels = {"spread": "true", "owner": owner, "reuse": str(self.reuse).lower()}
        halt = format_duration(self.backend.halt_timeout) if self.backend.halt_timeout else ""
        if valid_label(halt):
            labels["halt-timeout"] = halt
        if self.service_account:
            account = self.service_account.partition("@")[0]
            if len(account) < 63:
                labels["sa"] = account
        return labels

    def _wait_operation(self, server: str, verb: str, name: str) -> None:
        deadline = time.monotonic() + self.pacing.limit(WAIT_LIMIT)
        while True:
            self.in_flight.sleep(self.pacing.poll)
            if time.monotonic() > deadline:
                raise AllocationError(f"timeout waiting for {server} to {verb}")
            try:
                # An operation's own error is in its body: read on, as Spread does.
                operation = self._zone("GET", f"/operations/{name}", named=True)
            except AllocationError as exc:
                raise AllocationError(
                    f"cannot {verb} {server}: cannot get operation details: {exc}"
                ) from None
            if operation.get("status") == "DONE":
                for error in (operation.get("error") or {}).get("errors") or []:
                    message = str(error.get("message") or error.get("code") or "unknown error")
                    raise AllocationError(f"cannot {verb} {server}: {_lower_first(message)}")
                return

    def _address(self, name: str, server: str) -> str:
        try:
            instance = self._zone("GET", f"/instances/{name}")
        except AllocationError as exc:
            raise AllocationError(
                f"cannot get IP address for Google server {server}: {exc}"
            ) from None
        for interface in instance.get("networkInterfaces") or []:
            for access in interface.get("accessConfigs") or []:
                if access.get("type") == "ONE_TO_ONE_NAT" and access.get("natIP"):
                    return str(access["natIP"])
        raise AllocationError(f"cannot find IP address in Google server {server} details")

    def _wait_boot(self, name: str, server: str, address: str) -> None:
        self.log(f"Waiting for {server} to boot at {address}...")
        start = time.monotonic()
        relog = start + self.pacing.limit(60)
        trail = ""
        following = {1: "0", 3: "0"}
        while True:
            for port in following:
                path = f"/instances/{name}/serialPort"
                try:
                    result = self._zone(
                        "GET", path, params={"port": str(port), "start": following[port]}
                    )
                except AllocationError as exc:
                    self.log(f"Cannot get console output for {server}: {exc}")
                    raise AllocationError(
                        f"cannot get console output for {server}: {exc}"
                    ) from None
                following[port] = str(result.get("next") or following[port])
                trail += str(result.get("contents", ""))
            if READY_MARKER in trail:
                return
            trail = trail[-len(READY_MARKER) :]
            now = time.monotonic()
            if now - start > self.pacing.limit(WAIT_LIMIT):
                raise AllocationError(f"cannot find ready marker in console output for {server}")
            if now > relog:
                self.log(f"Server {server} is taking a while to boot...")
                relog = now + self.pacing.limit(60)
            self.in_flight.sleep(self.pacing.poll)

    def _drop_startup_script(self, name: str) -> None:
        try:
            instance = self._zone("GET", f"/instances/{name}")
        except AllocationError as exc:
            raise AllocationError(f"cannot get instance metadata: {exc}") from None
        metadata = dict(instance.get("metadata") or {})
        items = [
            item for item in metadata.get("items") or [] if item.get("key") != "startup-script"
        ]
        if len(items) == len(metadata.get("items") or []):
            return
        body = {"fingerprint": metadata.get("fingerprint", ""), "items": items}
        try:
            self._zone("POST", f"/instances/{name}/setMetadata", body)
        except AllocationError as exc:
            raise AllocationError(f"cannot change instance metadata: {exc}") from None

    def _delete(self, name: str, server: str) -> None:
        if not is_spread_name(name):
            raise AllocationError(
                f"cannot deallocate Google server {server}: "
                f"invalid Google machine name for spread: {name}"
            )
        try:
            self._zone("DELETE", f"/instances/{name}")  # not awaited, as in Spread
        except AllocationError as exc:
            raise AllocationError(f"cannot deallocate Google server {server}: {exc}") from None

    # -- images -----------------------------------------------------------------

    def _image(self, system: System) -> tuple[Image, bool]:
        """The image and whether to use its family (Spread's name, family, terms lookup)."""
        wanted = system.image
        if "/" in wanted:
            project, _, name = wanted.partition("/")
            lookups = [(project, name)]
        else:
            lookups = [(self.gproject, wanted)]
            lookups += [
                (p, wanted) for prefix, p in IMAGE_PROJECTS.items() if wanted.startswith(prefix)
            ]
        for project, name in lookups:
            images = self._project_images(project)
            wanted_terms = terms(name)
            for image in images:
                if image.name == name:
                    return image, False
            for image in images:
                if image.family == name:
                    return image, True
            for image in images:
                if contains_terms(list(image.terms), wanted_terms):
                    return image, bool(image.family)
        projects = '" or "'.join(project for project, _ in lookups)
        raise AllocationError(
            f'cannot find any Google image matching {go_quote(wanted)} on project "{projects}"',
            fatal=True,
        )

    def _project_images(self, project: str) -> list[Image]:
        with self._lock:
            cached = self._images.get(project)
        if cached is not None:
            return cached
        try:
            items = self._list(
                f"/compute/v1/projects/{project}/global/images",
                params={"orderBy": "creationTimestamp desc"},
                full=True,
            )
        except AllocationError as exc:
            raise AllocationError(
                f"cannot retrieve Google images for project {go_quote(project)}: {exc}",
                fatal=True,
            ) from None
        images = [
            Image(
                project,
                str(item.get("name", "")),
                str(item.get("family", "")),
                tuple(terms(str(item.get("description", "")))),
            )
            for item in items
        ]
        with self._lock:
            self._images[project] = images
        return images

    # -- the API ---------------------------------------------------------------

    def _secrets(self) -> list[str]:
        return [self.backend.key, *self._credential_secrets()]

    def _check_key(self) -> None:
        """Credentials and location, checked once (`GET /zones`); errors are fatal."""
        with self._lock:
            if self._api is not None:
                return
            if self._key_error is not None:
                raise self._key_error
            try:
                self._api = self._connect()
            except AllocationError as exc:
                self._key_error = AllocationError(str(exc), fatal=True)
                raise self._key_error from None

    def _connect(self) -> Api:
        if not self.gproject or not self.zone:
            raise AllocationError(
                f"location for {go_quote(self.backend.name)} backend must use the "
                "<google project>/<compute zone> format"
            )
        credentials = google_auth.load(self.backend.key, self.project_dir)
        self._credential_secrets = credentials.secrets
        self.service_account = credentials.service_account
        api = Api("Google", credentials.session, self.pacing, self._secrets, self.log)
        api.retry_hint = _internal_error
        self._api = api
        try:
            self._request("GET", "/zones")
        finally:
            self._api = None
        return api

    def _zone(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        named: bool = False,
    ) -> dict[str, Any]:
        self._check_key()
        return self._request(method, f"/zones/{self.zone}{path}", body, params, named=named)

    def _list(
        self, path: str, params: Mapping[str, str] | None = None, full: bool = False
    ) -> list[dict[str, Any]]:
        """Every item of a list call, following its pages."""
        items: list[dict[str, Any]] = []
        query = dict(params or {})
        if not full and path.startswith("/instances"):
            path = f"/zones/{self.zone}{path}"
        while True:
            page = self._request("GET", path, params=query, full=full)
            items.extend(item for item in page.get("items") or [] if isinstance(item, dict))
            token = page.get("nextPageToken")
            if not token:
                return items
            query["pageToken"] = str(token)

    def _request(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        full: bool = False,
        named: bool = False,
    ) -> dict[str, Any]:
        """The JSON object answered; ApiError for an error (unless `named` and it has a name)."""
        api = self._api
        assert api is not None, "Google API used before the key check"
        url = self.api_url + (path if full else f"/compute/v1/projects/{self.gproject}{path}")
        response = api.call(method, url, body, params)
        data = response.data if isinstance(response.data, dict) else {}
        message = _error_message(data)
        if message and not (named and response.status < 400 and data.get("name")):
            raise ApiError(api.hide(message), response.status)
        if response.status >= 400 or (response.data is None and response.status != 204):
            raise ApiError(api.hide(status_error(response)), response.status)
        return data


def _internal_error(response: Response) -> bool:
    """Google's 500s may come late, as an error body with another status: retried too."""
    error = response.data.get("error") if isinstance(response.data, dict) else None
    return (
        isinstance(error, dict) and error.get("status") == "INTERNAL" and error.get("code") == 500
    )


def _error_message(data: dict[str, Any]) -> str:
    error = data.get("error")
    if not isinstance(error, dict) or not (
        error.get("code") or error.get("message") or error.get("errors")
    ):
        return ""
    if error.get("message"):
        return _polish(str(error["message"]))
    for item in error.get("errors") or []:
        if isinstance(item, dict) and item.get("message"):
            return _polish(str(item["message"]))
    status = go_quote(str(error.get("status", "")))
    return f"malformed Google error (code {error.get('code', 0)}, status {status})"


def _polish(message: str) -> str:
    """Spread's polishErrorMessage: `Foo bar.` becomes `foo bar`."""
    if len(message) > 2:
        if message[0].isupper() and message[1].islower():
            message = message[0].lower() + message[1:]
        if message.endswith(".") and message[-2].isalpha():
            message = message[:-1]
    return message


def _lower_first(message: str) -> str:
    return message[:1].lower() + message[1:]


def _timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None

"""OpenStack credentials: the `OS_*` settings, a Keystone v3 token and the service catalogue.

The backend's `key` names a file of `OS_*=value` lines (an openrc without
`export`s, as Spread reads it with godotenv); its settings override the
environment's. Password (`OS_USERNAME`, `OS_PASSWORD`) and application
credential (`OS_APPLICATION_CREDENTIAL_ID`, `..._SECRET`) logins are
supported. Endpoints come from Keystone's catalogue (`OS_AUTH_URL`,
`OS_REGION_NAME`, `OS_INTERFACE`), so a private cloud or a local test server
is reached like any other.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_spread.backends.base import AllocationError
from pytest_spread.backends.http import Api

LINE_RE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")
SECRET_SETTINGS = ("OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_SECRET", "OS_SECRET_KEY", "OS_TOKEN")


def read_settings(key: str, project_dir: Path) -> dict[str, str]:
    """The environment's OS_* settings, overridden by those of the key file (if any)."""
    settings = {name: value for name, value in os.environ.items() if name.startswith("OS_")}
    if not key:
        return settings
    path = Path(key).expanduser()
    path = path if path.is_absolute() else project_dir / path
    try:
        text = path.read_text()
    except OSError as exc:
        raise AllocationError(f"cannot read OpenStack key file {path}: {exc.strerror}") from None
    for line in text.splitlines():
        match = LINE_RE.match(line)
        if not match or line.lstrip().startswith("#"):
            continue
        value = match.group(2)
        if value[:1] in ("'", '"'):
            try:
                value = " ".join(shlex.split(value))
            except ValueError:
                value = value.strip("'\"")
        settings[match.group(1)] = value
    return settings


@dataclass
class Session:
    """A Keystone token and the endpoints of the services Spread uses."""

    token: str
    endpoints: dict[str, str]  # service type -> URL
    secrets: list[str] = field(default_factory=list)

    def url(self, service: str, path: str) -> str:
        base = self.endpoints.get(service)
        if base is None:
            raise AllocationError(f"no {service} service in the OpenStack catalogue", fatal=True)
        return base.rstrip("/") + path


def authenticate(api: Api, settings: Mapping[str, str]) -> Session:
    """Log in to Keystone v3; AllocationError (fatal) without any secret in it."""
    auth_url = settings.get("OS_AUTH_URL", "").rstrip("/")
    if not auth_url:
        raise AllocationError("cannot retrieve credentials from env: OS_AUTH_URL is not set")
    if not auth_url.endswith("/v3"):
        auth_url += "/v3"
    body = {"auth": {"identity": _identity(settings), **_scope(settings)}}
    response = api.call("POST", auth_url + "/auth/tokens", body)
    token = response.headers.get("x-subject-token", "")
    if response.status >= 400 or not token:
        raise AllocationError(
            f"cannot authenticate: {error_message(response.data, response.text, response.status)}"
        )
    catalogue = ((response.data or {}).get("token") or {}).get("catalog") or []
    region = settings.get("OS_REGION_NAME", "")
    interface = settings.get("OS_INTERFACE", "public").removesuffix("URL")
    endpoints: dict[str, str] = {}
    for service in catalogue:
        for endpoint in service.get("endpoints") or []:
            if endpoint.get("interface") != interface:
                continue
            if region and region not in (endpoint.get("region"), endpoint.get("region_id")):
                continue
            endpoints.setdefault(str(service.get("type")), str(endpoint.get("url", "")))
    secrets = [settings.get(name, "") for name in SECRET_SETTINGS]
    return Session(token, endpoints, [s for s in [*secrets, token] if s])


def _identity(settings: Mapping[str, str]) -> dict[str, Any]:
    if settings.get("OS_APPLICATION_CREDENTIAL_ID") and settings.get(
        "OS_APPLICATION_CREDENTIAL_SECRET"
    ):
        return {
            "methods": ["application_credential"],
            "application_credential": {
                "id": settings["OS_APPLICATION_CREDENTIAL_ID"],
                "secret": settings["OS_APPLICATION_CREDENTIAL_SECRET"],
            },
        }
    if settings.get("OS_USERNAME") and settings.get("OS_PASSWORD"):
        user: dict[str, Any] = {
            "name": settings["OS_USERNAME"],
            "password": settings["OS_PASSWORD"],
        }
        user["domain"] = _domain(settings, "OS_USER_DOMAIN")
        return {"methods": ["password"], "password": {"user": user}}
    raise AllocationError("cannot determine authentication method to use")


def _scope(settings: Mapping[str, str]) -> dict[str, Any]:
    if settings.get("OS_APPLICATION_CREDENTIAL_ID"):
        return {}  # an application credential carries its own scope
    project_id = settings.get("OS_PROJECT_ID") or settings.get("OS_TENANT_ID")
    if project_id:
        return {"scope": {"project": {"id": project_id}}}
    name = settings.get("OS_PROJECT_NAME") or settings.get("OS_TENANT_NAME")
    if name:
        return {
            "scope": {"project": {"name": name, "domain": _domain(settings, "OS_PROJECT_DOMAIN")}}
        }
    return {}


def _domain(settings: Mapping[str, str], prefix: str) -> dict[str, str]:
    if settings.get(f"{prefix}_ID"):
        return {"id": settings[f"{prefix}_ID"]}
    return {"name": settings.get(f"{prefix}_NAME") or "Default"}


def error_message(data: Any, text: str, status: int) -> str:
    """The message of an OpenStack error body (`{"error": {...}}`, `{"badRequest": {...}}`...)."""
    if isinstance(data, dict):
        for value in data.values():
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])
        if data.get("NeutronError"):
            return str(data["NeutronError"])
    detail = " ".join(text.split())[:200]
    return f"{detail or 'empty response'} (status {status})"

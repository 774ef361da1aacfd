"""Google credentials for the google backend, through google-auth (the only module using it).

The backend's `key` is a credentials JSON document (usually a service
account's, signed into tokens at the key's own `token_uri`), a path to such a
file, or empty for application default credentials (GOOGLE_APPLICATION_CREDENTIALS,
gcloud's login, the metadata server).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from pytest_spread.backends.base import AllocationError

SCOPE = "https://www.googleapis.com/auth/cloud-platform"


@dataclass
class Credentials:
    session: requests.Session  # adds (and refreshes) the access token on each request
    service_account: str  # the service account's email, when the key is one
    secrets: Callable[[], list[str]]  # what must never show: key, private key, tokens


def load(key: str, project_dir: Path) -> Credentials:
    """Credentials from the backend's `key`; AllocationError without any secret in it."""
    try:
        import google.auth
        from google.auth.exceptions import GoogleAuthError
        from google.auth.transport.requests import AuthorizedSession
    except ModuleNotFoundError as exc:
        raise AllocationError(
            f"the google backend needs the Python package {exc.name!r}: "
            "pip install 'pytest-spread[google]'",
            fatal=True,
        ) from None
    info: dict[str, Any] = {}
    try:
        if key:
            info = _key_info(key, project_dir)
            credentials, _ = google.auth.load_credentials_from_dict(  # type: ignore[no-untyped-call]
                info, scopes=[SCOPE]
            )
        else:
            credentials, _ = google.auth.default(scopes=[SCOPE])
    except GoogleAuthError as exc:
        raise AllocationError(f"cannot use Google credentials: {_first_line(exc)}") from None
    private = [
        str(info.get(name, "")) for name in ("private_key", "refresh_token", "client_secret")
    ]

    def secrets() -> list[str]:
        token = getattr(credentials, "token", None)
        return [key, *private, *([str(token)] if token else [])]

    email = str(info.get("client_email", "")) if info.get("type") == "service_account" else ""
    session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]
    return Credentials(session, email, secrets)


def _key_info(key: str, project_dir: Path) -> dict[str, Any]:
    if key.lstrip().startswith("{"):
        text, source = key, "key"
    else:
        path = Path(key).expanduser()
        path = path if path.is_absolute() else project_dir / path
        try:
            text, source = path.read_text(), f"key file {path}"
        except OSError as exc:
            raise AllocationError(f"cannot read Google key file: {exc.strerror}: {path}") from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        # The message says where the JSON broke, never what it holds.
        raise AllocationError(f"cannot decode Google {source}: invalid JSON: {exc.msg}") from None
    if not isinstance(info, dict):
        raise AllocationError(f"cannot decode Google {source}: not a JSON object")
    return info


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]

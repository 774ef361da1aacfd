"""The Compute Engine v1 REST API of one project and zone, as Spread's google.go calls it.

Requests go to `SPREAD_GOOGLE_API_URL` (default https://www.googleapis.com)
with the backend key's credentials; the key and the location are checked
once (`GET /zones`). Google's error bodies become messages as Spread words
them; 5xx answers, rate limits and late `INTERNAL` errors are retried.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from pytest_spread.backends import google_auth
from pytest_spread.backends.base import AllocationError
from pytest_spread.backends.http import Api, ApiError, CloudApi, Response, status_error
from pytest_spread.project.gocompat import go_quote

API_URL = "https://www.googleapis.com"


class ComputeApi(CloudApi):
    """Compute Engine calls for one backend; `check_key` checks credentials and location."""

    def _prepare(self) -> None:
        self.api_url = os.environ.get("SPREAD_GOOGLE_API_URL", "").rstrip("/") or API_URL
        self.gproject, _, self.zone_name = self.backend.location.partition("/")
        self.service_account = ""  # the key's service account e-mail, once checked
        self._credential_secrets: Callable[[], list[str]] = list

    def secrets(self) -> list[str]:
        return [self.backend.key, *self._credential_secrets()]

    def _connect(self) -> None:
        """Credentials and location (`GET /zones`)."""
        if not self.gproject or not self.zone_name:
            raise AllocationError(
                f"location for {go_quote(self.backend.name)} backend must use the "
                "<google project>/<compute zone> format"
            )
        credentials = google_auth.load(self.backend.key, self.project_dir)
        self._credential_secrets = credentials.secrets
        self.service_account = credentials.service_account
        api = Api("Google", credentials.session, self.pacing, self.secrets, self.log)
        api.retry_hint = _internal_error
        self._api = api
        try:
            self.request("GET", "/zones")
        except BaseException:
            self._api = None
            raise

    def zone(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        named: bool = False,
    ) -> dict[str, Any]:
        self.check_key()
        return self.request(method, f"/zones/{self.zone_name}{path}", body, params, named=named)

    def list_items(
        self, path: str, params: Mapping[str, str] | None = None, full: bool = False
    ) -> list[dict[str, Any]]:
        """Every item of a list call, following its pages."""
        items: list[dict[str, Any]] = []
        query = dict(params or {})
        if not full and path.startswith("/instances"):
            path = f"/zones/{self.zone_name}{path}"
        while True:
            page = self.request("GET", path, params=query, full=full)
            items.extend(item for item in page.get("items") or [] if isinstance(item, dict))
            token = page.get("nextPageToken")
            if not token:
                return items
            query["pageToken"] = str(token)

    def request(
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

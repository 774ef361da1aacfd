"""The OpenStack REST calls of the openstack backend: log-in, lookups, JSON requests.

One `OpenStackApi` per backend: it logs in to Keystone once (again when a
token expires), reaches Nova, Neutron and Glance at the catalogue's
endpoints, and finds flavors, networks, security groups and images by name
as spread-plus' openstack.go does.
"""

from __future__ import annotations

from typing import Any

import requests

from pytest_spread.backends import openstack_auth
from pytest_spread.backends.base import AllocationError
from pytest_spread.backends.cloud import contains_terms, terms
from pytest_spread.backends.http import Api, ApiError, CloudApi
from pytest_spread.project.gocompat import go_quote


class OpenStackApi(CloudApi):
    """Requests to one cloud with the backend's credentials; thread-safe."""

    def _prepare(self) -> None:
        self._session: openstack_auth.Session | None = None
        self._settings: dict[str, str] = {}

    def flavor(self, name: str) -> dict[str, Any]:
        try:
            flavors = self.do("GET", "compute", "/flavors").get("flavors") or []
        except AllocationError as exc:
            raise AllocationError(f"cannot retrieve flavors list: {exc}") from None
        for flavor in flavors:
            if flavor.get("name") == name:
                return dict(flavor)
        raise AllocationError(f"cannot find valid flavor with name {go_quote(name)}", fatal=True)

    def networks(self, names: tuple[str, ...]) -> list[str]:
        try:
            networks = self.do("GET", "network", "/v2.0/networks").get("networks") or []
        except AllocationError as exc:
            raise AllocationError(f"cannot retrieve networks list: {exc}") from None
        if not names:
            for network in networks:
                if not network.get("router:external"):
                    return [str(network["id"])]
            raise AllocationError("cannot find valid network to create floating IP", fatal=True)
        found = []
        for name in names:
            match = [n for n in networks if n.get("name") == name]
            if not match:
                raise AllocationError(
                    f"cannot find valid network with name {go_quote(name)}", fatal=True
                )
            found.append(str(match[0]["id"]))
        return found

    def groups(self, names: tuple[str, ...]) -> list[str]:
        try:
            result = self.do("GET", "network", "/v2.0/security-groups")
        except AllocationError as exc:
            raise AllocationError(f"cannot retrieve security groups: {exc}") from None
        known = {str(group.get("name")) for group in result.get("security_groups") or []}
        if not known:
            raise AllocationError("cannot find any groups", fatal=True)
        for name in names:
            if name not in known:
                raise AllocationError(
                    f"cannot find valid group with name {go_quote(name)}", fatal=True
                )
        return list(names)

    def image(self, wanted: str) -> dict[str, Any]:
        images: list[dict[str, Any]] = []
        path = "/v2/images?limit=500"
        while path:
            try:
                page = self.do("GET", "image", path)
            except AllocationError as exc:
                raise AllocationError(f"cannot retrieve images list: {exc}") from None
            images += [
                i for i in page.get("images") or [] if str(i.get("status")).lower() == "active"
            ]
            path = str(page.get("next") or "")
        for image in images:
            if image.get("name") == wanted:
                return image
        newest = sorted(images, key=lambda i: str(i.get("created_at", "")), reverse=True)
        for image in newest:
            if str(image.get("name", "")).startswith(wanted):
                return image
        wanted_terms = terms(wanted)
        for image in newest:
            if contains_terms(terms(str(image.get("name", ""))), wanted_terms):
                return image
        raise AllocationError(f"cannot find matching image for {go_quote(wanted)}", fatal=True)

    def _connect(self) -> None:
        settings = openstack_auth.read_settings(self.backend.key, self.project_dir)
        secrets = [settings.get(n, "") for n in openstack_auth.SECRET_SETTINGS]
        api = Api(
            "OpenStack",
            requests.Session(),
            self.pacing,
            lambda: [*secrets, *self._token()],
            self.log,
        )
        self._session = openstack_auth.authenticate(api, settings)
        self._api, self._settings = api, settings

    def _token(self) -> list[str]:
        return [self._session.token] if self._session is not None else []

    def do(self, method: str, service: str, path: str, body: Any = None) -> dict[str, Any]:
        session, api = self._session, self._api
        assert session is not None and api is not None, "OpenStack API used before the key check"
        url = path if path.startswith("http") else session.url(service, path)
        response = api.call(method, url, body, headers={"X-Auth-Token": session.token})
        if response.status == 401:  # the token expired during a long run: log in again
            session = self._session = openstack_auth.authenticate(api, self._settings)
            response = api.call(method, url, body, headers={"X-Auth-Token": session.token})
        data = response.data if isinstance(response.data, dict) else {}
        if response.status >= 400:
            message = openstack_auth.error_message(response.data, response.text, response.status)
            raise ApiError(api.hide(message), response.status)
        return data

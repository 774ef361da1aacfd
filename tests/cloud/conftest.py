"""Cloud backends against local API servers: fixtures, fast pacing, and the secret check."""

from __future__ import annotations

from collections.abc import Iterator

import paramiko  # noqa: F401
import pytest

# pytester's inline runs forget modules first imported inside a run; compiled
# bindings (cryptography, through paramiko and google-auth) cannot be imported twice.
from google.auth.transport import requests as _google_requests  # noqa: F401
from google.oauth2 import service_account as _service_account  # noqa: F401

import pytest_spread.backends.google
import pytest_spread.machines.source  # noqa: F401

from .google_api import FakeGoogle


@pytest.fixture(autouse=True)
def fast_pacing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll and retry quickly; never reach a proxy for the local servers."""
    monkeypatch.setenv("SPREAD_API_POLL", "0.05")
    monkeypatch.setenv("SPREAD_API_WAIT_SCALE", "0.05")  # 3 minutes become 9 s
    monkeypatch.setenv("SPREAD_API_RETRY_DELAY", "0.01")
    monkeypatch.setenv("SPREAD_API_THROTTLE", "0")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    # Google's default credentials never look for a metadata server off this machine.
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("GCE_METADATA_HOST", "127.0.0.1:9")
    monkeypatch.setenv("GCE_METADATA_IP", "127.0.0.1:9")
    monkeypatch.setenv("CLOUDSDK_CONFIG", "/nonexistent")  # nor the user's gcloud login
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)


@pytest.fixture
def google(tmp_path_factory: pytest.TempPathFactory, monkeypatch) -> Iterator[FakeGoogle]:
    """A local Compute Engine; the google backend is pointed at it."""
    server = FakeGoogle(tmp_path_factory.mktemp("google"))
    monkeypatch.setenv("SPREAD_GOOGLE_API_URL", server.url)
    monkeypatch.setenv("SPREAD_GOOGLE_KEY", "")
    try:
        yield server
        assert not server.leftovers(), "instances left on the server"
    finally:
        server.close()

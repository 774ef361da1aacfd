"""JSON over HTTP for the cloud backends: retries, pacing and secrets kept out of errors.

Every cloud backend talks to its API through `Api.call`: server errors (5xx)
and rate limits (429) are retried a bounded number of times with random
delays, as Spread retries 5xx; other answers come back to the backend, which
turns them into its own messages. Error texts pass through `log.redact`, so a key
or token never reaches a message, a log or a report.

The waits are Spread's by default; `Pacing.from_env` lets users (and tests)
change them: `SPREAD_API_POLL` (seconds between two polls of an operation,
a server status or a console), `SPREAD_API_WAIT_SCALE` (a factor on Spread's
fixed waits, such as 3 minutes for an operation), `SPREAD_API_RETRY_DELAY`
(step of the random delay between retries) and `SPREAD_API_THROTTLE` (least
time between two requests of one backend).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from pytest_spread.backends.base import AllocationError
from pytest_spread.log import redact
from pytest_spread.project.model import Backend

RETRIES = 10
TIMEOUT = 60.0  # seconds for one request


@dataclass(frozen=True)
class Pacing:
    """How long a backend waits between polls, retries and requests (seconds)."""

    poll: float
    retry: float = 0.25
    throttle: float = 0.1
    scale: float = 1.0  # SPREAD_API_WAIT_SCALE: a factor on Spread's fixed waits

    def limit(self, seconds: float) -> float:
        """One of Spread's fixed waits (e.g. 3 minutes for an operation), scaled."""
        return seconds * self.scale

    @classmethod
    def from_env(cls, poll: float, retry: float = 0.25, throttle: float = 0.1) -> Pacing:
        """The backend's defaults, overridden by the SPREAD_API_* variables."""
        return cls(
            poll=_seconds("SPREAD_API_POLL", poll),
            retry=_seconds("SPREAD_API_RETRY_DELAY", retry),
            throttle=_seconds("SPREAD_API_THROTTLE", throttle),
            scale=_seconds("SPREAD_API_WAIT_SCALE", 1.0),
        )


def _seconds(name: str, default: float) -> float:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        message = f"{name} must be a number of seconds, got {text!r}"
        raise AllocationError(message, fatal=True) from None
    if value < 0:
        raise AllocationError(f"{name} must not be negative, got {text!r}", fatal=True)
    return value


class ApiError(AllocationError):
    """A request that failed: no answer, or an error answer after the retries."""

    def __init__(self, message: str, status: int = 0, *, fatal: bool = False) -> None:
        super().__init__(message, fatal=fatal)
        self.status = status


@dataclass
class Response:
    status: int
    data: Any  # the decoded JSON body (None when empty or not JSON)
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive


class Api:
    """One API endpoint reached through a requests session, paced and retried."""

    def __init__(
        self,
        name: str,
        session: requests.Session,
        pacing: Pacing,
        secrets: Callable[[], Iterable[str]] = lambda: (),
        log: Callable[[str], None] = lambda message: None,
    ) -> None:
        self.name = name  # "Google", "Linode"...: starts error messages
        self.session = session
        self.pacing = pacing
        self.secrets = secrets
        self.log = log
        self._lock = threading.Lock()
        self._last = 0.0
        self.retry_hint: Callable[[Response], bool] = lambda response: False

    def call(
        self,
        method: str,
        url: str,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send the request; 5xx, 429 and `retry_hint` answers are retried up to RETRIES times."""
        delays = random.sample(range(RETRIES), RETRIES)
        response: Response | None = None
        for attempt in range(RETRIES):
            self._throttle()
            try:
                raw = self.session.request(
                    method,
                    url,
                    data=None if body is None else json.dumps(body),
                    params=params,
                    headers={"Content-Type": "application/json", **(headers or {})},
                    timeout=TIMEOUT,
                )
            except requests.RequestException as exc:
                raise ApiError(self.hide(f"cannot perform {self.name} request: {exc}")) from None
            except Exception as exc:  # credential libraries raise their own errors
                reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
                message = f"cannot authenticate to {self.name}: {reason}"
                raise ApiError(self.hide(message), fatal=True) from None
            response = _decode(raw)
            if not (_retried(response.status) or self.retry_hint(response)):
                return response
            if attempt == 0:
                self.log(
                    f"{self.name} error {response.status} on {method} {_path(url)}. "
                    "Retrying a few times..."
                )
            wait = delays[attempt] * self.pacing.retry
            after = raw.headers.get("Retry-After", "")
            if response.status == 429 and after.isdigit():
                wait = max(wait, min(float(after), 30.0))
            time.sleep(wait)
        assert response is not None
        return response

    def hide(self, text: str) -> str:
        return redact(text, self.secrets())

    def _throttle(self) -> None:
        with self._lock:
            wait = self._last + self.pacing.throttle - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()


class KeyCheck:
    """A backend's key, checked once for all threads; a failure is fatal and remembered."""

    def __init__(self, connect: Callable[[], None]) -> None:
        self._connect = connect
        self._lock = threading.Lock()
        self._passed = False
        self._error: AllocationError | None = None

    def __call__(self) -> None:
        with self._lock:
            if self._passed:
                return
            if self._error is not None:
                raise self._error
            try:
                self._connect()
            except AllocationError as exc:
                self._error = AllocationError(str(exc), fatal=True)
                raise self._error from None
            self._passed = True


class CloudApi:
    """A cloud's REST API as one backend reaches it; thread-safe.

    `check_key()` logs in (the subclass's `_connect`) once; a subclass sets
    up its own state in `_prepare`.
    """

    def __init__(
        self, backend: Backend, project_dir: Path, pacing: Pacing, log: Callable[[str], None]
    ) -> None:
        self.backend = backend
        self.project_dir = project_dir
        self.pacing = pacing
        self.log = log
        self._api: Api | None = None
        self.check_key = KeyCheck(self._connect)
        self._prepare()

    def _prepare(self) -> None:
        """The client's own state, the common attributes set."""

    def _connect(self) -> None:
        """Log in and check the key; AllocationError when that fails."""
        raise NotImplementedError


def _retried(status: int) -> bool:
    return status == 429 or 500 <= status < 600


def _decode(raw: requests.Response) -> Response:
    text = raw.text
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        data = None
    return Response(raw.status_code, data, text, raw.headers)


def _path(url: str) -> str:
    """The URL without scheme, host and query, for messages."""
    rest = url.split("://", 1)[-1]
    return "/" + rest.split("/", 1)[1].split("?", 1)[0] if "/" in rest else "/"


def status_error(response: Response, detail: str = "") -> str:
    """`<detail or body> (status N)` for an answer that is neither success nor known error."""
    text = detail or " ".join(response.text.split())[:200] or "empty response"
    return f"{text} (status {response.status})"

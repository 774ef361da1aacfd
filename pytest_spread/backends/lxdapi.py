"""LXD's REST API through pylxd: the few calls the lxd backend makes, with plain errors.

The local daemon is reached over its unix socket (`$LXD_DIR/unix.socket`, the
snap's or Debian's); a remote (Spread's backend `location`) over HTTPS with the
`lxc` client's certificates and its `config.yml`. Every failure comes out as
`LXDError` with LXD's own message, never a pylxd or requests traceback.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml
from pylxd import Client, exceptions
from pylxd.client import get_session_for_url

from pytest_spread.errors import SpreadError

# The remotes every lxc client knows without configuration (Spread's lxdRemoteServer).
DEFAULT_REMOTES = {
    "images": "https://images.linuxcontainers.org",
    "ubuntu": "https://cloud-images.ubuntu.com/releases",
}


class LXDError(SpreadError):
    """An LXD request failed: `missing` when LXD said the object does not exist,
    `unreachable` when the daemon did not answer at all."""

    def __init__(self, message: str, *, missing: bool = False, unreachable: bool = False) -> None:
        super().__init__(message)
        self.missing = missing
        self.unreachable = unreachable


@dataclass(frozen=True)
class ExecResult:
    status: int
    output: str


def client_dirs() -> list[Path]:
    """Where an `lxc` client keeps its config.yml and certificates, most specific first."""
    dirs = []
    if os.environ.get("LXD_CONF"):
        dirs.append(Path(os.environ["LXD_CONF"]))
    home = Path(os.path.expanduser("~"))
    dirs += [home / "snap/lxd/common/config", home / ".config/lxc"]
    return dirs


def remotes() -> dict[str, str]:
    """Remote name -> address, as `lxc remote list` shows them."""
    names = dict(DEFAULT_REMOTES)
    for directory in client_dirs():
        path = directory / "config.yml"
        if path.is_file():
            try:
                data = yaml.safe_load(path.read_text()) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise LXDError(f"cannot list lxd remotes: {path}: {exc}") from None
            for name, body in (data.get("remotes") or {}).items():
                if isinstance(body, dict) and body.get("addr"):
                    names[str(name)] = str(body["addr"])
            break
    return names


def socket_path() -> str:
    """The local daemon's socket, where pylxd looks for it."""
    if "LXD_DIR" in os.environ:
        return os.path.join(os.environ["LXD_DIR"], "unix.socket")
    snap = "/var/snap/lxd/common/lxd/unix.socket"
    return snap if os.path.exists(snap) else "/var/lib/lxd/unix.socket"


class LXD:
    """One LXD server: the local daemon (`remote` "" or "local") or an `lxc` remote."""

    def __init__(self, remote: str = "") -> None:
        self.remote = remote
        self._client: Client | None = None

    @property
    def where(self) -> str:
        return f"remote {self.remote!r}" if self.remote not in ("", "local") else socket_path()

    def client(self) -> Client:
        if self._client is None:
            self._client = self._connect()
        return self._client

    def _connect(self) -> Client:
        hint = "(is it running? `lxd --group root` or `snap start lxd`)"
        try:
            if self.remote in ("", "local"):
                if not os.path.exists(socket_path()):
                    raise LXDError(
                        f"cannot reach the LXD daemon at {self.where}: no socket {hint}",
                        unreachable=True,
                    )
                return Client(endpoint=socket_path())
            address = remotes().get(self.remote)
            if address is None:
                raise LXDError(f"cannot find lxd remote {self.remote!r} in the lxc configuration")
            cert, verify = _credentials(self.remote)
            session = get_session_for_url(address, verify=verify, cert=cert)
            # REQUESTS_CA_BUNDLE would otherwise replace the remote's pinned certificate.
            session.trust_env = False
            return Client(endpoint=address, cert=cert, verify=verify, session=session)
        except exceptions.ClientConnectionFailed as exc:
            reason = str(exc) or "no answer"
            raise LXDError(
                f"cannot reach the LXD daemon at {self.where}: {reason} {hint}"
            ) from None

    # -- requests ------------------------------------------------------------

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """The metadata of a synchronous request, or of an operation once it is done."""
        node = self.client().api
        for part in path.strip("/").split("/"):
            node = node[part]
        try:
            kwargs = {"json": body} if body is not None else {}
            response = getattr(node, method)(**kwargs)
            data = response.json()
            if data.get("type") == "async":
                return self._wait(data["operation"])
            return data.get("metadata")
        except exceptions.NotFound as exc:
            raise LXDError(str(exc), missing=True) from None
        except exceptions.LXDAPIException as exc:
            raise LXDError(str(exc), missing="not found" in str(exc).lower()) from None
        except requests.RequestException as exc:
            self._client = None
            message = f"cannot reach the LXD daemon at {self.where}: {_reason(exc)}"
            raise LXDError(message, unreachable=True) from None

    def _wait(self, operation: str) -> Any:
        op_id = operation.rstrip("/").rsplit("/", 1)[-1]
        data = self.client().api.operations[op_id].wait.get().json()
        metadata = data.get("metadata") or {}
        if data.get("error") or metadata.get("status") == "Failure":
            message = metadata.get("err") or data.get("error") or "operation failed"
            raise LXDError(message, missing="not found" in message.lower())
        return metadata.get("metadata")

    def get(self, path: str) -> Any:
        return self.request("get", path)

    # -- instances -----------------------------------------------------------

    def execute(
        self, name: str, command: list[str], env: dict[str, str] | None = None
    ) -> ExecResult:
        """Run a command in an instance, as `lxc exec NAME -- COMMAND` (output recorded)."""
        body = {
            "command": command,
            "environment": env or {},
            "interactive": False,
            "wait-for-websocket": False,
            "record-output": True,
        }
        result = self.request("post", f"instances/{name}/exec", body) or {}
        output = ""
        for stream in ("1", "2"):
            log = (result.get("output") or {}).get(stream)
            if log:
                output += self._log(log)
                self._delete_log(log)
        return ExecResult(int(result.get("return", -1)), output)

    def _log(self, url: str) -> str:
        path = url.split("/1.0/", 1)[-1]
        node = self.client().api
        for part in path.strip("/").split("/"):
            node = node[part]
        try:
            return str(node.get(is_api=False).content.decode(errors="replace"))
        except (exceptions.LXDAPIException, requests.RequestException):
            return ""

    def _delete_log(self, url: str) -> None:
        try:
            self.request("delete", url.split("/1.0/", 1)[-1])
        except LXDError:
            pass

    def set_state(self, name: str, action: str, *, force: bool = False) -> None:
        self.request("put", f"instances/{name}/state", {"action": action, "force": force})


def _credentials(remote: str) -> tuple[tuple[str, str] | None, str | bool]:
    """The lxc client's certificate and the remote's server certificate, if present."""
    for directory in client_dirs():
        crt, key = directory / "client.crt", directory / "client.key"
        if crt.is_file() and key.is_file():
            server = directory / "servercerts" / f"{remote}.crt"
            return (str(crt), str(key)), str(server) if server.is_file() else True
    return None, True


def _reason(exc: requests.RequestException) -> str:
    """The innermost reason of a connection failure (no urllib3 pool chatter)."""
    reason: BaseException = exc
    while reason.__context__ is not None or reason.__cause__ is not None:
        reason = reason.__cause__ or reason.__context__  # type: ignore[assignment]
    return str(reason) or type(reason).__name__


def wait_until(deadline: float, interval: float) -> bool:
    """Sleep `interval` unless that passes `deadline`; False when time is up."""
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    time.sleep(min(interval, left))
    return True

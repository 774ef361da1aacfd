"""Backend types and their providers, imported on first use (a run pays only for its own).

A provider module is named here as `"module:Class"`; the class is built as
`Class(backend, project_dir, password, log, wait=seconds)` and follows the
`Provider` protocol of `base.py`. Types not yet implemented load and list,
and fail with a clear error when a job needs a machine.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from pytest_spread.backends.base import AllocationError, Machine, Provider
from pytest_spread.errors import SpreadError
from pytest_spread.project.model import Backend

Log = Callable[[str], None]

PROVIDERS: dict[str, str] = {
    "adhoc": "pytest_spread.backends.adhoc:AdhocProvider",
    "lxd": "pytest_spread.backends.lxd:LXDProvider",
    "qemu": "pytest_spread.backends.qemu:QEMUProvider",
    "google": "pytest_spread.backends.google:GoogleProvider",
    "linode": "pytest_spread.backends.linode:LinodeProvider",
    "openstack": "pytest_spread.backends.openstack:OpenStackProvider",
    "humbox": "pytest_spread.backends.humbox:HumboxProvider",
}


def make_provider(
    backend: Backend, project_dir: Path, password: str, log: Log, wait: float, reuse: bool = False
) -> Provider:
    """The provider of a backend's type, imported on first use.

    A provider whose machines differ under `-reuse` (lxd: not ephemeral; google:
    labelled) has a `reuse` attribute, set here.
    """
    target = PROVIDERS.get(backend.type)
    if target is None:
        raise AllocationError(f"the {backend.type} backend is not supported yet", fatal=True)
    module_name, _, name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise AllocationError(
                f"the {backend.type} backend needs the Python package {exc.name!r}: "
                f"pip install 'pytest-spread[{backend.type}]'",
                fatal=True,
            ) from None
        message = f"the {backend.type} backend is not supported yet"
        raise AllocationError(message, fatal=True) from None
    factory = getattr(module, name)
    provider: Provider = factory(backend, project_dir, password, log, wait=wait)
    if hasattr(provider, "reuse"):
        setattr(provider, "reuse", reuse)  # noqa: B010 (not part of the Provider protocol)
    return provider


def discard_machine(provider: Provider, machine: Machine, log: Log) -> None:
    """Discard, logging like Spread; errors are logged, not raised."""
    log(f"Discarding {machine}...")
    try:
        provider.discard(machine)
    except SpreadError as exc:
        log(f"Error discarding {machine}: {exc}")

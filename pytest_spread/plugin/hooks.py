"""The pytest plugin's entry point: options, and the `--spread` session's hooks on demand.

Only the options and what pytest asks before configuring live here. The
hooks that collect and run jobs (`plugin/running.py`), the output files
(`plugin/outputs.py`) and the Python tests in suites (`plugin/pytests.py`)
are imported and registered when `--spread` (or `spread = true`) is on: a
plain pytest run pays for none of them.
"""

from __future__ import annotations

import pytest

from pytest_spread.plugin.options import add_options, spread_enabled

# Always: the fixtures of Python tests (skipped without --spread; imports on demand).
pytest_plugins = ("pytest_spread.plugin.fixtures",)
SESSION_PLUGINS = (
    "pytest_spread.plugin.running",
    "pytest_spread.plugin.outputs",  # --spread-json and --spread-logs
    "pytest_spread.plugin.pytests",  # Python tests in suites
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "spread(backend, system, suite, task, variant): a Spread job; select with "
        "-m \"spread(backend='lxd')\"",
    )
    if spread_enabled(config):
        for name in SESSION_PLUGINS:
            config.pluginmanager.import_plugin(name)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: one node per machine Spread would use, at most --spread-max-workers."""
    if not spread_enabled(config):
        return None
    from pytest_spread.plugin.running import auto_num_workers

    return auto_num_workers(config)


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str]:
    if items or spread_enabled(config):
        return []
    from pytest_spread.plugin.loading import unused_project_hint

    return unused_project_hint(config)

"""pyproject.toml declares what the package imports, and imports what it declares at run time."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import tomllib  # type: ignore[import-not-found, unused-ignore]  # Python 3.11+

import pytest_spread

PACKAGE = Path(pytest_spread.__file__).parent
PYPROJECT = PACKAGE.parent / "pyproject.toml"
# Needed at run time without an import: the plugin implements its hooks.
USED_AS_PLUGINS = {"pytest-xdist"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    return {
        _normal(re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0])
        for requirement in requirements
    }


def imported_modules() -> set[str]:
    """Top-level names of every module the package imports, its own and the stdlib's left out."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names} - {"pytest_spread"}


def test_every_imported_distribution_is_declared():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    declared = _requirement_names(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        declared |= _requirement_names(extra)
    owners = packages_distributions()
    missing = {
        module: owners.get(module, [module])
        for module in imported_modules()
        if not any(_normal(dist) in declared for dist in owners.get(module, [module]))
    }
    assert missing == {}


def test_every_runtime_dependency_is_imported():
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    owners = packages_distributions()
    imported = {_normal(dist) for module in imported_modules() for dist in owners.get(module, [])}
    unused = _requirement_names(project["dependencies"]) - imported - USED_AS_PLUGINS
    assert unused == set()

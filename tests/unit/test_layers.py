"""The package's layout stays true: one folder per layer, imports only downward, no circle.

Every `import` and `from ... import` of the package is read with `ast`, those
inside functions and `if TYPE_CHECKING:` blocks included: a lazy import that
runs upward is still an upward import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_spread

PACKAGE = Path(pytest_spread.__file__).parent

# Bottom to top. A module may import its own folder and the layers below it.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "log", "interrupts"),  # the basics every layer shares
    ("project",),  # spread.yaml and task.yaml as a model; jobs, filters, order
    ("transport",),  # SSH, local scripts, script texts, timeouts, retries, sudo
    ("backends",),  # providers: allocate and discard machines
    ("run",),  # one machine's lifecycle: scripts of every level, content, artifacts
    ("machines",),  # a run's machines: allocation, lanes, pool, reuse file
    ("plugin", "command"),  # the front ends, side by side: pytest and `spread`
]
PUBLIC = ("__init__", "__main__")  # the package's face: the API and `python -m`


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """The package modules `path` imports (a `from X import name` counts X.name if a module)."""
    is_package = path.name == "__init__.py"
    here = module_name(path).split(".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pytest_spread"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            if not target.startswith("pytest_spread"):
                continue
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                found.add(candidate if candidate in MODULES else target)
    return {name for name in found if name != "pytest_spread"}


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path) for name, path in MODULES.items()}
LAYERED = sorted(n for n in MODULES if "." in n and n.rpartition(".")[2] not in PUBLIC)


def test_the_package_root_holds_only_the_basics_and_its_face():
    root = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert set(root) <= set(LAYERS[0]) | set(PUBLIC), root


@pytest.mark.parametrize("module", LAYERED)
def test_imports_go_only_downward(module):
    own = layer_of(module)
    own_folder = module.split(".")[1]
    upward = [
        name
        for name in sorted(GRAPH[module])
        if layer_of(name) > own or (layer_of(name) == own and name.split(".")[1] != own_folder)
    ]
    assert not upward, f"{module} imports upward or sideways: {upward}"


def test_the_public_api_needs_only_the_model():
    assert all(layer_of(name) <= 1 for name in GRAPH["pytest_spread"]), GRAPH["pytest_spread"]


def test_no_import_circle():
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        path.append(name)
        for other in sorted(GRAPH.get(name, ())):
            if state.get(other) == 1:
                circle = [*path[path.index(other) :], other]
                raise AssertionError("import circle: " + " -> ".join(circle))
            if other not in state:
                visit(other)
        path.pop()
        state[name] = 2

    for name in sorted(GRAPH):
        if name not in state:
            visit(name)


def test_the_check_sees_imports_written_every_way(tmp_path):
    """The reader resolves relative, lazy and TYPE_CHECKING imports (so the checks can fail)."""
    source = PACKAGE / "run" / "worker.py"
    found = imports_of(source)
    assert "pytest_spread.project.matrix" in found
    assert all(name in MODULES or name.rsplit(".", 1)[0] in MODULES for name in found)

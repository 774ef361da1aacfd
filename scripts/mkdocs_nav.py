"""mkdocs hook: pages of docs/ that mkdocs.yml's nav does not list are added at its end.

Several people add pages to docs/; a page they forget to list still shows up
(titled by its first heading) instead of failing `mkdocs build --strict`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig


def _listed(nav: Any) -> set[str]:
    """Every page path the nav names, at any depth."""
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, dict):
        return set().union(*(_listed(value) for value in nav.values()))
    if isinstance(nav, list):
        return set().union(*(_listed(item) for item in nav))
    return set()


def _title(page: Path) -> str:
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return page.stem


def on_config(config: MkDocsConfig, **_: Any) -> MkDocsConfig:
    if config.nav is None:
        return config  # mkdocs lists every page itself
    docs = Path(config.docs_dir)
    listed = _listed(config.nav)
    for page in sorted(docs.rglob("*.md")):
        path = page.relative_to(docs).as_posix()
        if path not in listed:
            config.nav.append({_title(page): path})
    return config

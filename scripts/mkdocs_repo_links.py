"""mkdocs hook: links from docs/ to repository files outside it are published with the site.

A page may link `../examples/hello/spread.yaml` or `../tests/schemas/junit-10.xsd`:
the file is copied into the site under `repo/` and the link pointed there. A
link to a file that does not exist is left alone, so `mkdocs build --strict`
still fails on it. Markdown files outside docs/ are not published (their own
links would not resolve): link to a docs page instead.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

LINK = re.compile(r"\]\((\.\./[^)#\s]+)(#[^)\s]*)?\)")
PREFIX = "repo/"


def _repo_path(page_uri: str, link: str, root: Path) -> str | None:
    """The repository path a page's link names, when it is an existing non-Markdown file."""
    path = posixpath.normpath(posixpath.join(posixpath.dirname(page_uri), link))
    if not path.startswith("../") or path.startswith("../../"):
        return None
    target = path[3:]
    if target.endswith(".md") or not (root / target).is_file():
        return None
    return target


def on_files(files: Files, config: MkDocsConfig, **_: Any) -> Files:
    root = Path(config.docs_dir).parent
    for page in list(files.documentation_pages()):
        text = Path(page.abs_src_path or "").read_text(encoding="utf-8")
        for match in LINK.finditer(text):
            target = _repo_path(page.src_uri, match.group(1), root)
            if target and files.get_file_from_path(PREFIX + target) is None:
                files.append(
                    File.generated(config, PREFIX + target, abs_src_path=str(root / target))
                )
    return files


def on_page_markdown(
    markdown: str, page: Page, config: MkDocsConfig, files: Files, **_: Any
) -> str:
    root = Path(config.docs_dir).parent
    here = posixpath.dirname(page.file.src_uri) or "."

    def point(match: re.Match[str]) -> str:
        target = _repo_path(page.file.src_uri, match.group(1), root)
        if target is None:
            return match.group(0)
        return f"]({posixpath.relpath(PREFIX + target, here)}{match.group(2) or ''})"

    return LINK.sub(point, markdown)

"""How the google backend finds a system's image, as Spread's google.go does.

A `project/name` image is looked up only in that project; otherwise in the
backend's own project, then in the public project its prefix names. In each,
an exact image name wins, then an exact family, then the first image (newest
first) whose description holds the name's terms in order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_spread.backends.base import AllocationError
from pytest_spread.backends.cloud import contains_terms, terms
from pytest_spread.project.gocompat import go_quote

IMAGE_PROJECTS = {
    "ubuntu-": "ubuntu-os-cloud",
    "centos-": "centos-cloud",
    "debian-": "debian-cloud",
    "opensuse-": "opensuse-cloud",
    "freebsd-": "freebsd-org-cloud-dev",
}


@dataclass(frozen=True)
class Image:
    project: str
    name: str
    family: str
    terms: tuple[str, ...]

    @classmethod
    def from_item(cls, project: str, item: dict[str, Any]) -> Image:
        """An image of the API's image list."""
        description = str(item.get("description", ""))
        return cls(
            project,
            str(item.get("name", "")),
            str(item.get("family", "")),
            tuple(terms(description)),
        )

    def source(self, own_project: str, family: bool) -> str:
        """The `sourceImage` of a boot disk made from this image (or its family)."""
        prefix = "" if self.project == own_project else f"projects/{self.project}/"
        return prefix + (
            f"global/images/family/{self.family}" if family else f"global/images/{self.name}"
        )


def find_image(
    wanted: str, own_project: str, project_images: Callable[[str], list[Image]]
) -> tuple[Image, bool]:
    """The image and whether to use its family; fatal AllocationError when none matches."""
    if "/" in wanted:
        project, _, name = wanted.partition("/")
        lookups = [(project, name)]
    else:
        lookups = [(own_project, wanted)]
        lookups += [
            (p, wanted) for prefix, p in IMAGE_PROJECTS.items() if wanted.startswith(prefix)
        ]
    for project, name in lookups:
        images = project_images(project)
        for image in images:
            if image.name == name:
                return image, False
        for image in images:
            if image.family == name:
                return image, True
        wanted_terms = terms(name)
        for image in images:
            if contains_terms(list(image.terms), wanted_terms):
                return image, bool(image.family)
    projects = '" or "'.join(project for project, _ in lookups)
    raise AllocationError(
        f'cannot find any Google image matching {go_quote(wanted)} on project "{projects}"',
        fatal=True,
    )

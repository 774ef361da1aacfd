"""Spread's final report: counts of successful and aborted tasks, lists of failures (spec §6.6)."""

from __future__ import annotations

from dataclasses import dataclass, field

# (attribute, title) in the order Spread prints the failure blocks.
FAILURE_LISTS = (
    ("failed_tasks", "Failed tasks"),
    ("failed_task_prepare", "Failed task prepare"),
    ("failed_task_restore", "Failed task restore"),
    ("failed_suite_prepare", "Failed suite prepare"),
    ("failed_suite_restore", "Failed suite restore"),
    ("failed_backend_prepare", "Failed backend prepare"),
    ("failed_backend_restore", "Failed backend restore"),
    ("failed_project_prepare", "Failed project prepare"),
    ("failed_project_restore", "Failed project restore"),
)
# Every block after the counts, in spread-plus' order: skips are listed, not failures.
BLOCKS = (
    ("skipped_tasks", "Skipped tasks"),
    *FAILURE_LISTS[:3],
    ("skipped_suites", "Skipped suites"),
    *FAILURE_LISTS[3:],
)


@dataclass
class Report:
    """What happened to the jobs of a run; entries are Spread's report names."""

    successful: int = 0
    aborted: int = 0
    failed_tasks: list[str] = field(default_factory=list)
    failed_task_prepare: list[str] = field(default_factory=list)
    failed_task_restore: list[str] = field(default_factory=list)
    failed_suite_prepare: list[str] = field(default_factory=list)
    failed_suite_restore: list[str] = field(default_factory=list)
    failed_backend_prepare: list[str] = field(default_factory=list)
    failed_backend_restore: list[str] = field(default_factory=list)
    failed_project_prepare: list[str] = field(default_factory=list)
    failed_project_restore: list[str] = field(default_factory=list)
    skipped_tasks: list[str] = field(default_factory=list)  # "<job> - <reason>" (spread-plus)
    skipped_suites: list[str] = field(default_factory=list)  # "<lane>:<suite> - <reason>"

    def merge(self, other: Report) -> None:
        """Add another process's report to this one (xdist)."""
        self.successful += other.successful
        self.aborted += other.aborted
        for attribute, _ in BLOCKS:
            getattr(self, attribute).extend(getattr(other, attribute))

    @property
    def ok(self) -> bool:
        """True when nothing was aborted and nothing failed (exit status 0)."""
        return not self.aborted and not any(getattr(self, a) for a, _ in FAILURE_LISTS)

    @property
    def restores_failed(self) -> bool:
        """A suite, backend or project restore failed: Spread exits 1 for it."""
        return bool(
            self.failed_suite_restore or self.failed_backend_restore or self.failed_project_restore
        )

    def messages(self) -> list[str]:
        """The report as Spread logs it: one message per block, entries sorted."""
        blocks = [f"Successful tasks: {self.successful}", f"Aborted tasks: {self.aborted}"]
        for attribute, title in BLOCKS:
            entries = sorted(getattr(self, attribute))
            if entries:
                blocks.append(
                    f"{title}: {len(entries)}" + "".join(f"\n    - {entry}" for entry in entries)
                )
        return blocks

    def to_dict(self) -> dict[str, object]:
        return {
            "successful": self.successful,
            "aborted": self.aborted,
            **{a: list(getattr(self, a)) for a, _ in BLOCKS},
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Report:
        return cls(**data)  # type: ignore[arg-type]

"""JUnit XML that CI servers show well: suite and task as the class, one-line messages.

pytest names a test case's class after its file (`tests.main.foo.task.yaml`,
which Jenkins shows as package `tests.main.foo.task`, class `yaml`); a job's
class is its task instead (`tests.main.foo`: package `tests.main`, class
`foo`; GitLab's "Suite" column). The `message` attribute of a failure or error
is the first line of Spread's message; the framed script output stays in the
element's text. See docs/junit.md.
"""

from __future__ import annotations

import pytest
from _pytest.junitxml import xml_key

TASK_FILE_SUFFIX = "task.yaml"


def job_class(report: pytest.TestReport) -> str | None:
    """`suite/task` as a dotted class name, for a Spread job's report (else None)."""
    if not report.nodeid.partition("::")[0].endswith(TASK_FILE_SUFFIX):
        return None
    task = dict(report.user_properties).get("task")
    return str(task).strip("/").replace("/", ".") if task else None


class JobClassNames:
    """The run's main process (no xdist, or its controller), where junitxml writes."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Give a job's test case its task as class name, before junitxml writes it."""
        xml = self.config.stash.get(xml_key, None)
        classname = job_class(report)
        # Only reports junitxml records: a test case must not be opened for nothing.
        if xml is None or classname is None or (report.passed and report.when != "call"):
            return
        xml.node_reporter(report).add_attribute("classname", classname)


def one_line_message(report: pytest.TestReport) -> None:
    """A failed job's crash message (the summary's and JUnit's): Spread's first line.

    Without pytest's `Failed: ` prefix: `Error executing <job> (<machine>)`.
    """
    crash = getattr(report.longrepr, "reprcrash", None)
    if report.failed and crash is not None:
        first = crash.message.partition("\n")[0].removeprefix(FAILED_PREFIX)
        crash.message = first.rstrip(" :") or first


FAILED_PREFIX = "Failed: "  # pytest.fail's exception name, as pytest shows it

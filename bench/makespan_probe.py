"""pytest plugin for bench/makespan.py: each item's start and end, appended to $MAKESPAN_LOG."""

from __future__ import annotations

import os
import time
from collections.abc import Generator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    start = time.time()
    try:
        return (yield)
    finally:
        line = f"{start:.6f} {time.time():.6f} {item.nodeid}\n"
        fd = os.open(os.environ["MAKESPAN_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)

"""Spread's progress messages: one logger, and Spread's own line format for the command."""

from __future__ import annotations

import logging
import sys
import time

LOGGER = logging.getLogger("pytest_spread")


def log(message: str) -> None:
    """Spread's progress messages: captured per test phase by pytest's logging."""
    LOGGER.info(message.strip())


class SpreadLogFormatter(logging.Formatter):
    """Spread's log line: `YYYY-MM-DD HH:MM:SS message` (prefix on the first line only)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        return f"{stamp} {record.getMessage()}"


def print_log_to_stdout() -> logging.Handler:
    """Show Spread's messages on stdout as the `spread` command does."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(SpreadLogFormatter())
    LOGGER.addHandler(handler)
    LOGGER.setLevel(logging.INFO)
    LOGGER.propagate = False
    return handler

"""Spread's progress messages: one logger, and Spread's own line format for the command."""

from __future__ import annotations

import logging
import sys
import time

LOGGER = logging.getLogger("pytest_spread")
VERBOSE = 15  # Spread's -v messages: between INFO (always shown) and DEBUG (-vv)
logging.addLevelName(VERBOSE, "VERBOSE")


def log(message: str) -> None:
    """A message Spread always prints (captured per test phase under pytest)."""
    LOGGER.info(message.strip())


def verbose(message: str) -> None:
    """A message Spread prints with -v."""
    LOGGER.log(VERBOSE, message.strip())


def debug(message: str) -> None:
    """A message Spread prints with -vv."""
    LOGGER.debug(message.strip())


class SpreadLogFormatter(logging.Formatter):
    """Spread's log line: `YYYY-MM-DD HH:MM:SS message` (prefix on the first line only)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        return f"{stamp} {record.getMessage()}"


def print_log_to_stdout(level: int = logging.INFO) -> logging.Handler:
    """Show Spread's messages on stdout as the `spread` command does."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(SpreadLogFormatter())
    LOGGER.addHandler(handler)
    LOGGER.setLevel(level)
    LOGGER.propagate = False
    return handler

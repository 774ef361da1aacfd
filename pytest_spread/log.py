"""Spread's progress messages: one logger, and Spread's own line format for the command."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

LOGGER = logging.getLogger("pytest_spread")
VERBOSE = 15  # Spread's -v messages: between INFO (always shown) and DEBUG (-vv)
logging.addLevelName(VERBOSE, "VERBOSE")

HIDDEN = "<hidden>"
MIN_SECRET = 4  # shorter values would hide ordinary words all over the output
_secrets: set[str] = set()


def add_secret(value: str) -> None:
    """Never show `value` (a password): every message and script output hides it."""
    if len(value) >= MIN_SECRET:
        _secrets.add(value)


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` with every known secret, and every `extra` one, replaced by `<hidden>`.

    A multi-line extra secret (a key file) also hides each of its long lines.
    """
    secrets = set(_secrets)
    for secret in extra:
        if secret:
            secrets.add(secret)
            secrets.update(line.strip() for line in secret.splitlines() if len(line.strip()) >= 8)
    for secret in sorted(secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, HIDDEN)
    return text


class _Redacting(logging.Filter):
    """Hides known secrets in every message of the logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            hidden = redact(message)
            if hidden != message:
                record.msg, record.args = hidden, None
        return True


LOGGER.addFilter(_Redacting())


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


_GATE = threading.Lock()
_held: list[tuple[logging.Handler, logging.LogRecord]] | None = None


class _HoldingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes messages, or keeps them while an interactive shell has the terminal."""

    def emit(self, record: logging.LogRecord) -> None:
        with _GATE:
            if _held is not None:
                _held.append((self, record))
                return
        super().emit(record)


@contextmanager
def held_messages() -> Iterator[None]:
    """Keep Spread's printed messages back until the block ends, then print them."""
    global _held
    with _GATE:
        _held = []
    try:
        yield
    finally:
        with _GATE:
            held, _held = _held or [], None
        for handler, record in held:
            handler.emit(record)


def print_log_to_stdout(level: int = logging.INFO) -> logging.Handler:
    """Show Spread's messages on stdout as the `spread` command does."""
    handler = _HoldingHandler(sys.stdout)
    handler.setFormatter(SpreadLogFormatter())
    LOGGER.addHandler(handler)
    LOGGER.setLevel(level)
    LOGGER.propagate = False
    return handler

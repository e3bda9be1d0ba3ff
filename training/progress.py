"""Stage messages with elapsed time for the command-line tools."""

from __future__ import annotations

import logging
import sys


class _ElapsedFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"[{record.relativeCreated / 1000:7.1f}s] {record.getMessage()}"


def cli_logger(name: str, quiet: bool = False) -> logging.Logger:
    """A logger that writes `[elapsed] message` lines to stderr."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_ElapsedFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    return logger

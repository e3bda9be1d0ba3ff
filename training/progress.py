"""Stage messages with elapsed time for the command-line tools."""

from __future__ import annotations

import logging

from model.native_log import stderr_stream


class _ElapsedFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"[{record.relativeCreated / 1000:7.1f}s] {record.getMessage()}"


def cli_logger(name: str, quiet: bool = False) -> logging.Logger:
    """A logger that writes `[elapsed] message` lines to stderr.

    It writes to a duplicate of fd 2, so its lines are never caught by `native_output_logged`.
    """
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(stderr_stream())
        handler.setFormatter(_ElapsedFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    return logger

"""Shared by the command-line tools: stage messages with elapsed time, and help that shows defaults."""

from __future__ import annotations

import argparse
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


class HelpWithDefaults(argparse.HelpFormatter):
    """Help that ends each option's text with its default, unless it has none or the text names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is False or action.default in ([], argparse.SUPPRESS):
            return text
        if "default" in text:
            return text
        return f"{text} (default: %(default)s)"

"""JSON log lines: one object per record, so log shippers need no parsing rules."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any, TextIO


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line; the dict passed as `extra={"fields": {...}}` is merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def logging_config(level: str, stream: TextIO | None = None) -> dict[str, Any]:
    """A `logging.config.dictConfig` dict (also accepted by uvicorn) sending every logger to stderr as JSON.

    `stream` replaces `sys.stderr`: `python -m app` passes a duplicate of fd 2 (model/native_log.py).
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream or "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # uvicorn's loggers keep their own handlers unless told otherwise; send them to the root.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            # Requests are logged by app.access (AccessLogMiddleware) instead.
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }

"""Turn what native code writes to stderr (TensorFlow's C++ logging, the JVM) into log records.

TensorFlow 2.21 prints a few lines straight to file descriptor 2 when it is imported and when it first
traces a masked LSTM, and it ignores `TF_CPP_MIN_LOG_LEVEL` for them. In the server they were the only
lines of its log that were not JSON, and in the training CLIs one of them reads like an error.
`native_output_logged()` points fd 2 at a temporary file for the length of a `with` block (the import, the
first model load or training step) and then logs each captured line on the `native` logger, so the
configured formatter (JSON for `python -m app`) writes it like any other record. Blocks stay short: a
native crash's last words must not wait in a buffer.

Python's own logging must not write to fd 2 meanwhile, or its lines would come back wrapped as native
ones: `python -m app` and the CLIs' loggers write to a duplicate of fd 2 made before any capture
(`stderr_stream`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

log = logging.getLogger("native")

# glog/absl format: severity letter, date, time, thread id, file:line] message
_GLOG = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ ([^\]\s]+)\] (.*)$")
_GLOG_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}
# Notices that say nothing is wrong, whatever severity they carry: logged at DEBUG.
_BENIGN = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    # A masked LSTM on a CPU without AVX-512: TensorFlow uses its Eigen kernels instead, with the same results.
    "oneDNN supports DT_BOOL only on platforms with AVX-512",
)

# Lines that continue the TensorFlow message before them (the CPU-feature notice takes two lines).
_TF_CONTINUATIONS = ("To enable the following instructions",)


def stderr_stream() -> TextIO:
    """A text stream on a duplicate of fd 2: log handlers keep writing to the real stderr during a capture."""
    return os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="backslashreplace")


def native_level(line: str) -> tuple[int, dict[str, str], str]:
    """(level, extra fields, message) for one captured line.

    TensorFlow's lines keep their severity, except below `TF_CPP_MIN_LOG_LEVEL` (0 info, 1 warning,
    2 error: TensorFlow's own setting, which it does not apply to these lines) and the benign notices,
    both logged at DEBUG. Any other line (a JVM warning, say) is a WARNING: something wrote to stderr.
    """
    level, fields, message = logging.WARNING, {}, line
    if match := _GLOG.match(line):
        severity, source, message = match.groups()
        level, fields = _GLOG_LEVELS[severity], {"source": source}
        if "IWEF".index(severity) < _tf_min_log_level():
            level = logging.DEBUG
    if any(notice in message for notice in _BENIGN):
        level = logging.DEBUG
    return level, fields, message


def _tf_min_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


@contextmanager
def native_output_logged() -> Iterator[None]:
    """Capture fd 2 during the block, then log each line written to it (also when the block raises)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for level, fields, message in _records(captured.read().decode("utf-8", errors="replace")):
                log.log(level, "%s", message, extra={"fields": fields})


def _records(text: str) -> list[tuple[int, dict[str, str], str]]:
    """One record per line, except TensorFlow's known second lines, which continue the message above them.

    Only known ones: the JVM and TensorFlow start side by side in `python -m app`, so the line after a
    TensorFlow line may be the JVM's, and folding it into a TensorFlow notice would hide it."""
    records: list[tuple[int, dict[str, str], str]] = []
    for line in map(str.strip, text.splitlines()):
        if records and "source" in records[-1][1] and line.startswith(_TF_CONTINUATIONS):
            level, fields, message = records[-1]
            records[-1] = (level, fields, f"{message}\n{line}")
        elif line:
            records.append(native_level(line))
    return records

"""Shared by the command-line tools: stage messages with elapsed time, help that shows defaults, result files
checked before any work, and a Predictor loaded only once the arguments are read.

The tools import TensorFlow as late as they can, so that --help or a bad argument answers at once
rather than after the seconds TensorFlow takes to load.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from model.layout import check_can_create_in
from model.native_log import native_output_logged, stderr_stream
from model.registry import resolve
from training.data import DataError

if TYPE_CHECKING:
    from model.predictor import Predictor


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


def load_predictor(bundle: Path, tokenizer_workers: int) -> Predictor:
    """The Predictor of a bundle, or of a ROOT's current version; callers run `check_servable` on it first, so
    that a mistyped path answers at once, not after TensorFlow's import (and before their own checks of it).

    Importing TensorFlow and the first masked-LSTM call print C++ log lines (a oneDNN notice that reads
    like an error) to fd 2; they are logged instead. After `remember_ctrl_c`, a Ctrl-C meanwhile is raised
    once the Predictor is loaded (`ctrl_c_held_back`: the JVM starts and the network is traced).
    """
    with native_output_logged(), ctrl_c_held_back():
        from model.predictor import Predictor

        return Predictor.load(resolve(bundle), tokenizer_workers=tokenizer_workers)


def check_output_file(path: Path, option: str) -> None:
    """Refuse, before any work, a result file that cannot be written: a directory, an unwritable file, or a folder
    that cannot be made or written in (a read-only mount). Nothing is created: the run may still fail."""
    try:
        if path.is_dir():
            raise DataError(f"{option} {path}: is a directory; give a file name")
        check_can_create_in(path.parent)
    except OSError as error:  # a folder on the way that cannot be searched, too
        raise DataError(f"{option} {path}: cannot be written ({error.strerror or error})") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise DataError(f"{option} {path}: cannot be written (no write permission, or a read-only file system)")


_ctrl_c = threading.Event()


def _remember_ctrl_c(signum: int, frame: object) -> None:
    _ctrl_c.set()
    raise KeyboardInterrupt


def remember_ctrl_c() -> None:
    """Make Ctrl-C stop the run even when its KeyboardInterrupt is lost on the way. Python raises it in whatever
    the main thread runs at that moment, and a fresh-clone test run saw a training run that a Ctrl-C during fit
    did not stop (it went on and wrote its bundle) in about half the tries. The key press is remembered, and
    `stop_if_ctrl_c` raises it again at the run's next step. Python's default handler only is replaced: a
    process that ignores SIGINT (a background job without job control) keeps ignoring it."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _remember_ctrl_c)


def run_until_ctrl_c(run: Callable[[], int], log: logging.Logger) -> int:
    """`run()`'s exit status; a Ctrl-C meanwhile (`remember_ctrl_c`: also one lost on its way, or held back
    while the model loads) ends it with one `interrupted` line and 130 instead of a traceback."""
    remember_ctrl_c()
    try:
        return run()
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


def stop_if_ctrl_c() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed since `remember_ctrl_c` (a no-op without it)."""
    if _ctrl_c.is_set():
        raise KeyboardInterrupt


def _only_remember_ctrl_c(signum: int, frame: object) -> None:
    if not _ctrl_c.is_set():  # the work held back may take seconds: say at once that the key press was heard
        logging.getLogger("training").warning("Ctrl-C: stopping once the work under way (model loading) ends")
    _ctrl_c.set()


@contextmanager
def ctrl_c_held_back() -> Iterator[None]:
    """Within the block, a Ctrl-C is only remembered; it is raised when the block ends.

    For work where Python runs under C++: TensorFlow tracing a function, the JVM starting. A KeyboardInterrupt
    raised there can come out as another error (a full test run saw exit 1 in place of 130, from an
    interrupt inside a traced op's attribute lookup) or abort the interpreter. Without `remember_ctrl_c`, or
    outside the main thread, the block runs as it is."""
    if (
        signal.getsignal(signal.SIGINT) is not _remember_ctrl_c
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    signal.signal(signal.SIGINT, _only_remember_ctrl_c)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, _remember_ctrl_c)
    stop_if_ctrl_c()


def tokenized_lines(total: int, logger: logging.Logger) -> Callable[[int], None]:
    """A progress callback for tokenizing `total` texts that logs `tokenized N / total` every tenth of them."""
    step, reported = max(1, total // 10), [0]

    def report(done: int) -> None:
        if done - reported[0] >= step or done == total:
            reported[0] = done
            logger.info("  tokenized %s / %s", f"{done:,}", f"{total:,}")

    return report

"""Tokenizing data files once: results are cached on disk by data hash and tokenizer config."""

from __future__ import annotations

import ctypes
import gc
import gzip
import hashlib
import json
import logging
import multiprocessing
import os
import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import suppress
from pathlib import Path

from model.tokenizer import MorphTokenizer, Token
from training.progress import tokenized_lines

PR_SET_PDEATHSIG = 1
log = logging.getLogger(__name__)
PROCESS_POOL_MIN_TEXTS = 20_000  # below this, starting a JVM per process costs more than it saves
PROCESS_CHUNK = 500  # texts per task: Ctrl-C cancels the chunks not begun and waits for those in hand (2,000: ~6 s)
PARTIAL_SUFFIX = ".partial"
# What `write_cache_file` names a partial file: the tokens' KEY.json.PID.partial, an encoder's KEY.PID.partial.
_PARTIAL_NAME = re.compile(r"[0-9a-f]{32}(\.json)?\.(?P<pid>[0-9]{1,10})\.partial")
ORPHAN_AGE_S = (3600, 24 * 3600)  # removed when older than this and its writer is gone; older than this anyway
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "attnclf" / "tokens"


def cache_key(texts: list[str], tokenizer: MorphTokenizer) -> str:
    """Keyed by the texts themselves, not their file: one file read with another text column has other texts."""
    digest = hashlib.sha256()
    for text in texts:
        encoded = text.encode("utf-8", "surrogatepass")
        digest.update(len(encoded).to_bytes(8, "little") + encoded)
    # "v" goes up whenever tokenizing itself changes (3: decomposed text composed, skipped characters covered;
    # 4: words over 140 characters tagged in pieces; 5: invisible format characters skipped).
    config = json.dumps({"texts": digest.hexdigest(), "tokenizer": tokenizer.config(), "v": 5}, sort_keys=True)
    return hashlib.sha256(config.encode()).hexdigest()[:32]


def _tokens_from_rows(texts: list[str], rows: list) -> list[list[Token]]:
    return [[Token(text[s:e], s, e, form) for form, s, e in row] for text, row in zip(texts, rows)]


_worker_tokenizer: MorphTokenizer | None = None


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the training process dies, so a killed run leaves no orphans."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        log.debug("no prctl here; tokenizer workers may outlive a killed parent")


def _start_worker(name: str, options: dict) -> None:
    global _worker_tokenizer
    _die_with_parent()
    _worker_tokenizer = MorphTokenizer(name, options, workers=1)
    # Spawned workers re-import the parent's main module (and so TensorFlow); freeze those objects so the
    # JVM bridge's frequent full collections do not walk them (see Predictor.warm_up).
    gc.freeze()


def _tokenize_chunk(texts: list[str]) -> tuple[list[list[tuple[str, int, int]]], int]:
    """The chunk's token rows, and how many of its texts the tagger failed on."""
    assert _worker_tokenizer is not None
    before = _worker_tokenizer.fallbacks
    rows = [[(t.form, t.start, t.end) for t in _worker_tokenizer.tokenize(text)] for text in texts]
    return rows, _worker_tokenizer.fallbacks - before


def tokenize_in_processes(
    texts: list[str], tokenizer: MorphTokenizer, progress: Callable[[int], None]
) -> tuple[list[list[tuple[str, int, int]]], int]:
    """Tokenize a large corpus in `tokenizer.workers` processes, each with its own JVM; (rows, fallbacks).

    konlpy's Python-side conversion of every token holds the GIL, so threads stop scaling on long
    runs; separate processes do scale.
    """
    chunks = [texts[i : i + PROCESS_CHUNK] for i in range(0, len(texts), PROCESS_CHUNK)]
    rows: list[list[tuple[str, int, int]]] = []
    fallbacks = 0
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        tokenizer.workers, mp_context=context, initializer=_start_worker, initargs=(tokenizer.name, tokenizer.options)
    ) as pool:
        for part, failed in pool.map(_tokenize_chunk, chunks):
            rows.extend(part)
            fallbacks += failed
            progress(len(rows))
    return rows, fallbacks


def tokenize_cached(
    texts: list[str],
    tokenizer: MorphTokenizer,
    cache_dir: Path | None,
    logger: logging.Logger,
    what: str,
) -> list[list[Token]]:
    """Tokens for every text, read from `cache_dir` when these texts were tokenized the same way before."""
    path = cache_dir / f"{cache_key(texts, tokenizer)}.json.gz" if cache_dir else None
    if path is not None and (rows := _read_cache(path, logger)) is not None and len(rows) == len(texts):
        logger.info("tokenize %s: %s texts read from cache %s", what, f"{len(texts):,}", path)
        return _tokens_from_rows(texts, rows)
    logger.info(
        "tokenize %s: %s texts with %s (%d workers)", what, f"{len(texts):,}", tokenizer.name, tokenizer.workers
    )
    report = tokenized_lines(len(texts), logger)
    if len(texts) >= PROCESS_POOL_MIN_TEXTS and tokenizer.workers > 1 and not tokenizer.native_batches:
        rows, fallbacks = tokenize_in_processes(texts, tokenizer, report)
        tokens = _tokens_from_rows(texts, rows)
    else:
        before = tokenizer.fallbacks
        tokens = tokenizer.tokenize_many(texts, progress=report)
        rows = [[(t.form, t.start, t.end) for t in row] for row in tokens]
        fallbacks = tokenizer.fallbacks - before
    if fallbacks:
        logger.warning(
            "tokenize %s: %s failed on %d text(s), split on whitespace instead; not cached, so a rerun tries again",
            what, tokenizer.name, fallbacks,
        )  # fmt: skip
    elif path is not None:
        payload = gzip.compress(json.dumps(rows, ensure_ascii=False).encode(), compresslevel=3)
        write_cache_file(path, payload, logger, "the tokens")
    return tokens


def _read_cache(path: Path, logger: logging.Logger) -> list | None:
    """The cached rows at `path`; None when there are none or they cannot be read (then tokenized again)."""
    if not path.is_file():
        return None
    try:
        return json.loads(gzip.decompress(path.read_bytes()))
    except (OSError, EOFError, ValueError) as error:
        logger.warning("token cache %s cannot be read (%s); tokenizing again", path, error)
        return None


def write_cache_file(path: Path, payload: bytes, logger: logging.Logger, what: str) -> None:
    """Keep `payload` for the next run, whole or not at all. The cache only saves time: when it cannot be
    written, the run goes on.

    It is written to a partial file (`KEY.json.PID.partial` for tokens, `KEY.PID.partial` for an encoder) and
    renamed into place. The partial file is removed however the write ends (a full disk, a Ctrl-C); one left
    by a killed process is removed by a later write to the folder (`_remove_orphans`)."""
    partial = path.with_suffix(f".{os.getpid()}{PARTIAL_SUFFIX}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_orphans(path.parent)
        partial.write_bytes(payload)
        os.replace(partial, path)
    except OSError as error:
        logger.warning(
            "could not cache %s in %s (%s); going on without the cache (--cache-dir DIR or --no-cache "
            "avoids this)", what, path.parent, error.strerror or error,
        )  # fmt: skip
    finally:
        with suppress(OSError):  # gone once renamed; never made when the cache directory is a file
            partial.unlink(missing_ok=True)


def _remove_orphans(folder: Path) -> None:
    """Remove the partial cache files whose writer is gone (killed mid-write): only names `write_cache_file`
    makes, never this process's, and only when older than an hour (a write takes seconds) and either no
    process has that pid here or the file is older than a day (the pid was reused, or belongs to another
    machine sharing the folder)."""
    for orphan in folder.glob(f"*{PARTIAL_SUFFIX}"):
        written_by = _PARTIAL_NAME.fullmatch(orphan.name)
        if written_by is None or written_by["pid"] == str(os.getpid()):
            continue
        with suppress(OSError):  # another run's write ending meanwhile, or no permission: left as it is
            age = time.time() - orphan.stat().st_mtime
            if age > ORPHAN_AGE_S[1] or (age > ORPHAN_AGE_S[0] and not _running(written_by["pid"])):
                orphan.unlink()


def _running(pid: str) -> bool:
    """Whether a process with this pid exists here (one of another user's counts)."""
    try:
        os.kill(int(pid), 0)
    except PermissionError:
        return True
    except (ProcessLookupError, OverflowError):
        return False
    return True

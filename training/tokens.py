"""Tokenizing data files once: results are cached on disk by data hash and tokenizer config."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
from pathlib import Path

from model.tokenizer import MorphTokenizer, Token

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "attnclf" / "tokens"


def cache_key(data_sha256: str, tokenizer: MorphTokenizer) -> str:
    config = json.dumps({"data": data_sha256, "tokenizer": tokenizer.config(), "v": 1}, sort_keys=True)
    return hashlib.sha256(config.encode()).hexdigest()[:32]


def tokenize_cached(
    texts: list[str],
    data_sha256: str,
    tokenizer: MorphTokenizer,
    cache_dir: Path | None,
    logger: logging.Logger,
    what: str,
) -> list[list[Token]]:
    """Tokens for every text, read from `cache_dir` when this data was tokenized the same way before."""
    path = cache_dir / f"{cache_key(data_sha256, tokenizer)}.json.gz" if cache_dir else None
    if path is not None and path.is_file():
        rows = json.loads(gzip.decompress(path.read_bytes()))
        if len(rows) == len(texts):
            logger.info("tokenize %s: %s texts read from cache %s", what, f"{len(texts):,}", path)
            return [[Token(text[s:e], s, e, form) for form, s, e in row] for text, row in zip(texts, rows)]
    logger.info("tokenize %s: %s texts with %s (%d threads)", what, f"{len(texts):,}", tokenizer.name, tokenizer.workers)
    step, reported = max(1, len(texts) // 10), [0]

    def report(done: int) -> None:
        if done - reported[0] >= step or done == len(texts):
            reported[0] = done
            logger.info("  tokenized %s / %s", f"{done:,}", f"{len(texts):,}")

    tokens = tokenizer.tokenize_many(texts, progress=report)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [[[t.form, t.start, t.end] for t in row] for row in tokens]
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(gzip.compress(json.dumps(rows, ensure_ascii=False).encode(), compresslevel=3))
        os.replace(partial, path)
    return tokens

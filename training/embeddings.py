"""Word2vec embeddings trained on the training texts themselves (no downloads), to start the network from."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from model.vocab import PAD_ID, Vocabulary


def word2vec_matrix(
    documents: Sequence[Sequence[str]],
    vocab: Vocabulary,
    dim: int,
    seed: int,
    workers: int = 2,
    epochs: int = 5,
    logger: logging.Logger | None = None,
) -> np.ndarray:
    """An embedding matrix (len(vocab), dim): skip-gram vectors for known forms, small random ones
    (Keras' default uniform range) for forms word2vec did not keep, zeros for padding."""
    from gensim.models import Word2Vec

    model = Word2Vec(
        sentences=[list(d) for d in documents if d],
        vector_size=dim,
        window=5,
        min_count=2,
        sg=1,
        negative=5,
        workers=workers,
        epochs=epochs,
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(-0.05, 0.05, size=(len(vocab), dim)).astype("float32")
    found = [i for i, form in enumerate(vocab.tokens) if form in model.wv.key_to_index]
    matrix[found] = np.stack([model.wv[vocab.tokens[i]] for i in found])
    matrix[PAD_ID] = 0.0
    if logger is not None:
        logger.info("word2vec: vectors for %s of %s vocabulary forms", f"{len(found):,}", f"{len(vocab):,}")
    return matrix

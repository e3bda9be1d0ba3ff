"""Word2vec start for the embedding: trained on the training forms, padding zero, related forms close."""

from __future__ import annotations

import numpy as np

from model.vocab import PAD_ID, Vocabulary
from training.embeddings import word2vec_matrix


def test_word2vec_matrix_places_trained_vectors_by_vocabulary_id() -> None:
    rng = np.random.default_rng(0)
    good, bad = ["최고", "재밌다", "감동"], ["최악", "지루하다", "별로"]
    documents = [[*rng.choice(good, 2), "영화"] if i % 2 else [*rng.choice(bad, 2), "영화"] for i in range(2000)]
    vocab = Vocabulary.build(documents, min_count=1, max_size=20)
    matrix = word2vec_matrix(documents, vocab, dim=16, seed=1, workers=1, epochs=10)
    assert matrix.shape == (len(vocab), 16) and matrix.dtype == np.float32
    assert np.all(matrix[PAD_ID] == 0.0)

    def similarity(a: str, b: str) -> float:
        x, y = matrix[vocab.lookup([a])[0]], matrix[vocab.lookup([b])[0]]
        return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))

    # Forms that share contexts end up closer than forms that never co-occur.
    assert similarity("최고", "감동") > similarity("최고", "최악")

"""Word2vec start for the embedding: trained on the training forms, padding zero, related forms close."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from model.bundle import Bundle
from model.vocab import PAD_ID, Vocabulary
from tests.conftest import FIXTURES
from training.config import TrainConfig
from training.data import read_labelled
from training.embeddings import word2vec_matrix
from training.pipeline import train


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


def test_training_starts_the_network_from_the_word2vec_vectors(tmp_path: Path) -> None:
    """With a learning rate of 0 (and no language model) the saved embedding is exactly the starting one:
    word2vec rows are far longer than Keras' uniform(-0.05, 0.05) start, and padding stays zero."""
    data = read_labelled(FIXTURES / "nsmc_train_3k.tsv")
    norms = {}
    for pretrain in (True, False):
        config = TrainConfig(
            epochs=1, vocab_size=1000, embedding_dim=16, lstm_units=8, attention_units=8, learning_rate=0.0,
            pretrain_embeddings=pretrain, quantize_embeddings=False, language_model_epochs=0,
        )  # fmt: skip
        out = tmp_path / f"pretrain-{pretrain}"
        train(data, out, config, cache_dir=tmp_path / "cache", workers=1, quiet=True)
        matrix = Bundle.load(out).model.get_layer("embedding").get_weights()[0]
        norms[pretrain] = np.median(np.linalg.norm(matrix[PAD_ID + 2 :], axis=1))
        if pretrain:
            assert np.all(matrix[PAD_ID] == 0.0)
    assert norms[False] < 0.15 < 3 * norms[False] < norms[True]

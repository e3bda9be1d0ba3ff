"""The Bi-LSTM + final-state attention network, built from one config."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import keras
from keras import layers, ops

from model.attention import SCORE_FUNCTIONS, FinalStateAttention

PROBABILITIES = "probabilities"
ATTENTION = "attention"


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the network; saved in the bundle's config.json."""

    vocab_size: int
    num_classes: int
    embedding_dim: int = 100
    lstm_units: int = 128
    attention: str = "additive"
    attention_units: int = 64
    embedding_dropout: float = 0.2
    dropout: float = 0.4

    def __post_init__(self) -> None:
        if self.vocab_size < 3:
            raise ValueError(f"vocab_size must be at least 3 (pad, unk, one token), got {self.vocab_size}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {self.num_classes}")
        if self.attention not in SCORE_FUNCTIONS:
            raise ValueError(f"attention must be one of {SCORE_FUNCTIONS}, got {self.attention!r}")
        for name in ("embedding_dropout", "dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)


class Network(NamedTuple):
    """Three views of one network; they share every layer, so training one trains the others."""

    classifier: keras.Model
    explainer: keras.Model
    perturbable: keras.Model


def build_network(config: NetworkConfig) -> Network:
    """Return the network's three views.

    The classifier maps token ids `(batch, time)` to class probabilities and is what `fit` trains.
    The explainer maps the same ids to `{"probabilities": (batch, classes), "attention":
    (batch, time)}` and is what the bundle saves and the Predictor runs. The perturbable view maps
    `[token_ids, perturbation (batch, time, embedding_dim)]` to class probabilities with the
    perturbation added to the embedded tokens: adversarial training's way in
    (`training/adversarial.py`). Id 0 is padding.
    """
    embedding = layers.Embedding(config.vocab_size, config.embedding_dim, mask_zero=True, name="embedding")
    embedding_dropout = layers.SpatialDropout1D(config.embedding_dropout, name="embedding_dropout")
    encoder = layers.Bidirectional(
        layers.LSTM(config.lstm_units, return_sequences=True, return_state=True), name="bilstm"
    )
    final_state = layers.Concatenate(name="final_state")
    attention = FinalStateAttention(score=config.attention, units=config.attention_units, name="attention")
    dropout = layers.Dropout(config.dropout, name="dropout")
    classes = layers.Dense(config.num_classes, activation="softmax", name="classes")

    def classify(token_ids: keras.KerasTensor, perturbation: keras.KerasTensor | None = None) -> tuple:
        token_mask = ops.not_equal(token_ids, 0)
        embedded = embedding(token_ids)
        if perturbation is not None:
            embedded = layers.Add(name="perturbed_embedding")([embedded, perturbation])
        context, forward_h, _, backward_h, _ = encoder(embedding_dropout(embedded), mask=token_mask)
        vector, weights = attention(context, final_state([forward_h, backward_h]), mask=token_mask)
        return classes(dropout(vector)), weights

    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    probabilities, weights = classify(token_ids)
    perturbation = keras.Input(shape=(None, config.embedding_dim), name="perturbation")
    perturbed, _ = classify(token_ids, perturbation)
    return Network(
        classifier=keras.Model(token_ids, probabilities, name="classifier"),
        explainer=keras.Model(token_ids, {PROBABILITIES: probabilities, ATTENTION: weights}, name="explainer"),
        perturbable=keras.Model([token_ids, perturbation], perturbed, name="perturbable"),
    )

"""The Bi-LSTM + final-state attention network, built from one config."""

from __future__ import annotations

from dataclasses import asdict, dataclass

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
    members: int = 1

    def __post_init__(self) -> None:
        if self.members < 1:
            raise ValueError(f"members must be at least 1, got {self.members}")
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


def member_suffixes(members: int) -> list[str]:
    """The layer-name suffix of each ensemble member. A single network keeps the plain names
    (`embedding`, `bilstm`, ...); members of an ensemble are `embedding_0`, `embedding_1`, ..."""
    return [""] if members == 1 else [f"_{k}" for k in range(members)]


def member_suffixes_of(model: keras.Model) -> list[str]:
    """`member_suffixes` of a built or loaded network, read from its layer names."""
    members = sum(layer.name.startswith("bilstm") for layer in model.layers)
    if members == 0:
        raise ValueError(f"model {model.name!r} has no `bilstm` layer: not a network built by build_network")
    return member_suffixes(members)


def _member(token_ids, token_mask, config: NetworkConfig, suffix: str):
    """One Bi-LSTM + final-state attention network: `(probabilities, attention weights)`."""
    embedded = layers.Embedding(config.vocab_size, config.embedding_dim, mask_zero=True, name=f"embedding{suffix}")(
        token_ids
    )
    embedded = layers.SpatialDropout1D(config.embedding_dropout, name=f"embedding_dropout{suffix}")(embedded)
    encoder = layers.Bidirectional(
        layers.LSTM(config.lstm_units, return_sequences=True, return_state=True), name=f"bilstm{suffix}"
    )
    context, forward_h, _, backward_h, _ = encoder(embedded)
    query = layers.Concatenate(name=f"final_state{suffix}")([forward_h, backward_h])
    vector, weights = FinalStateAttention(
        score=config.attention, units=config.attention_units, name=f"attention{suffix}"
    )(context, query, mask=token_mask)
    hidden = layers.Dropout(config.dropout, name=f"dropout{suffix}")(vector)
    return layers.Dense(config.num_classes, activation="softmax", name=f"classes{suffix}")(hidden), weights


def build_network(config: NetworkConfig) -> tuple[keras.Model, keras.Model]:
    """Return `(classifier, explainer)`, two views sharing every layer.

    The classifier maps token ids `(batch, time)` to every member's class probabilities,
    `(batch, members, classes)`, and is what `fit` trains (each member on its own loss, see
    `member_crossentropy`). The explainer maps the same ids to `{"probabilities": (batch, classes),
    "attention": (batch, time)}`, both averaged over the members, and is what the bundle saves and
    the Predictor runs. Each member's weights over real tokens sum to 1, so their mean does too.
    Id 0 is padding.
    """
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    token_mask = ops.not_equal(token_ids, 0)
    outputs = [_member(token_ids, token_mask, config, suffix) for suffix in member_suffixes(config.members)]
    if config.members == 1:
        (probabilities, weights), member_probabilities = outputs[0], ops.expand_dims(outputs[0][0], 1)
    else:
        probabilities = layers.Average(name="mean_probabilities")([p for p, _ in outputs])
        weights = layers.Average(name="mean_attention")([w for _, w in outputs])
        member_probabilities = ops.stack([p for p, _ in outputs], axis=1)
    classifier = keras.Model(token_ids, member_probabilities, name="classifier")
    explainer = keras.Model(token_ids, {PROBABILITIES: probabilities, ATTENTION: weights}, name="explainer")
    return classifier, explainer


def member_crossentropy(labels, member_probabilities):
    """Each member's own cross-entropy, averaged: members train side by side but independently."""
    members = ops.shape(member_probabilities)[1]
    tiled = ops.repeat(ops.expand_dims(labels, 1), members, axis=1)
    return ops.mean(keras.losses.sparse_categorical_crossentropy(tiled, member_probabilities), axis=-1)


def ensemble_accuracy(labels, member_probabilities):
    """Accuracy of the members' mean probabilities, the answer the explainer gives."""
    predicted = ops.argmax(ops.mean(member_probabilities, axis=1), axis=-1)
    return ops.cast(ops.equal(ops.cast(ops.reshape(labels, (-1,)), predicted.dtype), predicted), "float32")

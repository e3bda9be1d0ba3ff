"""Final-state attention over a Bi-LSTM's outputs, with padding masked out of the scores."""

from __future__ import annotations

import math

import keras
from keras import ops

SCORE_FUNCTIONS = ("additive", "dot")
MASK_PENALTY = -1e9


@keras.saving.register_keras_serializable(package="attnclf")
class FinalStateAttention(keras.layers.Layer):
    """Attention whose query is the encoder's final state and whose keys/values are its outputs.

    Additive (Bahdanau) scoring: `e_t = v^T tanh(W1 h_t + W2 q)`. Scaled dot-product scoring:
    `e_t = h_t^T W q / sqrt(d)`. Positions where the mask is 0 get `-1e9` added to their score
    before the softmax, so their weight is exactly 0 and the weights over real tokens sum to 1.

    Args:
        score: `"additive"` (default) or `"dot"`.
        units: size of the additive scoring space; ignored by `"dot"`.
        **kwargs: standard `keras.layers.Layer` arguments.

    Call arguments:
        context: float tensor `(batch, time, d)`, the Bi-LSTM outputs (the context matrix).
        query: float tensor `(batch, q)`, the concatenated final forward and backward states.
        mask: optional bool/int tensor `(batch, time)`, 1 for real tokens and 0 for padding.

    Returns:
        A tuple `(context_vector (batch, d), weights (batch, time))`.

    Example:
    >>> layer = FinalStateAttention(score="additive", units=32)
    >>> vector, weights = layer(keras.ops.ones((2, 5, 8)), keras.ops.ones((2, 8)))
    >>> tuple(weights.shape)
    (2, 5)
    """

    def __init__(self, score: str = "additive", units: int = 64, **kwargs):
        super().__init__(**kwargs)
        if score not in SCORE_FUNCTIONS:
            raise ValueError(f"`score` must be one of {SCORE_FUNCTIONS}, got {score!r}")
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"`units` must be a positive int, got {units!r}")
        self.score = score
        self.units = units

    def build(self, context_shape, query_shape):
        context_dim, query_dim = context_shape[-1], query_shape[-1]
        if self.score == "additive":
            self.context_projection = self.add_weight(
                name="context_projection", shape=(context_dim, self.units), initializer="glorot_uniform"
            )
            self.query_projection = self.add_weight(
                name="query_projection", shape=(query_dim, self.units), initializer="glorot_uniform"
            )
            self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
            self.score_vector = self.add_weight(
                name="score_vector", shape=(self.units, 1), initializer="glorot_uniform"
            )
        else:
            self.bilinear = self.add_weight(
                name="bilinear", shape=(context_dim, query_dim), initializer="glorot_uniform"
            )

    def _scores(self, context, query):
        if self.score == "additive":
            keys = ops.matmul(context, self.context_projection)
            queries = ops.expand_dims(ops.matmul(query, self.query_projection), 1)
            hidden = ops.tanh(keys + queries + self.bias)
            return ops.squeeze(ops.matmul(hidden, self.score_vector), -1)
        projected_query = ops.expand_dims(ops.matmul(query, ops.transpose(self.bilinear)), -1)
        scale = 1.0 / math.sqrt(float(context.shape[-1]))
        return ops.squeeze(ops.matmul(context, projected_query), -1) * scale

    def call(self, context, query, mask=None):
        scores = self._scores(context, query)
        if mask is not None:
            padding = 1.0 - ops.cast(mask, scores.dtype)
            scores = scores + padding * MASK_PENALTY
        weights = ops.softmax(scores, axis=-1)
        vector = ops.sum(context * ops.expand_dims(weights, -1), axis=1)
        return vector, weights

    def compute_output_shape(self, context_shape, query_shape=None):
        return (context_shape[0], context_shape[-1]), (context_shape[0], context_shape[1])

    def compute_mask(self, context, query=None, mask=None):
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"score": self.score, "units": self.units})
        return config

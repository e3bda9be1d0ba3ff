"""Gradient x input token attributions: a second opinion on what the network read, to check attention against.

The explainer network is replayed layer by layer (by name, in inference mode, dropout skipped) under a
`tf.GradientTape`, so the gradient of the predicted class probability can be taken with respect to the
embedding output. A token's score is `|sum_d grad_d * embedding_d|`: the magnitude only, because the
scores are used to rank tokens by influence whatever its direction. Padding (id 0) scores exactly 0.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from model.predictor import Predictor
from model.vocab import PAD_ID, UNK_ID


def _replay(model: keras.Model, ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Gradient x input scores (batch, time) and the replayed probabilities (batch, classes)."""
    mask = tf.not_equal(ids, PAD_ID)
    with tf.GradientTape() as tape:
        embedded = model.get_layer("embedding")(ids)
        tape.watch(embedded)
        context, forward_h, _, backward_h, _ = model.get_layer("bilstm")(embedded, mask=mask, training=False)
        query = model.get_layer("final_state")([forward_h, backward_h])
        vector, _ = model.get_layer("attention")(context, query, mask=mask)
        probabilities = model.get_layer("classes")(vector)
        predicted = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        chosen = tf.gather(probabilities, predicted, axis=1, batch_dims=1)
    gradient = tape.gradient(chosen, embedded)
    scores = tf.abs(tf.reduce_sum(gradient * embedded, axis=-1)) * tf.cast(mask, embedded.dtype)
    return scores, probabilities


@functools.lru_cache(maxsize=4)  # bounded: each traced function holds its model
def _compiled(model: keras.Model) -> tf.types.experimental.PolymorphicFunction:
    """One traced function per model, so repeated batches do not pay for eager LSTM loops."""
    return tf.function(lambda ids: _replay(model, ids), input_signature=[tf.TensorSpec([None, None], tf.int32)])


def _padded(ids_batch: Sequence[Sequence[int]] | np.ndarray) -> np.ndarray:
    """A 2-D int32 batch; lists are padded to the longest, and an empty list is read as one unknown token
    (as `Predictor.forward` does)."""
    if isinstance(ids_batch, np.ndarray):
        return ids_batch.astype(np.int32, copy=False)
    padded = np.full((len(ids_batch), max([1, *(len(ids) for ids in ids_batch)])), PAD_ID, dtype=np.int32)
    for row, ids in enumerate(ids_batch):
        padded[row, : max(1, len(ids))] = list(ids) or [UNK_ID]
    return padded


def gradient_attribution(
    predictor_or_model: Predictor | keras.Model, ids_batch: Sequence[Sequence[int]] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`(scores (batch, time), probabilities (batch, classes))` from one replay of the network.

    The probabilities are returned so callers (and tests) can check the replay matches the model.
    `ids_batch` is a padded int array or a list of id lists (padded here to the longest).
    """
    model = predictor_or_model.bundle.model if isinstance(predictor_or_model, Predictor) else predictor_or_model
    scores, probabilities = _compiled(model)(tf.constant(_padded(ids_batch)))
    return scores.numpy(), probabilities.numpy()


def gradient_x_input(
    predictor_or_model: Predictor | keras.Model, ids_batch: Sequence[Sequence[int]] | np.ndarray
) -> np.ndarray:
    """|gradient x input| of the predicted class probability per token, shape (batch, time), 0 on padding."""
    return gradient_attribution(predictor_or_model, ids_batch)[0]

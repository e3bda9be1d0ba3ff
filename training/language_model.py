"""Pre-training the classifier's encoder as a bidirectional language model on the training texts.

The labels say little about how reviews are written; the texts themselves say much more. Before
the classifier learns the labels, its embedding and Bi-LSTM learn to predict every token from the
tokens before it (the forward LSTM) and from the tokens after it (the backward LSTM), as ELMo's
language models do. The classifier then starts from those weights. Only the training rows are
read, and nothing is downloaded. The pre-trained weights are cached, so that runs which differ only
in how the classifier learns (epochs, dropout, adversarial training) pre-train once.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from model.native_log import native_output_logged
from model.vocab import PAD_ID
from training.progress import stop_if_ctrl_c
from training.tokens import write_cache_file

SAMPLED_FORMS = 256  # the softmax over the vocabulary is estimated from this many sampled forms per batch
LANGUAGE_MODEL_DROPOUT = 0.2
LANGUAGE_MODEL_LEARNING_RATE = 1e-3
# Goes up whenever pre-training itself changes, so that encoders cached by earlier code are not reused.
CACHE_VERSION = 1
PRE_TRAINED_LAYERS = ("embedding", "bilstm")


def pretrain_encoder(
    network: keras.Model,
    batches: Callable[[], Iterable[tuple[np.ndarray, Any]]],
    epochs: int,
    learning_rate: float = LANGUAGE_MODEL_LEARNING_RATE,
    logger: logging.Logger | None = None,
    verbose: bool = False,
) -> list[float]:
    """Train `network`'s "embedding" and "bilstm" layers in place as a language model; returns the
    mean loss of each epoch.

    Every call of `batches()` yields one pass of `(token_ids, anything)`, `token_ids` (batch, time) padded
    with 0 (`training.pipeline.bucketed_arrays`). Plain arrays rather than a tf.data pipeline: here, ending
    a pass over a generator-backed dataset stalled for about 35 s in two epochs out of five. At every
    position the forward half of the Bi-LSTM's output predicts the next token and the backward half
    the previous one, through one output table shared by both directions (sampled softmax). The
    network's other layers are not touched.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    embedding, encoder = network.get_layer("embedding"), network.get_layer("bilstm")
    vocab_size, units = embedding.input_dim, encoder.forward_layer.units
    dropout = layers.SpatialDropout1D(LANGUAGE_MODEL_DROPOUT)
    output_dropout = layers.Dropout(LANGUAGE_MODEL_DROPOUT)
    output_table = keras.Variable(
        keras.initializers.RandomUniform(-0.05, 0.05)((vocab_size, units)), name="language_model_output_table"
    )
    output_bias = keras.Variable(np.zeros(vocab_size, "float32"), name="language_model_output_bias")
    variables = [*embedding.trainable_variables, *encoder.trainable_variables, output_table, output_bias]
    optimizer = keras.optimizers.Adam(learning_rate, clipnorm=1.0)
    optimizer.build(variables)
    sampled = min(SAMPLED_FORMS, vocab_size - 1)

    def loss_of(token_ids: tf.Tensor) -> tf.Tensor:
        mask = tf.not_equal(token_ids, PAD_ID)
        context = encoder(dropout(embedding(token_ids), training=True), mask=mask, training=True)[0]
        context = output_dropout(context, training=True)
        forward, backward = context[..., :units], context[..., units:]
        pairs = mask[:, 1:]  # position t and t+1 both hold tokens
        inputs = tf.concat([tf.boolean_mask(forward[:, :-1], pairs), tf.boolean_mask(backward[:, 1:], pairs)], 0)
        targets = tf.concat([tf.boolean_mask(token_ids[:, 1:], pairs), tf.boolean_mask(token_ids[:, :-1], pairs)], 0)
        losses = tf.nn.sampled_softmax_loss(
            tf.convert_to_tensor(output_table),
            tf.convert_to_tensor(output_bias),
            tf.cast(targets[:, None], tf.int64),
            inputs,
            num_sampled=sampled,
            num_classes=vocab_size,
        )
        # A batch of one-token texts has no pair: its loss is 0 rather than the NaN of an empty mean.
        return tf.math.divide_no_nan(tf.reduce_sum(losses), tf.cast(tf.size(losses), tf.float32))

    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.int32)])
    def step(token_ids: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_of(token_ids)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    history = []
    for epoch in range(1, epochs + 1):
        started, losses = time.perf_counter(), []
        progress = keras.utils.Progbar(None, verbose=1 if verbose else 0, stateful_metrics=["loss"])
        for token_ids, _ in batches():
            first_step = not history and not losses
            # The masked LSTM's first run prints a oneDNN notice that reads like an error (see training/pipeline.py).
            with native_output_logged() if first_step else contextlib.nullcontext():
                losses.append(float(step(token_ids)))
            progress.add(1, [("loss", sum(losses) / len(losses))])
            stop_if_ctrl_c()
        history.append(float(np.mean(losses)))
        if logger is not None:
            logger.info(
                "language model epoch %d/%d: loss %.3f in %.0f s",
                epoch,
                epochs,
                history[-1],
                time.perf_counter() - started,
            )
    return history


def cache_key(vocabulary: list[str], token_ids: list[list[int]], settings: dict) -> str:
    """What pre-training starts from: the vocabulary, every training text's token ids (in order: they
    fix the batches), the settings that shape the encoder or its training (sizes, epochs, seed) and
    this module's own constants."""
    constants = {"sampled": SAMPLED_FORMS, "dropout": LANGUAGE_MODEL_DROPOUT, "lr": LANGUAGE_MODEL_LEARNING_RATE}
    described = {"vocabulary": vocabulary, "settings": settings, "constants": constants, "v": CACHE_VERSION}
    digest = hashlib.sha256(json.dumps(described, ensure_ascii=False, sort_keys=True).encode())
    for ids in token_ids:
        digest.update(len(ids).to_bytes(4, "little") + np.asarray(ids, "<i4").tobytes())
    return digest.hexdigest()[:32]


def write_pretrained(path: Path, network: keras.Model, history: list[float], logger: logging.Logger) -> None:
    """Keep the pre-trained "embedding" and "bilstm" weights and the epochs' losses for the next run."""
    arrays = {
        f"{name}/{index}": weight
        for name in PRE_TRAINED_LAYERS
        for index, weight in enumerate(network.get_layer(name).get_weights())
    }
    buffer = io.BytesIO()
    np.savez(buffer, loss=np.asarray(history, "float64"), **arrays)
    write_cache_file(path, buffer.getvalue(), logger, "the pre-trained language model")


def read_pretrained(path: Path, network: keras.Model, epochs: int, logger: logging.Logger) -> list[float] | None:
    """Load the weights `write_pretrained` kept at `path` into `network`; returns the `epochs` losses, or
    None (and `network` untouched) when there are none or they do not fit it."""
    expected = {name: [w.shape for w in network.get_layer(name).get_weights()] for name in PRE_TRAINED_LAYERS}
    try:
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as saved:
            weights = {name: [saved[f"{name}/{i}"] for i in range(len(shapes))] for name, shapes in expected.items()}
            history = saved["loss"]
        if history.shape != (epochs,):
            raise ValueError(f"losses of shape {history.shape} for {epochs} epochs")
        for name, arrays in weights.items():
            if [a.shape for a in arrays] != expected[name]:
                raise ValueError(f"{name} weights of shapes {[a.shape for a in arrays]}, expected {expected[name]}")
            if not all(a.dtype.kind == "f" and np.isfinite(a).all() for a in arrays):
                raise ValueError(f"{name} weights that are not finite numbers")
    except Exception as error:  # the cache only saves time: whatever is wrong with it, pre-train again
        logger.warning("language model cache %s cannot be read (%s); pre-training again", path, error)
        return None
    for name, arrays in weights.items():
        network.get_layer(name).set_weights(arrays)
    return [float(x) for x in history]

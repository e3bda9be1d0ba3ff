"""Adversarial training: the perturbation points where the loss rises, and a step learns from both batches."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from model.network import NetworkConfig, build_network
from training.adversarial import AdversarialClassifier, AdversarialSchedule

# No dropout, so that every pass over a batch computes the same function.
CONFIG = NetworkConfig(vocab_size=50, num_classes=3, embedding_dim=8, lstm_units=8, attention_units=4,
                       embedding_dropout=0.0, dropout=0.0)  # fmt: skip
TOKEN_IDS = np.array([[5, 9, 2, 31, 7, 0, 0], [8, 3, 0, 0, 0, 0, 0], [4, 4, 12, 40, 41, 42, 6]], dtype="int32")
TARGETS = np.array([0, 2, 1])


def loss_of(network, perturbation: np.ndarray) -> float:
    predicted = network.perturbable([TOKEN_IDS, perturbation])
    return float(keras.losses.sparse_categorical_crossentropy(TARGETS, predicted).numpy().mean())


def adversarial(network, epsilon: float, from_epoch: int = 1) -> AdversarialClassifier:
    model = AdversarialClassifier(network, epsilon, from_epoch)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    return model


def test_the_perturbable_view_without_a_perturbation_is_the_classifier_and_ignores_padding() -> None:
    network = build_network(CONFIG)
    zeros = np.zeros((*TOKEN_IDS.shape, CONFIG.embedding_dim), "float32")
    plain = np.asarray(network.classifier(TOKEN_IDS))
    np.testing.assert_allclose(np.asarray(network.perturbable([TOKEN_IDS, zeros])), plain, atol=1e-6)
    on_padding = zeros.copy()
    on_padding[TOKEN_IDS == 0] = 5.0
    np.testing.assert_allclose(np.asarray(network.perturbable([TOKEN_IDS, on_padding])), plain, atol=1e-6)
    on_a_token = zeros.copy()
    on_a_token[0, 0] = 5.0
    moved = np.asarray(network.perturbable([TOKEN_IDS, on_a_token]))
    assert not np.allclose(moved[0], plain[0], atol=1e-4)
    np.testing.assert_allclose(moved[1:], plain[1:], atol=1e-6)


def test_the_perturbation_has_norm_epsilon_per_text_spares_padding_and_raises_the_loss() -> None:
    network = build_network(CONFIG)
    perturbation = np.asarray(adversarial(network, epsilon=0.5).perturbation(TOKEN_IDS, TARGETS))
    assert perturbation.shape == (*TOKEN_IDS.shape, CONFIG.embedding_dim)
    np.testing.assert_allclose(np.linalg.norm(perturbation, axis=(1, 2)), 0.5, rtol=1e-5)
    assert np.all(perturbation[TOKEN_IDS == 0] == 0.0)
    unperturbed = loss_of(network, np.zeros_like(perturbation))
    assert loss_of(network, perturbation) > unperturbed > loss_of(network, -perturbation)
    # No random direction of the same size raises the loss as much: this one is the steepest.
    rng = np.random.default_rng(0)
    for _ in range(20):
        direction = rng.normal(size=perturbation.shape).astype("float32") * (TOKEN_IDS != 0)[..., None]
        direction *= 0.5 / np.linalg.norm(direction, axis=(1, 2), keepdims=True)
        assert loss_of(network, direction) < loss_of(network, perturbation)


def test_a_step_follows_the_sum_of_both_losses_gradients() -> None:
    """With a vanishing epsilon the two losses coincide, so one adversarial SGD step equals one plain step at
    twice the learning rate, embedding rows (sparse gradients) included."""
    network, plain = build_network(CONFIG), build_network(CONFIG)
    plain.classifier.set_weights(network.classifier.get_weights())
    untrained = network.classifier.get_weights()
    adversarial(network, epsilon=1e-6).train_on_batch(TOKEN_IDS, TARGETS)
    plain.classifier.compile(optimizer=keras.optimizers.SGD(1.0), loss="sparse_categorical_crossentropy")
    plain.classifier.train_on_batch(TOKEN_IDS, TARGETS)
    assert any(not np.allclose(a, b) for a, b in zip(network.classifier.get_weights(), untrained))
    for after, expected in zip(network.classifier.get_weights(), plain.classifier.get_weights()):
        np.testing.assert_allclose(after, expected, atol=1e-4)


def test_a_step_follows_the_gradient_of_the_plain_plus_the_perturbed_loss() -> None:
    """At a real epsilon, one SGD step moves every weight by the gradient of `L(x) + L(x + r)`, `r` the
    batch's perturbation, each text's loss weighted by its sample weight in both terms."""
    network = build_network(CONFIG)
    model = adversarial(network, epsilon=0.5)
    model.optimizer.learning_rate.assign(1.0)
    weights = np.array([1.0, 0.5, 2.0], "float32")
    perturbation = np.asarray(model.perturbation(TOKEN_IDS, TARGETS))
    loss = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        both = loss(TARGETS, network.classifier(TOKEN_IDS, training=True), sample_weight=weights) + loss(
            TARGETS, network.perturbable([TOKEN_IDS, perturbation], training=True), sample_weight=weights
        )
    variables = network.classifier.trainable_variables
    expected = [-np.asarray(tf.convert_to_tensor(g)) for g in tape.gradient(both, variables)]
    before = [np.array(v) for v in variables]
    model.train_on_batch(TOKEN_IDS, TARGETS, sample_weight=weights)
    for variable, start, step in zip(variables, before, expected):
        assert np.abs(step).max() > 0
        np.testing.assert_allclose(np.array(variable) - start, step, rtol=1e-3, atol=3e-7)  # float32 rounding


def test_epochs_before_from_epoch_learn_only_the_batch_as_it_is() -> None:
    """Epoch 1 is a plain step; from epoch 2 the step follows both losses (twice the plain step, as above)."""
    network, plain = build_network(CONFIG), build_network(CONFIG)
    plain.classifier.set_weights(network.classifier.get_weights())
    model = adversarial(network, epsilon=1e-6, from_epoch=2)
    model.fit(TOKEN_IDS, TARGETS, batch_size=3, epochs=2, shuffle=False, verbose=0, callbacks=[AdversarialSchedule()])
    optimizer = keras.optimizers.SGD(0.5)
    plain.classifier.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
    plain.classifier.train_on_batch(TOKEN_IDS, TARGETS)
    optimizer.learning_rate.assign(1.0)
    plain.classifier.train_on_batch(TOKEN_IDS, TARGETS)
    for after, expected in zip(network.classifier.get_weights(), plain.classifier.get_weights()):
        np.testing.assert_allclose(after, expected, atol=1e-4)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"epsilon": 0.0}, "`epsilon` must be a positive number"), ({"epsilon": -1.0}, "`epsilon` must be a positive"),
     ({"epsilon": 1.0, "from_epoch": 0}, "`from_epoch` must be at least 1, got 0")],
)  # fmt: skip
def test_bad_arguments_are_named(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AdversarialClassifier(build_network(CONFIG), **arguments)

"""Adversarial training on the embedded tokens (Miyato, Dai and Goodfellow, "Adversarial Training
Methods for Semi-Supervised Text Classification", ICLR 2017).

Every training step also learns from the batch with each text's embedded tokens pushed a small
distance `epsilon` in the direction that raises its loss most (the loss's gradient, scaled to norm
`epsilon` per text). The network learns answers that do not hinge on one token's exact vector,
which regularises a model whose embedding is most of its weights. Only training changes: the
saved network and the Predictor are the same.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from model.network import Network


def _summed(first: tf.Tensor | tf.IndexedSlices, second: tf.Tensor | tf.IndexedSlices) -> tf.Tensor | tf.IndexedSlices:
    """Two gradients of one variable added; the embedding's stay sparse (rows looked up in the batch)."""
    if isinstance(first, tf.IndexedSlices):
        values = tf.concat([first.values, second.values], 0)
        return tf.IndexedSlices(values, tf.concat([first.indices, second.indices], 0), first.dense_shape)
    return first + second


class AdversarialClassifier(keras.Model):
    """The network's classifier, trained on each batch as it is and as its adversarial perturbation.

    The loss of a step is `L(x) + L(x + r)`, where `r` is `epsilon` times `L(x)`'s gradient with
    respect to the embedded tokens, normalised over each text's tokens (padding gets none: the
    encoder masks it, so its gradient is 0). The `loss` it logs is `L(x)` alone, comparable with
    plain epochs. Calling the model is calling the classifier, so evaluation, early stopping and
    `predict` see the plain network.

    The epochs before `from_epoch` learn each batch only as it is, at half the cost: on NSMC the
    first two epochs reached the same validation accuracy either way. `fit` needs the
    `AdversarialSchedule` callback to know the epoch.

    Args:
        network: the three views from `model.network.build_network`.
        epsilon: the norm of each text's perturbation, > 0.
        from_epoch: the first epoch (1-based) that also learns the perturbed batches.

    Example:
    >>> model = AdversarialClassifier(build_network(NetworkConfig(100, 2)), epsilon=1.0, from_epoch=3)
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> model.fit(batches, epochs=5, callbacks=[AdversarialSchedule()])
    """

    def __init__(self, network: Network, epsilon: float, from_epoch: int = 1, **kwargs):
        super().__init__(**kwargs)
        if not epsilon > 0:
            raise ValueError(f"`epsilon` must be a positive number, got {epsilon}")
        if from_epoch < 1:
            raise ValueError(f"`from_epoch` must be at least 1, got {from_epoch}")
        self.classifier, self.perturbable = network.classifier, network.perturbable
        self.epsilon = float(epsilon)
        self.from_epoch = from_epoch
        self.perturbing = from_epoch == 1
        self.embedding_dim = network.classifier.get_layer("embedding").output_dim

    def begin_epoch(self, epoch: int) -> None:
        """Perturb from `from_epoch` (1-based) on; the training step is traced again when that changes."""
        perturbing = epoch >= self.from_epoch
        if perturbing != self.perturbing:
            self.perturbing = perturbing
            self.make_train_function(force=True)

    def call(self, token_ids: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.classifier(token_ids, training=training)

    def perturbation(self, token_ids: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        """The adversarial perturbation of a batch's embedded tokens, `(batch, time, embedding_dim)`."""
        token_ids = tf.convert_to_tensor(token_ids)
        return self._scaled(self._loss_and_gradients(token_ids, targets, self._no_perturbation(token_ids))[-1])

    def train_step(self, data: tuple) -> dict:
        if not self.perturbing:
            return super().train_step(data)
        token_ids, targets, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        loss, predicted, gradients, towards_loss = self._loss_and_gradients(
            token_ids, targets, self._no_perturbation(token_ids), sample_weight
        )
        perturbation = self._scaled(towards_loss)
        *_, perturbed_gradients, _ = self._loss_and_gradients(token_ids, targets, perturbation, sample_weight)
        self.optimizer.apply_gradients(zip(map(_summed, gradients, perturbed_gradients), self.trainable_weights))
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(token_ids)[0])
        return self.compute_metrics(token_ids, targets, predicted, sample_weight)

    def _no_perturbation(self, token_ids: tf.Tensor) -> tf.Tensor:
        return tf.zeros(tf.concat([tf.shape(token_ids), [self.embedding_dim]], 0))

    def _loss_and_gradients(
        self, token_ids: tf.Tensor, targets: tf.Tensor, perturbation: tf.Tensor, sample_weight: tf.Tensor | None = None
    ) -> tuple:
        """`(loss, predicted, gradients of the weights, gradient of the perturbation)` of the perturbed batch."""
        with tf.GradientTape() as tape:
            tape.watch(perturbation)
            predicted = self.perturbable([token_ids, perturbation], training=True)
            loss = self._compute_loss(
                x=token_ids, y=targets, y_pred=predicted, sample_weight=sample_weight, training=True
            )
        *gradients, towards_loss = tape.gradient(loss, [*self.trainable_weights, perturbation])
        return loss, predicted, gradients, towards_loss

    def _scaled(self, towards_loss: tf.Tensor) -> tf.Tensor:
        """Each text's gradient scaled to norm `epsilon` (a text whose gradient is 0 stays unperturbed)."""
        towards_loss = tf.stop_gradient(towards_loss)
        norms = tf.sqrt(tf.reduce_sum(tf.square(towards_loss), axis=[1, 2], keepdims=True))
        return self.epsilon * tf.math.divide_no_nan(towards_loss, norms)


class AdversarialSchedule(keras.callbacks.Callback):
    """Tells an `AdversarialClassifier` which epoch begins, so it starts perturbing at its `from_epoch`."""

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.model.begin_epoch(epoch + 1)

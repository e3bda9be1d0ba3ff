"""The attention layer and the network: masking, padding invariance, config and .keras round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model.attention import FinalStateAttention
from model.network import (
    ATTENTION,
    PROBABILITIES,
    NetworkConfig,
    build_network,
    ensemble_accuracy,
    member_crossentropy,
    member_suffixes_of,
)


@pytest.mark.parametrize("score", ["additive", "dot"])
def test_padding_gets_zero_weight_and_real_tokens_sum_to_one(score: str) -> None:
    layer = FinalStateAttention(score=score, units=8)
    rng = np.random.default_rng(0)
    context = rng.normal(size=(3, 6, 4)).astype("float32")
    query = rng.normal(size=(3, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
    vector, weights = layer(context, query, mask=mask)
    weights = np.asarray(weights)
    assert np.all(weights[~mask] == 0.0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    assert weights[1, 0] == pytest.approx(1.0)
    expected = (context * weights[..., None]).sum(axis=1)
    np.testing.assert_allclose(np.asarray(vector), expected, atol=1e-5)


def test_without_mask_every_position_counts() -> None:
    _, weights = FinalStateAttention(units=4)(np.ones((2, 5, 3), "float32"), np.ones((2, 3), "float32"))
    np.testing.assert_allclose(np.asarray(weights), 0.2, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"score": "cosine"}, "`score` must be one of"), ({"units": 0}, "`units` must be a positive int")],
)
def test_bad_arguments_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FinalStateAttention(**kwargs)


def test_config_round_trip() -> None:
    layer = FinalStateAttention(score="dot", units=12, name="att")
    clone = FinalStateAttention.from_config(layer.get_config())
    assert (clone.score, clone.units, clone.name) == ("dot", 12, "att")
    assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer)).score == "dot"


@pytest.mark.parametrize("score", ["additive", "dot"])
def test_network_answer_does_not_depend_on_padding(score: str) -> None:
    _, explainer = build_network(NetworkConfig(vocab_size=40, num_classes=3, attention=score))
    ids = [5, 9, 2, 31, 7]
    short = np.array([ids + [0] * 3], dtype="int32")
    long = np.array([ids + [0] * 27], dtype="int32")
    a, b = explainer(short), explainer(long)
    np.testing.assert_allclose(np.asarray(a[PROBABILITIES]), np.asarray(b[PROBABILITIES]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(a[ATTENTION])[:, :5], np.asarray(b[ATTENTION])[:, :5], atol=1e-5)
    assert np.all(np.asarray(b[ATTENTION])[:, 5:] == 0.0)
    np.testing.assert_allclose(np.asarray(b[ATTENTION]).sum(), 1.0, atol=1e-6)


def test_keras_file_round_trip_gives_the_same_outputs(tmp_path) -> None:
    _, explainer = build_network(NetworkConfig(vocab_size=30, num_classes=2, attention="dot"))
    ids = np.array([[3, 4, 5, 0], [7, 0, 0, 0]], dtype="int32")
    before = explainer(ids)
    explainer.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    after = loaded(ids)
    for key in (PROBABILITIES, ATTENTION):
        np.testing.assert_allclose(np.asarray(before[key]), np.asarray(after[key]), atol=1e-6)
    assert loaded.get_layer("attention").get_config()["score"] == "dot"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 2}, "vocab_size"),
        ({"num_classes": 1}, "num_classes"),
        ({"attention": "mlp"}, "attention"),
        ({"dropout": 1.0}, "dropout"),
        ({"members": 0}, "members"),
    ],
)
def test_network_config_is_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NetworkConfig(**{"vocab_size": 10, "num_classes": 2, **kwargs})


def test_ensemble_averages_its_members_and_keeps_attention_a_distribution() -> None:
    classifier, explainer = build_network(NetworkConfig(vocab_size=40, num_classes=3, members=3))
    assert member_suffixes_of(explainer) == ["_0", "_1", "_2"]
    ids = np.array([[5, 9, 2, 0, 0], [7, 3, 0, 0, 0]], dtype="int32")
    members = np.asarray(classifier(ids))
    assert members.shape == (2, 3, 3)
    assert not np.allclose(members[:, 0], members[:, 1])  # members start from different weights
    answer = explainer(ids)
    np.testing.assert_allclose(np.asarray(answer[PROBABILITIES]), members.mean(axis=1), atol=1e-6)
    weights = np.asarray(answer[ATTENTION])
    assert np.all(weights[ids == 0] == 0.0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)


def test_member_loss_is_each_members_own_crossentropy() -> None:
    labels = np.array([0, 2], dtype="int32")
    members = np.array([[[0.7, 0.2, 0.1], [0.2, 0.2, 0.6]], [[0.1, 0.1, 0.8], [0.3, 0.3, 0.4]]], dtype="float32")
    expected = -(np.log(members[[0, 1], :, labels].T)).mean(axis=0)  # per example, mean over members
    np.testing.assert_allclose(np.asarray(member_crossentropy(labels, members)), expected, rtol=1e-5)
    # The ensemble answers from the mean: (0.45, 0.2, 0.35) -> 0, right; (0.2, 0.2, 0.6) -> 2, right.
    np.testing.assert_array_equal(np.asarray(ensemble_accuracy(labels, members)), [1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(ensemble_accuracy(np.array([1, 1]), members)), [0.0, 0.0])


def test_int8_embeddings_survive_a_keras_file_round_trip(tmp_path) -> None:
    _, explainer = build_network(NetworkConfig(vocab_size=300, num_classes=2, embedding_dim=16, members=2))
    ids = np.array([[3, 4, 5, 0], [7, 250, 0, 0]], dtype="int32")
    before = np.asarray(explainer(ids)[PROBABILITIES])
    for suffix in member_suffixes_of(explainer):
        explainer.get_layer(f"embedding{suffix}").quantize("int8")
    quantized = np.asarray(explainer(ids)[PROBABILITIES])
    np.testing.assert_allclose(quantized, before, atol=1e-3)
    explainer.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.get_layer("embedding_1").dtype_policy.name == "int8_from_float32"
    np.testing.assert_allclose(np.asarray(loaded(ids)[PROBABILITIES]), quantized, atol=1e-6)

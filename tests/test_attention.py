"""The attention layer and the network: masking, padding invariance, config and .keras round trips."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from model.attention import FinalStateAttention
from model.network import ATTENTION, PROBABILITIES, NetworkConfig, build_network


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
    explainer = build_network(NetworkConfig(vocab_size=40, num_classes=3, attention=score)).explainer
    ids = [5, 9, 2, 31, 7]
    short = np.array([ids + [0] * 3], dtype="int32")
    long = np.array([ids + [0] * 27], dtype="int32")
    a, b = explainer(short), explainer(long)
    np.testing.assert_allclose(np.asarray(a[PROBABILITIES]), np.asarray(b[PROBABILITIES]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(a[ATTENTION])[:, :5], np.asarray(b[ATTENTION])[:, :5], atol=1e-5)
    assert np.all(np.asarray(b[ATTENTION])[:, 5:] == 0.0)
    np.testing.assert_allclose(np.asarray(b[ATTENTION]).sum(), 1.0, atol=1e-6)


def test_the_query_is_the_final_forward_and_backward_states() -> None:
    """The forward LSTM ends at the last real token, the backward one at the first: padding must not move either."""
    units = 6
    explainer = build_network(NetworkConfig(vocab_size=40, num_classes=2, lstm_units=units)).explainer
    context = explainer.get_layer("bilstm").output[0]
    probe = keras.Model(explainer.input, [context, explainer.get_layer("final_state").output])
    ids = np.array([[5, 9, 2, 31, 7, 0, 0, 0], [8, 3, 0, 0, 0, 0, 0, 0]], dtype="int32")
    outputs, query = (np.asarray(x) for x in probe(ids))
    last = np.array([4, 1])  # index of each row's last real token
    np.testing.assert_allclose(query[:, :units], outputs[np.arange(2), last, :units], atol=1e-6)
    np.testing.assert_allclose(query[:, units:], outputs[:, 0, units:], atol=1e-6)


def test_keras_file_round_trip_gives_the_same_outputs(tmp_path) -> None:
    explainer = build_network(NetworkConfig(vocab_size=30, num_classes=2, attention="dot")).explainer
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
    ],
)
def test_network_config_is_checked(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NetworkConfig(**{"vocab_size": 10, "num_classes": 2, **kwargs})


def test_int8_embedding_survives_a_keras_file_round_trip(tmp_path) -> None:
    explainer = build_network(NetworkConfig(vocab_size=300, num_classes=2, embedding_dim=16)).explainer
    ids = np.array([[3, 4, 5, 0], [7, 250, 0, 0]], dtype="int32")
    before = explainer(ids)
    explainer.get_layer("embedding").quantize("int8")
    quantized = explainer(ids)
    np.testing.assert_allclose(np.asarray(quantized[PROBABILITIES]), np.asarray(before[PROBABILITIES]), atol=1e-3)
    assert np.all(np.asarray(quantized[ATTENTION])[ids == 0] == 0.0)  # the padding mask survives quantization
    explainer.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert loaded.get_layer("embedding").dtype_policy.name == "int8_from_float32"
    for key in (PROBABILITIES, ATTENTION):
        np.testing.assert_allclose(np.asarray(loaded(ids)[key]), np.asarray(quantized[key]), atol=1e-6)

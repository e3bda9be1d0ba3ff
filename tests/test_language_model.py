"""Language-model pre-training of the encoder: it predicts neighbours it cannot see, and only the encoder moves."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from model.bundle import Bundle
from model.network import NetworkConfig, build_network
from model.vocab import Vocabulary
from tests.conftest import FIXTURES
from training.config import TrainConfig
from training.data import read_labelled
from training.language_model import pretrain_encoder, read_pretrained, write_pretrained
from training.pipeline import bucketed_arrays, language_model_cache, train

VOCAB = 40
LAYERS = ("embedding", "bilstm", "attention", "classes")
LENGTH = 12


def text_batches(ids: list[list[int]]):
    return bucketed_arrays(ids, np.zeros(len(ids), np.int32), 32, LENGTH, seed=0)


def layer_weights(network, name: str) -> list[np.ndarray]:
    return [np.array(w) for w in network.get_layer(name).get_weights()]


def test_the_language_model_predicts_neighbours_it_cannot_see_and_moves_only_the_encoder() -> None:
    """Texts that count upwards (…, 7, 8, 9, …) make every neighbour predictable; texts of independent random
    tokens make none predictable. A model whose predicting state had seen its target would drive both
    losses to zero; the right pairing lowers only the first."""
    rng = np.random.default_rng(0)
    counting = [[2 + (start + i) % (VOCAB - 2) for i in range(LENGTH)] for start in rng.integers(0, VOCAB, 400)]
    random = [list(rng.integers(2, VOCAB, LENGTH)) for _ in range(400)]
    losses = {}
    for name, texts in (("counting", counting), ("random", random)):
        network = build_network(NetworkConfig(VOCAB, 2, embedding_dim=16, lstm_units=16, attention_units=8)).explainer
        before = {layer: layer_weights(network, layer) for layer in LAYERS}
        losses[name] = pretrain_encoder(network, text_batches(texts), epochs=8, learning_rate=1e-2)
        for layer in ("embedding", "bilstm"):
            assert any(not np.allclose(a, b) for a, b in zip(before[layer], layer_weights(network, layer)))
        for layer in ("attention", "classes"):
            assert all(np.array_equal(a, b) for a, b in zip(before[layer], layer_weights(network, layer)))
    assert len(losses["counting"]) == 8
    assert losses["counting"][-1] < 0.4 * losses["counting"][0]  # about 0.3 after 8 epochs
    assert losses["random"][-1] > 0.9 * losses["random"][0]  # about 0.99: log(38) stays the best it can do
    assert losses["counting"][-1] < 0.4 * losses["random"][-1]


def test_one_token_texts_leave_no_pair_and_do_not_poison_the_weights() -> None:
    network = build_network(NetworkConfig(VOCAB, 2, embedding_dim=8, lstm_units=8, attention_units=4)).explainer
    losses = pretrain_encoder(network, text_batches([[5]] * 64), epochs=1)
    assert losses == [0.0]
    assert all(np.isfinite(w).all() for w in layer_weights(network, "bilstm"))


def test_pretrain_encoder_refuses_zero_epochs() -> None:
    network = build_network(NetworkConfig(VOCAB, 2)).explainer
    with pytest.raises(ValueError, match="epochs must be at least 1, got 0"):
        pretrain_encoder(network, text_batches([[2, 3]]), epochs=0)


def test_training_starts_the_classifier_from_the_language_model(tmp_path: Path) -> None:
    """With the classifier's learning rate at 0, the saved Bi-LSTM is the one the language model left; the
    same seed without the language model saves Keras' own random start."""
    data = read_labelled(FIXTURES / "nsmc_train_3k.tsv")
    saved = {}
    for epochs in (0, 2):
        config = TrainConfig(
            epochs=1, vocab_size=1000, embedding_dim=16, lstm_units=8, attention_units=8, learning_rate=0.0,
            pretrain_embeddings=False, quantize_embeddings=False, language_model_epochs=epochs,
        )  # fmt: skip
        out = tmp_path / f"language-model-{epochs}"
        metrics = train(data, out, config, cache_dir=tmp_path / "cache", workers=1, quiet=True)
        saved[epochs] = Bundle.load(out).model
        assert len(metrics["language_model_loss"]) == epochs
        assert ("language_model_s" in metrics["timings"]) == (epochs > 0)
    assert metrics["language_model_loss"][1] < metrics["language_model_loss"][0]
    pairs = {layer: list(zip(layer_weights(saved[0], layer), layer_weights(saved[2], layer))) for layer in LAYERS}
    for layer in ("embedding", "bilstm"):
        assert all(not np.allclose(without, pretrained) for without, pretrained in pairs[layer])
    for layer in ("attention", "classes"):
        assert all(np.array_equal(without, pretrained) for without, pretrained in pairs[layer])


def small_config(**changes) -> TrainConfig:
    """Pre-training only: with the classifier's learning rate at 0, the saved encoder is the one fit started from."""
    settings = dict(
        epochs=1, vocab_size=1000, embedding_dim=16, lstm_units=8, attention_units=8, learning_rate=0.0,
        pretrain_embeddings=False, quantize_embeddings=False, language_model_epochs=2,
    )  # fmt: skip
    return TrainConfig(**(settings | changes))


def test_a_rerun_that_changes_only_the_classifier_reads_the_pre_trained_encoder_from_the_cache(
    tmp_path: Path,
) -> None:
    """The cached weights are the ones used: shifted in the cache, they come out shifted. A changed
    pre-training setting misses the cache, and --no-cache (no cache_dir) neither reads nor writes it."""
    data, cache = read_labelled(FIXTURES / "nsmc_train_3k.tsv"), tmp_path / "cache"

    def run(name: str, config: TrainConfig, cache_dir: Path | None = cache) -> tuple[dict, object]:
        metrics = train(data, tmp_path / name, config, cache_dir=cache_dir, workers=1, quiet=True)
        return metrics, Bundle.load(tmp_path / name).model

    first, first_model = run("first", small_config())
    assert first["language_model_from_cache"] is False and len(first["language_model_loss"]) == 2
    [kept] = (cache / "language_models").glob("*.npz")
    with np.load(kept) as saved:
        arrays = dict(saved)
    np.testing.assert_array_equal(arrays["bilstm/0"], layer_weights(first_model, "bilstm")[0])
    arrays["bilstm/0"] = arrays["bilstm/0"] + 1.0
    np.savez(kept, **arrays)

    rerun, rerun_model = run("rerun", small_config(dropout=0.3, adversarial_epsilon=0.0))
    assert rerun["language_model_from_cache"] is True
    assert rerun["language_model_loss"] == first["language_model_loss"]
    assert "word2vec_s" not in rerun["timings"] and rerun["timings"]["language_model_s"] < 5
    shifted = layer_weights(rerun_model, "bilstm")
    np.testing.assert_allclose(shifted[0], layer_weights(first_model, "bilstm")[0] + 1.0)
    for cached, used in zip(layer_weights(first_model, "embedding"), layer_weights(rerun_model, "embedding")):
        np.testing.assert_array_equal(cached, used)

    other_seed, _ = run("other-seed", small_config(seed=7))
    assert other_seed["language_model_from_cache"] is False
    assert len(list((cache / "language_models").glob("*.npz"))) == 2
    uncached, _ = run("uncached", small_config(), cache_dir=None)
    assert uncached["language_model_from_cache"] is False
    assert len(list((cache / "language_models").glob("*.npz"))) == 2


def test_the_cache_key_holds_every_setting_pre_training_reads_and_no_classifier_setting() -> None:
    vocab = Vocabulary(["<pad>", "<unk>", "영화", "최고"])
    ids = [[2, 3], [3]]
    default = language_model_cache(Path("cache"), vocab, ids, TrainConfig())
    assert default is not None and default.parent == Path("cache") / "language_models"
    pre_training = dict(
        embedding_dim=64, lstm_units=64, max_len=32, batch_size=64, language_model_epochs=4, seed=7,
        pretrain_embeddings=False,
    )  # fmt: skip
    for name, value in pre_training.items():
        assert language_model_cache(Path("cache"), vocab, ids, TrainConfig(**{name: value})) != default, name
    assert language_model_cache(Path("cache"), vocab, [[2, 3], [2]], TrainConfig()) != default
    assert language_model_cache(Path("cache"), vocab, [[2], [3, 3]], TrainConfig()) != default  # not one stream
    other_vocab = Vocabulary(["<pad>", "<unk>", "영화", "별로"])
    assert language_model_cache(Path("cache"), other_vocab, ids, TrainConfig()) != default
    classifier_only = dict(
        epochs=9, dropout=0.1, embedding_dropout=0.1, learning_rate=1e-4, lr_schedule="cosine", weight_decay=0.01,
        adversarial_epsilon=0.5, adversarial_from_epoch=1, patience=4, teachers=["runs/a"], teacher_weight=0.5,
        attention="dot", attention_units=32,
    )  # fmt: skip
    for name, value in classifier_only.items():
        assert language_model_cache(Path("cache"), vocab, ids, TrainConfig(**{name: value})) == default, name
    assert language_model_cache(None, vocab, ids, TrainConfig()) is None
    assert language_model_cache(Path("cache"), vocab, ids, TrainConfig(language_model_epochs=0)) is None


def test_a_cached_encoder_that_cannot_be_read_or_does_not_fit_is_pre_trained_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def network(units: int = 8):
        return build_network(NetworkConfig(VOCAB, 2, embedding_dim=8, lstm_units=units, attention_units=4)).explainer

    def refused(path: Path, into, because: str, epochs: int = 2) -> None:
        before = layer_weights(into, "embedding")
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert read_pretrained(path, into, epochs, log) is None
        assert f"language model cache {path} cannot be read" in caplog.text and because in caplog.text
        assert all(np.array_equal(a, b) for a, b in zip(before, layer_weights(into, "embedding")))  # untouched

    log = logging.getLogger("test-language-model-cache")
    pretrained, other = network(), network()
    path = tmp_path / "language_models" / "key.npz"
    write_pretrained(path, pretrained, [3.0, 2.5], log)
    assert read_pretrained(path, other, 2, log) == [3.0, 2.5]
    for layer in ("embedding", "bilstm"):
        assert all(np.array_equal(a, b) for a, b in zip(layer_weights(pretrained, layer), layer_weights(other, layer)))

    refused(path, network(units=16), "bilstm weights of shapes")
    refused(path, network(), "losses of shape (2,) for 3 epochs", epochs=3)
    with np.load(path) as saved:
        arrays = dict(saved)
    np.savez(path, **(arrays | {"embedding/0": np.full_like(arrays["embedding/0"], np.nan)}))
    refused(path, network(), "embedding weights that are not finite numbers")
    with path.open("wb") as file:  # one array, not an archive
        np.save(file, arrays["loss"])
    refused(path, network(), "")
    write_pretrained(path, pretrained, [3.0, 2.5], log)
    path.write_bytes(path.read_bytes()[:100])  # cut short, as a full disk or a killed copy leaves it
    refused(path, network(), "")
    assert read_pretrained(tmp_path / "missing.npz", other, 2, log) is None

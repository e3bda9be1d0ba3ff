"""Shared fixtures: the shipped default bundle, a tiny bundle trained on the repo's fixture, data paths."""

from __future__ import annotations

from pathlib import Path

import pytest

import model  # noqa: F401  (sets the Keras backend first)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
DEFAULT_BUNDLE = ROOT / "model" / "default"
SHARED_DATA = ROOT.parent / "shared" / "data"

needs_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "nsmc" / "ratings_test.txt").is_file(),
    reason=f"full data sets not found at {SHARED_DATA} (place ../shared/data beside the repo)",
)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bundle trained for 2 epochs on the 3K-row NSMC fixture (about 20 s)."""
    from training.data import read_labelled
    from training.train import TrainConfig, train

    out = tmp_path_factory.mktemp("tiny") / "bundle"
    config = TrainConfig(epochs=2, vocab_size=3000, embedding_dim=32, lstm_units=32, attention_units=16)
    train(
        read_labelled(FIXTURES / "nsmc_train_3k.tsv"),
        out,
        config,
        read_labelled(FIXTURES / "nsmc_test_1k.tsv"),
        names="negative,positive",
        cache_dir=tmp_path_factory.mktemp("token-cache"),
        quiet=True,
    )
    return out


@pytest.fixture(scope="session")
def default_bundle() -> Path:
    """The shipped default model (trained on the full NSMC training file)."""
    return DEFAULT_BUNDLE


@pytest.fixture(scope="session")
def default_predictor(default_bundle: Path):
    from model.predictor import Predictor

    return Predictor.load(default_bundle)

"""The shipped default model: it loads, answers sensibly, and its recorded accuracy holds up."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from model.bundle import Bundle
from model.predictor import Predictor
from tests.conftest import SHARED_DATA, needs_shared_data
from training.metrics import classification_report

MAX_BUNDLE_BYTES = 12 * 1024 * 1024


def test_default_bundle_is_small_and_self_describing(default_bundle: Path) -> None:
    bundle = Bundle.load(default_bundle)
    assert sum(p.stat().st_size for p in default_bundle.iterdir()) <= MAX_BUNDLE_BYTES
    assert bundle.config.labels == ["negative", "positive"]
    assert bundle.manifest["data"]["train"]["rows"] == 150_000
    assert bundle.manifest["data"]["test"]["rows"] == 50_000
    assert bundle.metrics["test"]["n"] == 50_000
    assert bundle.metrics["test"]["accuracy"] >= 0.86


@pytest.mark.parametrize(
    ("text", "label", "key_token"),
    [
        ("이 영화 정말 재미있어요", "positive", "재미있어요"),
        ("최악의 영화. 돈 아깝고 시간 아깝다", "negative", None),
        ("배우 연기는 좋은데 스토리가 너무 지루했다", "negative", "지루했다"),
    ],
)
def test_default_model_answers_sensibly(default_predictor: Predictor, text: str, label: str, key_token) -> None:
    prediction = default_predictor.predict_one(text)
    assert prediction.label == label
    assert prediction.probabilities[label] > 0.8
    if key_token is not None:
        assert max(prediction.tokens, key=lambda t: t.attention).text == key_token


@needs_shared_data
def test_accuracy_on_a_sample_of_the_official_test_file(default_predictor: Predictor) -> None:
    frame = pd.read_csv(SHARED_DATA / "nsmc" / "ratings_test.txt", sep="\t", keep_default_na=False)
    sample = frame.sample(n=3000, random_state=11)
    predictions = default_predictor.predict(sample["document"].tolist())
    truth = ["positive" if label == 1 else "negative" for label in sample["label"]]
    report = classification_report(truth, [p.label for p in predictions], default_predictor.labels)
    # The full test file gives 87.85% (README); a 3,000-row sample has a standard error of about 0.6 points.
    assert report["accuracy"] >= 0.845

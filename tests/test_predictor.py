"""The Predictor: one answer per text with spans, weights, oov flags and truncation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from model.predictor import Predictor, length_buckets

TEXTS = [
    "이 영화 정말 재미있어요",
    "최악의 영화. 시간 아깝다 ㅡㅡ",
    "The acting was great 👍👍",
    "띄어쓰기    여러    칸",
    "",
    "   ",
    "ㅋ",
]


@pytest.fixture(scope="module")
def predictor(tiny_bundle: Path) -> Predictor:
    return Predictor.load(tiny_bundle, batch_size=3)


def test_every_text_gets_a_full_answer(predictor: Predictor) -> None:
    predictions = predictor.predict(TEXTS)
    assert len(predictions) == len(TEXTS)
    for text, prediction in zip(TEXTS, predictions):
        assert set(prediction.probabilities) == {"negative", "positive"}
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert prediction.label == max(prediction.probabilities, key=prediction.probabilities.get)
        for token in prediction.tokens:
            assert text[token.start : token.end] == token.text
        if prediction.tokens:
            assert sum(t.attention for t in prediction.tokens) == pytest.approx(1.0, abs=1e-5)
        assert not prediction.truncated


def test_empty_texts_have_no_tokens_but_an_answer(predictor: Predictor) -> None:
    for prediction in predictor.predict(["", "   "]):
        assert prediction.tokens == []
        assert prediction.label in predictor.labels


def test_batch_answers_equal_single_answers_in_order(predictor: Predictor) -> None:
    batch = predictor.predict(TEXTS)
    for text, expected in zip(TEXTS, batch):
        single = predictor.predict_one(text)
        assert single.label == expected.label
        np.testing.assert_allclose(
            list(single.probabilities.values()), list(expected.probabilities.values()), atol=1e-5
        )


def test_unknown_tokens_are_flagged(predictor: Predictor) -> None:
    prediction = predictor.predict_one("영화 쀍쀍쀍")
    flags = {t.text: t.oov for t in prediction.tokens}
    assert flags["영화"] is False
    assert flags["쀍쀍쀍"] is True


def test_long_texts_are_truncated_and_unread_tokens_get_no_weight(predictor: Predictor) -> None:
    text = " ".join(["영화"] * (predictor.max_len + 10))
    prediction = predictor.predict_one(text)
    assert prediction.truncated
    assert len(prediction.tokens) == predictor.max_len + 10
    assert all(t.attention == 0.0 for t in prediction.tokens[predictor.max_len :])
    assert sum(t.attention for t in prediction.tokens) == pytest.approx(1.0, abs=1e-5)


def test_length_buckets_cover_max_len() -> None:
    assert length_buckets(64) == [8, 16, 32, 64]
    assert length_buckets(50) == [8, 16, 32, 50]
    assert length_buckets(5) == [5]

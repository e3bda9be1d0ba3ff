"""Property-based tests over hostile Unicode: tokenizer, Predictor and the HTTP app never break their contract.

Contract: token spans index the text as given (`text[start:end] == token.text`), probabilities and attention
weights each sum to 1, and over HTTP every text is answered 200 or a clear 422 (never a 500).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.main import create_app
from app.settings import Settings
from model.predictor import Predictor

PIECES = [
    "😀", "👍🏽", "👨‍👩‍👧", "🇰🇷",  # emoji: astral, modifiers, ZWJ sequences, flags
    "\u1112\u1161\u11ab", "\u1100", "\u11af", "\u0301", "\u302e",  # conjoining jamo, combining marks
    "\x00", "\x07", "\x1b", "\x7f", "\t", "\n", "\r",  # controls
    "\u202e", "\u200f", "שלום", "مرحبا",  # RTL overrides and scripts
    "!?", "…", "ㅋㅋ", "ㅠㅠ", "영화", "재밌다", " ", "\u3000", "\u200b", "\ufeff", "\ud7a3", "A1",
]  # fmt: skip
LONG_WORDS = ["가" * 10_000, "a" * 10_000, "😀" * 10_000, "!" * 10_000, "\u1100" * 10_000]

texts = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=4)), max_size=40).map("".join),
    st.builds(lambda piece, n: piece * n, st.sampled_from(PIECES), st.integers(100, 600)),
    st.text(alphabet=st.characters(categories=["P", "S"]), min_size=1, max_size=60),  # only punctuation/symbols
)
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def predictor(tiny_bundle: Path) -> Predictor:
    return Predictor.load(tiny_bundle)


@pytest.fixture(scope="module")
def client(tiny_bundle: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(MODEL_DIR=tiny_bundle)), raise_server_exceptions=False) as client:
        yield client


def assert_prediction(text: str, label: str, probabilities: dict[str, float], tokens: list[dict]) -> None:
    assert label in probabilities and all(math.isfinite(p) and 0 <= p <= 1 for p in probabilities.values())
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    for token in tokens:
        assert 0 <= token["start"] <= token["end"] <= len(text)
        assert text[token["start"] : token["end"]] == token["text"]
        assert 0 <= token["attention"] <= 1
    if tokens:
        assert sum(token["attention"] for token in tokens) == pytest.approx(1.0, abs=1e-4)


@PROPERTY
@given(text=texts)
@example(text=LONG_WORDS[0])
@example(text=LONG_WORDS[2])
def test_tokenizer_spans_index_the_text(predictor: Predictor, text: str) -> None:
    for token in predictor.tokenizer.tokenize(text):
        assert 0 <= token.start <= token.end <= len(text) and text[token.start : token.end] == token.text


@PROPERTY
@given(text=texts)
@example(text=LONG_WORDS[1])
@example(text=LONG_WORDS[3])
@example(text=LONG_WORDS[4])
def test_predictor_answers_any_text(predictor: Predictor, text: str) -> None:
    (prediction,) = predictor.predict([text])
    tokens = [vars(token) for token in prediction.tokens]
    assert_prediction(text, prediction.label, prediction.probabilities, tokens)


@PROPERTY
@given(text=texts)
@example(text="\x00")
@example(text=LONG_WORDS[0][:2000])
def test_http_answers_any_text_without_a_server_error(client: TestClient, text: str) -> None:
    body = json.dumps({"text": text})  # \u escapes: the JSON layer itself is not under test here
    response = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (200, 422), response.text
    if response.status_code == 422:
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "text"]
        return
    answer = response.json()
    assert_prediction(text, answer["label"], answer["probabilities"], answer["tokens"])

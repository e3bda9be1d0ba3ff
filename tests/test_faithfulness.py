"""Gradient x input attributions (tiny bundle) and the faithfulness table (shipped model)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from model.attribution import gradient_attribution, gradient_x_input
from model.predictor import Predictor
from tests.conftest import FIXTURES
from training import evaluate
from training.data import read_labelled
from training.faithfulness import METHODS, faithfulness, format_faithfulness, split_top, top_count

SENTENCES = ["이 영화 정말 재미있어요", "최악의 영화. 시간 아깝다 ㅡㅡ 배우들 연기도 별로였다", "ㅋ", ""]


@pytest.fixture(scope="module")
def predictor(tiny_bundle: Path) -> Predictor:
    return Predictor.load(tiny_bundle, batch_size=64, tokenizer_workers=1)


@pytest.fixture(scope="module")
def report(default_predictor: Predictor) -> dict:
    """The table for the shipped model: a barely trained tiny model has no stable ranking to measure."""
    texts = read_labelled(FIXTURES / "nsmc_test_1k.tsv").texts
    return faithfulness(default_predictor, default_predictor.preprocess(texts), ks=(0, 10, 20, 50), limit=200, seed=1)


def table(report: dict) -> dict[tuple[str, int], dict]:
    return {(row["method"], row["k"]): row for row in report["rows"]}


def test_gradient_x_input_replays_the_model_and_is_zero_on_padding(predictor: Predictor) -> None:
    ids = [encoded.ids for encoded in predictor.preprocess(SENTENCES)]
    scores, probabilities = gradient_attribution(predictor, ids)
    expected, _ = predictor.forward(ids)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    longest = max(len(row) for row in ids)
    assert scores.shape == (len(ids), longest)
    for row, sequence in enumerate(ids):
        read = max(1, len(sequence))  # an empty text is read as one unknown token
        assert np.all(scores[row, read:] == 0.0)
        assert np.all(scores[row, :read] >= 0.0) and scores[row, :read].sum() > 0
    # A padded array straight into the Keras model gives the same scores and the explainer's probabilities.
    padded = np.zeros((len(ids), longest + 5), dtype=np.int32)
    for row, sequence in enumerate(ids):
        padded[row, : max(1, len(sequence))] = sequence or [1]
    np.testing.assert_allclose(gradient_x_input(predictor.bundle.model, padded)[:, :longest], scores, atol=1e-6)
    outputs = predictor.bundle.model(padded, training=False)
    np.testing.assert_allclose(gradient_attribution(predictor, padded)[1], outputs["probabilities"], atol=1e-5)


def test_top_k_counts_and_splits() -> None:
    assert [top_count(k, 7) for k in (0, 10, 20, 50)] == [0, 1, 2, 4]
    assert top_count(10, 30) == 3 and top_count(50, 2) == 1
    deleted, kept = split_top([5, 6, 7, 8], np.array([0.1, 0.9, 0.3, 0.9]), 2)
    assert deleted == (5, 7) and kept == (6, 8)  # original order; ties keep the earlier token first


def test_deleting_nothing_changes_nothing(report: dict) -> None:
    rows = table(report)
    for method in METHODS:
        assert rows[method, 0]["comprehensiveness"] == 0.0


def test_comprehensiveness_grows_with_k(report: dict) -> None:
    rows = table(report)
    for method in ("attention", "random"):
        drops = [rows[method, k]["comprehensiveness"] for k in (0, 10, 20, 50)]
        assert drops == sorted(drops), (method, drops)
    # Keeping more random tokens leaves the answer closer to the full text's. (For attention both are
    # already near 0 on this model, so their order is noise.)
    assert rows["random", 50]["sufficiency"] < rows["random", 10]["sufficiency"]
    # The shipped model's attention beats the random baseline on both measures.
    for k in (10, 20, 50):
        assert rows["attention", k]["comprehensiveness"] > rows["random", k]["comprehensiveness"]
        assert rows["attention", k]["sufficiency"] < rows["random", k]["sufficiency"]


def test_report_is_json_ready_and_formatted(report: dict) -> None:
    assert report["sampled"] == 200 and report["texts"] == 1000
    n = report["sampled"] - report["skipped_short"]
    assert 150 < n <= 200
    assert len(report["rows"]) == len(METHODS) * 4 and all(row["n"] == n for row in report["rows"])
    assert json.loads(json.dumps(report)) == report
    text = format_faithfulness(report)
    assert "comprehensiveness" in text and "gradient_x_input" in text and "50%" in text
    assert "attention should beat random" in text


def test_evaluate_faithfulness_flag(tiny_bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "faithfulness.json"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = evaluate.main(
            [
                "--bundle", str(tiny_bundle), "--data", str(FIXTURES / "nsmc_test_1k.tsv"), "--workers", "1",
                "--faithfulness", "--faithfulness-limit", "100", "--faithfulness-json", str(out),
            ]
        )  # fmt: skip
    assert code == 0
    printed = stdout.getvalue()
    assert "accuracy" in printed and "comprehensiveness" in printed and "more faithful" in printed
    written = json.loads(out.read_text("utf-8"))
    assert written["sampled"] == 100 and written["data"]["rows"] == 1000
    assert {(row["method"], row["k"]) for row in written["rows"]} == {(m, k) for m in METHODS for k in (10, 20, 50)}


def test_faithfulness_options_need_the_flag(tiny_bundle: Path) -> None:
    with pytest.raises(SystemExit) as raised, contextlib.redirect_stderr(io.StringIO()):
        evaluate.main(["--bundle", str(tiny_bundle), "--data", "x.tsv", "--faithfulness-limit", "10"])
    assert raised.value.code == 2

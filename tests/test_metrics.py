"""Classification metrics against figures worked out by hand."""

from __future__ import annotations

import pytest

from training.metrics import classification_report

LABELS = ["negative", "neutral", "positive"]


def test_macro_f1_leaves_out_a_class_neither_in_the_data_nor_predicted() -> None:
    """A 3-class model scored on a file of two classes: `neutral` says nothing about the model."""
    report = classification_report(["positive", "positive", "negative", "negative"],
                                   ["positive", "negative", "negative", "negative"], LABELS)  # fmt: skip
    f1 = {label: report["per_class"][label]["f1"] for label in LABELS}
    assert f1 == pytest.approx({"negative": 0.8, "neutral": 0.0, "positive": 2 / 3})
    assert report["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert report["per_class"]["neutral"]["support"] == 0 and report["accuracy"] == 0.75


def test_macro_f1_counts_a_class_the_model_predicted_though_the_data_has_none() -> None:
    report = classification_report(["positive", "negative"], ["neutral", "negative"], LABELS)
    assert report["macro_f1"] == pytest.approx((1.0 + 0.0 + 0.0) / 3)
    assert report["confusion_matrix"] == [[1, 0, 0], [0, 0, 0], [0, 1, 0]]


def test_an_empty_report_is_zero_not_nan() -> None:
    report = classification_report([], [], LABELS)
    assert (report["accuracy"], report["macro_f1"], report["n"]) == (0.0, 0.0, 0)

"""Distillation: teachers' averaged answers as training targets, and the teachers that are refused."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from model.bundle import Bundle
from model.predictor import Predictor
from tests.conftest import FIXTURES
from tests.test_training_cli import SMALL, assert_no_native_lines, run_cli
from training import reports
from training.data import DataError, read_labelled
from training.distill import load_teachers, teacher_probabilities
from training.pipeline import stratified_split

TRAIN = FIXTURES / "nsmc_train_3k.tsv"
LABELS = ["negative", "positive"]
STUDENT = {"seed": 42, "split_seed": None, "val_fraction": 0.1}  # the student's train_config, as far as checked


@pytest.fixture(scope="module")
def second_teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A teacher that cuts the text differently from tiny_bundle (Okt without stems), same file, seed and split."""
    out = tmp_path_factory.mktemp("teacher") / "bundle"
    result = run_cli(
        "training.train", "--train", str(TRAIN), "--out", str(out), "--label-names", "negative,positive",
        "--no-stem", *SMALL, cache=out.parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def probabilities(bundle: Path, texts: list[str]) -> np.ndarray:
    answers = Predictor.load(bundle).predict(texts)
    return np.array([[answer.probabilities[label] for label in LABELS] for answer in answers])


def learning_curve_legend(history: dict, path: Path, distilled: bool) -> list[str]:
    """The legend entries plot_learning_curve draws for `history` (its figure kept open to read them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reports.plt, "close", lambda figure: None)
        reports.plot_learning_curve(history, path, distilled=distilled)
    figure = reports.plt.gcf()
    labels = [text.get_text() for axis in figure.axes for text in axis.get_legend().get_texts()]
    reports.plt.close(figure)
    return labels


def test_soft_targets_are_the_mean_of_each_teachers_own_answers(
    tiny_bundle: Path, second_teacher: Path, tmp_path: Path
) -> None:
    data = read_labelled(TRAIN)
    train_rows, _ = stratified_split(np.array([int(value) for value in data.labels]), 0.1, 42)
    rows = train_rows[:200]
    teachers = load_teachers([tiny_bundle, second_teacher], data, LABELS, STUDENT)
    soft = teacher_probabilities(teachers, data, rows, LABELS, tmp_path, 2, logging.getLogger("test"))
    texts = [data.texts[i] for i in rows]
    first, second = probabilities(tiny_bundle, texts), probabilities(second_teacher, texts)
    assert not np.allclose(first, second, atol=1e-3)  # two different teachers, so the mean says something
    np.testing.assert_allclose(soft, (first + second) / 2, atol=1e-6)
    np.testing.assert_allclose(soft.sum(axis=1), 1.0, atol=1e-5)


def test_a_teacher_that_may_have_seen_the_validation_rows_is_refused(
    tiny_bundle: Path, published_root: Path, tmp_path: Path
) -> None:
    data = read_labelled(TRAIN)
    other_split = published_root / "current"  # trained with --seed 7
    with pytest.raises(
        DataError, match=r"split \(seed 7, 0.1 of the rows\) does not hold out every row of the student's \(seed 42"
    ):
        load_teachers([tiny_bundle, other_split], data, LABELS, STUDENT)
    # Another seed for the network but the teacher's split: accepted.
    load_teachers([other_split], data, LABELS, {**STUDENT, "split_seed": 7})
    # A student holding out more than the teacher did would be validated on rows the teacher learned.
    with pytest.raises(
        DataError, match=r"\(seed 42, 0.1 of the rows\) does not hold out every row of the student's \(seed 42, 0.2"
    ):
        load_teachers([tiny_bundle], data, LABELS, {**STUDENT, "val_fraction": 0.2})
    # Holding out fewer (at most 100 of the 3,000 rows), the student's validation rows are among the teacher's.
    student_rows = stratified_split(np.array([int(value) for value in data.labels]), 100 / 3000, 42)[1]
    teacher_rows = stratified_split(np.array([int(value) for value in data.labels]), 0.1, 42)[1]
    assert set(student_rows) < set(teacher_rows)
    load_teachers([tiny_bundle], data, LABELS, {**STUDENT, "max_val_rows": 100})
    # A student that holds out nothing (--val-fraction 0) has no validation rows to leak, whatever the split.
    load_teachers([tiny_bundle, other_split], data, LABELS, {**STUDENT, "val_fraction": 0.0})
    with pytest.raises(DataError, match="trained on another file than nsmc_test_1k.tsv"):
        load_teachers([tiny_bundle], read_labelled(FIXTURES / "nsmc_test_1k.tsv"), LABELS, STUDENT)
    with pytest.raises(
        DataError, match=r"labels \['negative', 'positive'\] differ from the student's \['bad', 'good'\]"
    ):
        load_teachers([tiny_bundle], data, ["bad", "good"], STUDENT)
    with pytest.raises(DataError, match="teacher .*missing: no bundle directory here"):
        load_teachers([tmp_path / "missing"], data, LABELS, STUDENT)


def test_training_cli_distils_from_teachers_and_refuses_a_bad_one(
    tiny_bundle: Path, second_teacher: Path, published_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "student"
    result = run_cli(
        "training.train", "--train", str(TRAIN), "--out", str(out), "--label-names", "negative,positive", *SMALL,
        "--teachers", str(tiny_bundle), str(second_teacher), "--teacher-weight", "0.7",
        "--seed", "7", "--split-seed", "42", cache=tmp_path,  # another network seed on the teachers' split
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"teacher {tiny_bundle}: answered 2,700 training texts" in result.stderr
    assert_no_native_lines(result.stderr)
    metrics = Bundle.load(out).metrics
    assert metrics["train_config"]["teachers"] == [str(tiny_bundle), str(second_teacher)]
    assert metrics["train_config"]["teacher_weight"] == 0.7
    assert (metrics["train_config"]["seed"], metrics["train_config"]["split_seed"]) == (7, 42)
    legend = learning_curve_legend(metrics["history"], tmp_path / "curve.png", distilled=True)
    assert "train: agreement with teachers" in legend and "val_accuracy" in legend
    assert "train_accuracy" in learning_curve_legend(metrics["history"], tmp_path / "plain.png", distilled=False)
    assert metrics["timings"]["teachers_s"] > 0

    refused = run_cli(
        "training.train", "--train", str(TRAIN), "--out", str(tmp_path / "refused"), *SMALL,
        "--label-names", "negative,positive", "--teachers", str(published_root / "current"), cache=tmp_path,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "split (seed 7, 0.1 of the rows) does not hold out" in refused.stderr and "Traceback" not in refused.stderr
    assert "tokenize" not in refused.stderr  # refused before anything was spent
    assert not (tmp_path / "refused").exists()

    for extra, message in (
        (
            ["--teachers", str(tiny_bundle), "--teacher-weight", "2"],
            "--teacher-weight must be between 0 and 1, got 2.0",
        ),
        (["--teacher-weight", "0.5"], "--teacher-weight needs --teachers"),
    ):
        refused = run_cli("training.train", "--train", str(TRAIN), "--out", str(tmp_path / "w"), *extra, cache=tmp_path)
        assert refused.returncode == 2 and message in refused.stderr

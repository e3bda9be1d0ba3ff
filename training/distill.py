"""Soft targets from trained teacher bundles, for training a student on their averaged answers.

An ensemble of models that cut the text differently (Okt, Kiwi, Komoran) is more accurate than any
one of them, but costs a tokenizer and a network per member at serving time. Distillation trains
one network on the ensemble's class probabilities instead of only the 0/1 labels, so the shipped
model keeps the cost of one.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from model.bundle import Bundle, BundleError
from model.native_log import native_output_logged
from model.predictor import Predictor
from training.data import DataError, LabelledTexts, held_out_fraction, split_seed
from training.progress import ctrl_c_held_back
from training.tokens import tokenize_cached


def check_teacher(bundle: Bundle, data: LabelledTexts, labels: list[str], student: dict) -> None:
    """Refuse a teacher that could leak the student's validation rows or that answers other classes.

    A teacher trained on another file or split has seen rows the student holds out, so its answers
    there would carry their labels into training and make the validation figure a lie.
    """
    if list(bundle.config.labels) != labels:
        raise DataError(f"teacher {bundle.path}: labels {bundle.config.labels} differ from the student's {labels}")
    trained_on = bundle.manifest.get("data", {}).get("train", {}).get("sha256")
    if trained_on != data.sha256:
        raise DataError(f"teacher {bundle.path}: trained on another file than {data.path.name}")
    config = bundle.metrics.get("train_config", {})
    rows = len(data.texts)
    recorded = {"seed", "val_fraction"} <= config.keys()
    theirs = (split_seed(config), held_out_fraction(config, rows)) if recorded else (None, 0.0)
    ours = (split_seed(student), held_out_fraction(student, rows))
    # With one seed, every class is shuffled the same way and its held-out rows are the first of that order, so
    # a larger hold-out contains every row of a smaller one: such a teacher never trained on the student's.
    if ours[1] and (theirs[0] != ours[0] or theirs[1] < ours[1]):  # a student that holds out nothing has none to leak
        raise DataError(
            f"teacher {bundle.path}: its validation split (seed {theirs[0]}, {theirs[1]:.4g} of the rows) does not "
            f"hold out every row of the student's (seed {ours[0]}, {ours[1]:.4g} of the rows): the teacher may "
            "have trained on some of the student's validation rows"
        )


def load_teachers(paths: list[Path], data: LabelledTexts, labels: list[str], student: dict) -> list[Bundle]:
    """Load and check every teacher before the student spends anything (`student`: its train_config)."""
    bundles = []
    for path in paths:
        try:
            bundles.append(Bundle.load(path))
        except BundleError as error:
            raise DataError(f"teacher {error}") from None
        check_teacher(bundles[-1], data, labels, student)
    return bundles


def teacher_probabilities(
    teachers: list[Bundle],
    data: LabelledTexts,
    rows: np.ndarray,
    labels: list[str],
    cache_dir: Path | None,
    workers: int,
    log: logging.Logger,
) -> np.ndarray:
    """Mean class probabilities (len(rows), classes) of the teachers on `rows` of `data`.

    Each teacher answers through its own Predictor, with its own tokenizer (tokens are cached like
    the student's).
    """
    summed = np.zeros((len(rows), len(labels)))
    for bundle in teachers:
        # a first masked-LSTM call prints a oneDNN notice to fd 2; a Ctrl-C waits out the JVM start and tracing
        with native_output_logged(), ctrl_c_held_back():
            predictor = Predictor(bundle, tokenizer_workers=workers)
        tokens = tokenize_cached(data.texts, predictor.tokenizer, cache_dir, log, f"for {bundle.path}")
        answers = predictor.predict_encoded([predictor.encode(tokens[i]) for i in rows])
        summed += np.array([[answer.probabilities[label] for label in labels] for answer in answers])
        log.info("teacher %s: answered %s training texts", bundle.path, f"{len(rows):,}")
    return summed / len(teachers)

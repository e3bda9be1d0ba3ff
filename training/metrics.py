"""Classification metrics computed from label names (no scikit-learn needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def classification_report(true: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> dict:
    """Return `accuracy`, `macro_f1`, `n`, `per_class` {label: precision/recall/f1/support},
    `confusion_matrix` (rows: true label, columns: predicted label) and `labels`.

    `macro_f1` averages the classes that occur among the true or the predicted labels, as scikit-learn's does
    when not given the labels: a class the data does not hold and the model never chose says nothing about
    the model, and counting it as F1 0 would pull a file of two of three classes down by a third."""
    if len(true) != len(predicted):
        raise ValueError(f"{len(true)} true labels but {len(predicted)} predictions")
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    for t, p in zip(true, predicted):
        matrix[index[t], index[p]] += 1
    per_class = {}
    for i, label in enumerate(labels):
        tp = matrix[i, i]
        precision = tp / matrix[:, i].sum() if matrix[:, i].sum() else 0.0
        recall = tp / matrix[i].sum() if matrix[i].sum() else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": float(precision),
            "recall": float(recall),
            "f1": float(f1),
            "support": int(matrix[i].sum()),
        }
    n = int(matrix.sum())
    seen = [per_class[label]["f1"] for i, label in enumerate(labels) if matrix[i].sum() or matrix[:, i].sum()]
    return {
        "accuracy": float(np.trace(matrix) / n) if n else 0.0,
        "macro_f1": float(np.mean(seen)) if seen else 0.0,
        "n": n,
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "labels": list(labels),
    }


def format_report(report: dict) -> str:
    """A plain-text table of a `classification_report`."""
    labels = report["labels"]
    width = max(9, *(len(label) for label in labels))
    lines = [
        f"n = {report['n']:,}   accuracy = {report['accuracy']:.4f}   macro-F1 = {report['macro_f1']:.4f}",
        "",
        f"{'class':<{width}}  precision  recall     f1  support",
    ]
    for label in labels:
        c = report["per_class"][label]
        lines.append(f"{label:<{width}}  {c['precision']:9.4f}  {c['recall']:6.4f} {c['f1']:6.4f}  {c['support']:7,}")
    lines += [
        "",
        "confusion matrix (rows: true, columns: predicted)",
        " " * width + "".join(f"{x:>12}" for x in labels),
    ]
    for label, row in zip(labels, report["confusion_matrix"]):
        lines.append(f"{label:<{width}}" + "".join(f"{x:>12,}" for x in row))
    return "\n".join(lines)

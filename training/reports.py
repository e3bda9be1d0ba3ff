"""Report pictures written into a bundle: the learning curve and the confusion matrix."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_learning_curve(history: dict[str, list[float]], path: Path, distilled: bool = False) -> Path:
    """Loss and accuracy per epoch, training against validation.

    A `distilled` run learned its teachers' probabilities, so its training accuracy is agreement with
    the teachers' choice, and its legend says so.
    """
    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    epochs = range(1, len(history.get("loss", [])) + 1)
    for axis, metric in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "o-"), ("val_", "s--")):
            if f"{prefix}{metric}" in history:
                label = f"{prefix or 'train_'}{metric}"
                if distilled and label == "train_accuracy":
                    label = "train: agreement with teachers"
                axis.plot(epochs, history[f"{prefix}{metric}"], style, label=label)
        axis.set_xlabel("epoch")
        axis.set_title(metric)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_confusion_matrix(report: dict, path: Path, title: str = "confusion matrix") -> Path:
    """Counts with row-normalised colour (rows: true label, columns: predicted)."""
    labels, matrix = report["labels"], report["confusion_matrix"]
    rows = [[value / max(1, sum(row)) for value in row] for row in matrix]
    size = 1.2 + 1.1 * len(labels)
    figure, axis = plt.subplots(figsize=(size + 1, size))
    image = axis.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            axis.text(j, i, f"{value:,}", ha="center", va="center", color="white" if rows[i][j] > 0.5 else "black")
    axis.set_xticks(range(len(labels)), labels)
    axis.set_yticks(range(len(labels)), labels)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"{title} (acc {report['accuracy']:.3f})")
    figure.colorbar(image, ax=axis, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path

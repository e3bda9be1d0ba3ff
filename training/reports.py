"""Report pictures written into a bundle: the learning curve and the confusion matrix."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402


@functools.cache
def korean_font() -> str | None:
    """Register a Hangul font with matplotlib and return its family name, or None when there is none.

    koreanize-matplotlib (a requirement) ships NanumGothic in its wheel; only the font file is used, since
    importing the package rewrites matplotlib's global settings. Failing that, a system Nanum font
    (Debian's fonts-nanum) or Noto CJK font that matplotlib already found.
    """
    candidates = []
    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is not None and spec.submodule_search_locations:
        shipped = Path(spec.submodule_search_locations[0]) / "fonts"
        for weight in sorted(shipped.glob("NanumGothic?*.ttf")):  # bold and friends, for bold titles
            font_manager.fontManager.addfont(str(weight))
        candidates.append(shipped / "NanumGothic.ttf")
    system = [
        f for f in font_manager.fontManager.ttflist if f.name.startswith(("Nanum", "Noto Sans CJK", "Noto Sans KR"))
    ]
    candidates += [Path(f.fname) for f in sorted(system, key=lambda f: (f.name != "NanumGothic", f.weight != 400))]
    for path in candidates:
        if path.is_file():
            font_manager.fontManager.addfont(str(path))
            return FontProperties(fname=str(path)).get_name()
    return None


@contextmanager
def hangul_capable() -> Iterator[None]:
    """Figures drawn inside use the Hangul font, if any, so Korean label names are not drawn as boxes."""
    korean = korean_font()
    with plt.rc_context({"font.family": [korean, "DejaVu Sans"]} if korean else {}):
        yield


@hangul_capable()
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


@hangul_capable()
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

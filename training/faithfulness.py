"""Is attention a faithful explanation? Delete the tokens it ranks highest and see how much the answer moves.

For every text the model reads at least two tokens of, and each k (percent of the tokens read; the top
`ceil(k% of n)`, at least one, are taken):

- comprehensiveness = p(predicted class | full text) - p(same class | text without the top-k tokens)
- sufficiency = p(predicted class | full text) - p(same class | only the top-k tokens, in their order)

Tokens are deleted from the id sequence (not replaced by the unknown id). Rankings compared: attention
weights, seeded random scores (the mean over a few draws) and |gradient x input|. A ranking that explains the
model should give higher comprehensiveness and lower sufficiency than random. Every probability comes from
`Predictor.forward`, in length-sorted batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from model.attribution import gradient_x_input
from model.predictor import Encoded, Predictor

DEFAULT_KS = (10, 20, 50)
METHODS = ("attention", "random", "gradient_x_input")
RANDOM_DRAWS = 3
MIN_TOKENS = 2
CHUNK_TEXTS = 1024  # texts whose variants are built and scored together; bounds memory on 50,000 texts
GUIDE = (
    "higher comprehensiveness and lower sufficiency = more faithful; "
    "attention should beat random to be trustworthy as an explanation"
)


def top_count(k: int, n: int) -> int:
    """How many of `n` tokens make the top k%: ceil(k% of n), at least 1 unless k is 0."""
    return 0 if k == 0 else max(1, -(-k * n // 100))


def split_top(ids: Sequence[int], scores: np.ndarray, count: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """`(ids without the top `count` by score, only those top ids)`, both in original order; ties go to the
    earlier token so a ranking is deterministic."""
    top = np.zeros(len(ids), dtype=bool)
    top[np.argsort(-scores, kind="stable")[:count]] = True
    array = np.asarray(ids)
    return tuple(array[~top].tolist()), tuple(array[top].tolist())


def _batched(
    predictor: Predictor, sequences: Sequence[Sequence[int]], run: Callable[[list], tuple[np.ndarray, ...]]
) -> list[tuple[np.ndarray, ...]]:
    """Apply `run` to length-sorted batches of `predictor.batch_size`; one tuple of rows per input, in order."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    rows: list[tuple[np.ndarray, ...]] = [()] * len(sequences)
    for start in range(0, len(order), predictor.batch_size):
        chunk = order[start : start + predictor.batch_size]
        outputs = run([list(sequences[i]) for i in chunk])
        for row, index in enumerate(chunk):
            rows[index] = tuple(output[row] for output in outputs)
    return rows


def _chunk_drops(
    predictor: Predictor,
    sequences: list[list[int]],
    ks: Sequence[int],
    methods: Sequence[str],
    rng: np.random.Generator,
    random_draws: int,
) -> dict[tuple[str, int], np.ndarray]:
    """Summed (comprehensiveness, sufficiency) over the texts of one chunk, per (method, k)."""
    full = _batched(predictor, sequences, predictor.forward)
    gradients = (
        _batched(predictor, sequences, lambda batch: (gradient_x_input(predictor, batch),))
        if "gradient_x_input" in methods
        else None
    )
    # Identical id sequences get identical answers: deleting nothing reproduces the full text exactly.
    cache = {tuple(ids): probabilities for ids, (probabilities, _) in zip(sequences, full)}
    plan = []
    for index, ids in enumerate(sequences):
        n = len(ids)
        for method in methods:
            if method == "random":
                draws = [rng.random(n) for _ in range(random_draws)]
            else:
                draws = [full[index][1][:n] if method == "attention" else gradients[index][0][:n]]
            for scores in draws:
                for k in ks:
                    deleted, kept = split_top(ids, scores, top_count(k, n))
                    plan.append((method, k, index, deleted, kept, 1.0 / len(draws)))
    missing = list(dict.fromkeys(v for *_, deleted, kept, _ in plan for v in (deleted, kept) if v not in cache))
    for ids, (probabilities, _) in zip(missing, _batched(predictor, missing, predictor.forward)):
        cache[ids] = probabilities
    sums = {(method, k): np.zeros(2) for method in methods for k in ks}
    for method, k, index, deleted, kept, weight in plan:
        probabilities = full[index][0]
        predicted = int(np.argmax(probabilities))
        full_p = probabilities[predicted]
        sums[method, k] += weight * np.array([full_p - cache[deleted][predicted], full_p - cache[kept][predicted]])
    return sums


def faithfulness(
    predictor: Predictor,
    encoded: Sequence[Encoded],
    ks: Sequence[int] = DEFAULT_KS,
    methods: Sequence[str] = METHODS,
    limit: int | None = None,
    seed: int = 0,
    random_draws: int = RANDOM_DRAWS,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Mean comprehensiveness and sufficiency per (method, k) over pre-processed texts (or a seeded sample of
    `limit`); taking `Predictor.preprocess` output lets the evaluator tokenize a file once for both reports.

    Returns a JSON-ready dict whose `rows` is the table; `progress(done, total)` is called after each chunk.
    """
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {METHODS}")
    if any(not 0 <= k <= 100 for k in ks):
        raise ValueError(f"k must be a percentage in [0, 100], got {list(ks)}")
    rng = np.random.default_rng(seed)
    chosen = list(encoded)
    if limit is not None and limit < len(chosen):
        chosen = [chosen[i] for i in sorted(rng.choice(len(chosen), size=limit, replace=False))]
    sequences = [item.ids for item in chosen if len(item.ids) >= MIN_TOKENS]
    totals = {(method, k): np.zeros(2) for method in methods for k in ks}
    for start in range(0, len(sequences), CHUNK_TEXTS):
        for key, value in _chunk_drops(
            predictor, sequences[start : start + CHUNK_TEXTS], ks, methods, rng, random_draws
        ).items():
            totals[key] += value
        if progress is not None:
            progress(min(start + CHUNK_TEXTS, len(sequences)), len(sequences))
    n = len(sequences)
    rows = [
        {
            "method": method,
            "k": k,
            "comprehensiveness": float(totals[method, k][0] / n) if n else None,
            "sufficiency": float(totals[method, k][1] / n) if n else None,
            "n": n,
        }
        for method in methods
        for k in ks
    ]
    return {
        "rows": rows,
        "texts": len(encoded),
        "sampled": len(chosen),
        "skipped_short": len(chosen) - n,
        "min_tokens": MIN_TOKENS,
        "seed": seed,
        "random_draws": random_draws,
        "guide": GUIDE,
    }


def format_faithfulness(report: dict) -> str:
    """The table for a terminal, with a line saying how to read it."""

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    lines = [
        f"faithfulness on {report['sampled'] - report['skipped_short']:,} texts "
        f"({report['skipped_short']:,} with fewer than {report['min_tokens']} tokens read skipped; "
        f"random = mean of {report['random_draws']} draws, seed {report['seed']})",
        f"{'method':<18}{'k':>5}  {'comprehensiveness':>17}  {'sufficiency':>11}  {'n':>7}",
    ]
    lines += [
        f"{row['method']:<18}{row['k']:>4}%  {number(row['comprehensiveness']):>17}  "
        f"{number(row['sufficiency']):>11}  {row['n']:>7,}"
        for row in report["rows"]
    ]
    lines.append(report["guide"])
    return "\n".join(lines)

"""In-process inference: the Predictor against Keras' own `model.predict`, and against its tokenizer.

    python -m benchmarks.inference [--n 300] [--batch-n 3000] [--repeats 5] [--micro-c1 300] [--micro-c32 1600]

(a) Single-text latency: `Predictor.predict([text])` (tokenize + network + decode) against
    `bundle.model.predict(ids, verbose=0)` on the same text already encoded and padded exactly as the
    Predictor pads it. The calls are interleaved, their order rotating per text, so both share the
    machine's noise. Also splits the Predictor's time into tokenize (`preprocess`) and network
    (`forward`). Target: Predictor p50 at least 10x lower than model.predict p50.
(b) Batch throughput: texts/s of `Predictor.predict(texts)` against `tokenizer.tokenize_many(texts)` on
    the same texts, in alternating order, `--repeats` times; medians. The tokenizer bounds what the
    Predictor can do, so the ratio says how much the network and decoding add.
    Target: Predictor texts/s >= 0.8x tokenizer texts/s.
(c) Micro-batching without HTTP: single-text callers through the service's own `MicroBatcher` (built from
    its settings, MICROBATCH_* read from the environment as the server reads them), `--micro-c1` texts one
    caller at a time against `--micro-c32` texts from 32 callers, each caller sending its next text when
    answered, alternating, `--repeats` times; medians. Read beside `benchmarks.http`'s c=32 / c=1 ratio,
    it separates what micro-batching gains from what HTTP costs.

Writes benchmarks/results/inference.json and .md.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.settings import get_settings
from benchmarks import common
from benchmarks.common import MODEL_DIR, ROOT, latency_stats, load_texts, md_table, target, targets_table, write_results
from model.vocab import PAD_ID, UNK_ID

if TYPE_CHECKING:  # TensorFlow loads once the arguments are read, so --help and a wrong option answer at once
    from model.predictor import Predictor

WARM_TEXTS = 1000
CONCURRENCY = 32


def padded(predictor: Predictor, ids: list[int]) -> np.ndarray:
    """The (1, bucket) array `Predictor.forward` builds for one text: padded to its length bucket, unk if empty."""
    length = predictor.buckets[bisect.bisect_left(predictor.buckets, max(1, len(ids)))]
    array = np.full((1, length), PAD_ID, dtype=np.int32)
    array[0, : max(1, len(ids))] = ids or [UNK_ID]
    return array


def single_text(predictor: Predictor, texts: list[str], budget_s: float) -> dict:
    """Latency of four calls per text, interleaved with a rotating order; stops early after `budget_s`."""
    model = predictor.bundle.model
    for length in predictor.buckets:  # trace every length bucket before timing
        predictor.forward([[UNK_ID] * length])
        model.predict(np.full((1, length), UNK_ID, dtype=np.int32), verbose=0)
    encoded = predictor.preprocess(texts)
    times: dict[str, list[float]] = {"predictor": [], "keras_predict": [], "tokenize": [], "network": []}
    deadline = time.monotonic() + budget_s
    for i, (text, enc) in enumerate(zip(texts, encoded)):
        ids = padded(predictor, enc.ids)
        calls: list[tuple[str, Callable[[], object]]] = [
            ("predictor", lambda text=text: predictor.predict([text])),
            ("keras_predict", lambda ids=ids: model.predict(ids, verbose=0)),
            ("tokenize", lambda text=text: predictor.preprocess([text])),
            ("network", lambda enc=enc: predictor.forward([enc.ids])),
        ]
        for name, call in calls[i % 4 :] + calls[: i % 4]:
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
        if time.monotonic() > deadline:
            break
    split = [(t, n, p - t - n) for p, t, n in zip(times["predictor"], times["tokenize"], times["network"])]
    return {
        "latency": {name: latency_stats(values) for name, values in times.items()},
        "split_median_ms": {
            part: statistics.median(values) * 1000 for part, values in zip(("tokenize", "network", "rest"), zip(*split))
        },
        "tokenize_share_median": statistics.median(t / (t + n) for t, n, _ in split),
    }


def throughput(predictor: Predictor, texts: list[str], repeats: int, budget_s: float) -> dict:
    """texts/s of predict and tokenize_many on the same texts, alternating which goes first, until `budget_s`."""
    runs: dict[str, list[float]] = {"predictor": [], "tokenizer": []}
    calls = {"predictor": predictor.predict, "tokenizer": predictor.tokenizer.tokenize_many}
    deadline = time.monotonic() + budget_s
    for repeat in range(repeats):
        if repeat and time.monotonic() > deadline:
            break
        order = ["predictor", "tokenizer"] if repeat % 2 == 0 else ["tokenizer", "predictor"]
        for name in order:
            start = time.perf_counter()
            calls[name](texts)
            runs[name].append(len(texts) / (time.perf_counter() - start))
    ratios = [p / t for p, t in zip(runs["predictor"], runs["tokenizer"])]
    return {
        "texts": len(texts),
        "texts_per_s": runs,
        "median_texts_per_s": {name: statistics.median(values) for name, values in runs.items()},
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
    }


async def through_batcher(predictor: Predictor, texts: list[str], concurrency: int) -> float:
    """texts/s of `concurrency` callers that each submit one text and wait for its answer, until `texts` run out."""
    from app.batching import MicroBatcher  # imports TensorFlow

    batcher = MicroBatcher.from_settings(get_settings())
    batcher.start()
    queue = iter(texts)

    async def caller() -> None:
        for text in queue:
            await batcher.submit(predictor, text)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(caller() for _ in range(concurrency)))
    finally:
        await batcher.stop()
    return len(texts) / (time.perf_counter() - start)


def micro_batching(predictor: Predictor, c1_texts: list[str], c32_texts: list[str], repeats: int) -> dict:
    """texts/s through the MicroBatcher at concurrency 1 and 32, alternating which goes first."""
    runs: dict[str, list[float]] = {"c1": [], "c32": []}
    for repeat in range(repeats):
        for name in ("c1", "c32") if repeat % 2 == 0 else ("c32", "c1"):
            texts, concurrency = (c1_texts, 1) if name == "c1" else (c32_texts, CONCURRENCY)
            runs[name].append(asyncio.run(through_batcher(predictor, texts, concurrency)))
    ratios = [c32 / c1 for c1, c32 in zip(runs["c1"], runs["c32"])]
    return {
        "texts_per_s": runs,
        "median_texts_per_s": {name: statistics.median(values) for name, values in runs.items()},
        "ratios": ratios,
        "median_ratio": statistics.median(ratios),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inference", description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="texts timed one at a time (default 300)")
    parser.add_argument("--batch-n", type=int, default=3000, help="texts per throughput run (default 3000)")
    parser.add_argument("--repeats", type=int, default=5, help="throughput runs of each (default 5)")
    parser.add_argument("--micro-c1", type=int, default=300, help="texts per micro-batcher run at c=1 (default 300)")
    parser.add_argument("--micro-c32", type=int, default=1600, help="texts per run at c=32 (default 1600)")
    parser.add_argument("--budget-s", type=float, default=180, help="time limit of each of the two loops")
    parser.add_argument("--seed", type=int, default=0, help="seed of the texts sampled from the file (default 0)")
    common.add_texts_argument(parser)
    parser.add_argument("--bundle", type=Path, default=MODEL_DIR, help="model bundle (default model/default)")
    parser.add_argument("--name", default="inference", help="results file name (default inference)")
    args = parser.parse_args(argv)

    texts = load_texts(args.n + args.batch_n + WARM_TEXTS + args.micro_c1 + args.micro_c32, args.seed, args.texts)
    single, batch, warm = texts[: args.n], texts[args.n : args.n + args.batch_n], texts[-WARM_TEXTS:]
    micro = texts[args.n + args.batch_n : -WARM_TEXTS]
    started = time.perf_counter()
    from model.predictor import Predictor

    predictor = Predictor.load(args.bundle)
    load_s = time.perf_counter() - started
    predictor.predict(warm)  # the JVM's JIT (Okt runs several times faster after ~1000 texts), batch shapes

    single_result = single_text(predictor, single, args.budget_s)
    latency, split = single_result["latency"], single_result["split_median_ms"]
    tput = throughput(predictor, batch, args.repeats, args.budget_s)
    micro_result = micro_batching(predictor, micro[: args.micro_c1], micro[args.micro_c1 :], args.repeats)
    p50 = {name: stats["p50_ms"] for name, stats in latency.items()}
    speedup = p50["keras_predict"] / p50["predictor"]
    targets = [
        target("model.predict p50 / Predictor p50 (single text)", speedup, ">=", 10),
        target("Predictor / tokenizer texts/s (batch)", tput["median_ratio"], ">=", 0.8),
    ]
    sections = [
        f"Model: `{os.path.relpath(args.bundle, ROOT)}` (version {predictor.version}, "
        f"tokenizer {predictor.tokenizer.name}).",
        f"## Single text, in process ({latency['predictor']['n']} texts, calls interleaved)\n\n"
        + md_table(
            ["call", "p50 ms", "p90 ms", "p99 ms", "mean ms"],
            [[name, s["p50_ms"], s["p90_ms"], s["p99_ms"], s["mean_ms"]] for name, s in latency.items()],
        )
        + "\n\n`predictor` = `Predictor.predict([text])`; `keras_predict` = `model.predict(ids, verbose=0)` on the"
        " same padded ids; `tokenize` = `Predictor.preprocess([text])` (tokenize + vocabulary lookup); `network` ="
        " `Predictor.forward([ids])` (pad + compiled network).\n\n"
        + f"Split of the Predictor's time, medians over texts: tokenize {split['tokenize']:.2f} ms, network"
        f" {split['network']:.2f} ms, rest (decode, bookkeeping: `predictor` minus both on the same text;"
        " negative means below the noise of separate calls)"
        f" {split['rest']:.2f} ms; tokenize is {single_result['tokenize_share_median']:.0%} of tokenize + network."
        + "\n\nNetwork only, like for like: model.predict p50 / forward p50 = "
        + f"{p50['keras_predict'] / p50['network']:.1f}x.",
        f"## Batch throughput ({tput['texts']} texts, {len(tput['ratios'])} runs each, alternating order)\n\n"
        + md_table(
            ["run", "Predictor.predict texts/s", "tokenize_many texts/s", "ratio"],
            [[i + 1, p, t, r] for i, (p, t, r) in enumerate(zip(*tput["texts_per_s"].values(), tput["ratios"]))]
            + [["median", *tput["median_texts_per_s"].values(), tput["median_ratio"]]],
        ),
        f"## Micro-batching in process ({args.micro_c1} texts at c=1, {args.micro_c32} at c={CONCURRENCY},"
        f" {len(micro_result['ratios'])} runs each)\n\n"
        + md_table(
            ["run", "c=1 texts/s", f"c={CONCURRENCY} texts/s", "ratio"],
            [
                [i + 1, a, b, r]
                for i, (a, b, r) in enumerate(zip(*micro_result["texts_per_s"].values(), micro_result["ratios"]))
            ]
            + [["median", *micro_result["median_texts_per_s"].values(), micro_result["median_ratio"]]],
        )
        + "\n\nSingle-text callers through `app.batching.MicroBatcher` with the service's settings, no"
        " HTTP; `python -m benchmarks.http` measures the same ratio through a real server.",
        "## Targets\n\n" + targets_table(targets),
    ]
    data = {
        "model_version": predictor.version,
        "tokenizer": predictor.tokenizer.name,
        "args": vars(args),
        "load_s": load_s,
        "single_text": single_result,
        "throughput": tput,
        "micro_batching": micro_result,
        "targets": targets,
    }
    print(write_results(args.name, "Inference benchmark (in process)", data, sections).read_text())


if __name__ == "__main__":
    main()

"""Training time: the stage timings a bundle recorded, or a full retrain timed against the 15-minute target.

    python -m benchmarks.training [--bundle model/default] [--name training]
    python -m benchmarks.training --run [--train FILE] [--test FILE] [--name training_run] [-- training options]

Without `--run`, summarises `timings` in the bundle's metrics.json (tokenize, word2vec, language model,
fit, evaluate, total) as seconds and shares of the total, and the total against the target. With `--run`,
retrains from scratch (`python -m training.train ... --no-cache`, full NSMC by default: about 14 minutes
of both cores) into a temporary directory and reports its wall time and recorded timings. Target: a full retrain
including tokenization takes <= 15 minutes (900 s). Writes benchmarks/results/training.json|.md, or
training_run.json|.md with `--run` (`--name` chooses another results file).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    MODEL_DIR,
    NSMC_TEST,
    NSMC_TRAIN,
    ROOT,
    md_table,
    options_then_passed_on,
    target,
    targets_table,
    write_results,
)
from training.progress import HelpWithDefaults

TARGET_S = 15 * 60
STAGES = ("tokenize_s", "word2vec_s", "language_model_s", "fit_s", "evaluate_s")
NOTE = (
    "Training times are absolute: hold them against the target only when the machine was otherwise idle. "
    "Each stage's share of the total is less sensitive to load."
)


def timings_table(timings: dict) -> str:
    total = timings["total_s"]
    rows = [[stage.removesuffix("_s"), timings[stage], timings[stage] / total] for stage in STAGES if stage in timings]
    other = total - sum(timings.get(stage, 0.0) for stage in STAGES)
    rows += [["other (vocabulary, batching, saving)", other, other / total], ["total", total, 1.0]]
    return (
        md_table(["stage", "seconds", "share of total"], rows)
        + f"\n\nfit: {timings['epochs_run']} epochs, {timings['fit_s_per_epoch']:.1f} s per epoch."
    )


def retrain(args: argparse.Namespace, extra: list[str]) -> tuple[float, dict]:
    """Run training.train into a temporary bundle; returns (wall seconds, its metrics.json)."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "bundle"
        command = [sys.executable, "-m", "training.train", "--train", str(args.train), "--test", str(args.test)]
        command += ["--out", str(out), "--label-names", "negative,positive", "--no-cache", *extra]
        print("running:", " ".join(command), flush=True)
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, timeout=args.timeout_s)
        wall = time.perf_counter() - started
        return wall, json.loads((out / "metrics.json").read_text("utf-8"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.training",
        description=__doc__.split("\n")[0],
        usage="%(prog)s [options] [-- training.train options for --run]",
        formatter_class=HelpWithDefaults,
    )
    parser.add_argument("--bundle", type=Path, default=MODEL_DIR, help="bundle to summarise (default model/default)")
    parser.add_argument("--run", action="store_true", help="retrain from scratch and time it (about 14 minutes)")
    parser.add_argument("--train", type=Path, default=NSMC_TRAIN, help="training file for --run (full NSMC)")
    parser.add_argument("--test", type=Path, default=NSMC_TEST, help="test file for --run (full NSMC)")
    parser.add_argument("--timeout-s", type=float, default=3600, help="give up on --run after this long")
    parser.add_argument("--name", help="results file name (default: training, or training_run with --run)")
    args, extra = options_then_passed_on(parser, argv)
    if extra and not args.run:
        parser.error("training options after -- are for --run; without it nothing is trained")

    if args.run:
        wall, metrics = retrain(args, extra)
        timings = metrics["timings"]
        options = f", options `{' '.join(extra)}`" if extra else ""
        source = f"retrain of `{args.train}` (test `{args.test}`{options}) taking {wall:.0f} s wall time"
        checks = [target("retrain wall time / 15 min", wall / TARGET_S, "<=", 1)]
        name, data = "training_run", {"wall_s": wall, "train": str(args.train), "test": str(args.test)}
    else:
        metrics = json.loads((args.bundle / "metrics.json").read_text("utf-8"))
        timings = metrics["timings"]
        shown = os.path.relpath(args.bundle / "metrics.json", ROOT)
        source = f"timings recorded in `{shown}` (machine load during that training unknown)"
        checks = [target("recorded total_s / 15 min", timings["total_s"] / TARGET_S, "<=", 1)]
        if metrics.get("language_model_from_cache"):  # not a whole retrain: no verdict
            source += "; its language model was read from the cache, so this is not a full retrain's time"
            checks = []
        name, data = "training", {"bundle": str(args.bundle)}
    rows = metrics["train_rows"] + metrics["validation_rows"] + metrics.get("test", {}).get("n", 0)
    accuracy = {part: metrics[part]["accuracy"] for part in ("validation", "test") if part in metrics}
    scored = "".join(f"; {part} accuracy {value:.2%}" for part, value in accuracy.items())
    sections = [
        f"Source: {source}; about {rows:,} texts tokenized"
        f" ({rows / timings['tokenize_s']:,.0f} texts/s){scored}.\n\n" + timings_table(timings),
        "## Targets\n\n" + (targets_table(checks) if checks else "No verdict: not a full retrain."),
    ]
    data |= {"timings": timings, "texts_tokenized": rows, "accuracy": accuracy, "targets": checks}
    print(write_results(args.name or name, "Training time", data, sections, NOTE).read_text())


if __name__ == "__main__":
    main()

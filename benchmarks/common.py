"""Shared by the benchmarks: NSMC sample texts, percentile stats, targets, machine info and result files."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# BENCHMARK_RESULTS points the results elsewhere (the tests do, so that a test run leaves the quoted files alone).
RESULTS = Path(os.environ.get("BENCHMARK_RESULTS") or ROOT / "benchmarks" / "results")
MODEL_DIR = ROOT / "model" / "default"
NSMC_TEST = ROOT.parent / "shared" / "data" / "nsmc" / "ratings_test.txt"
NSMC_TRAIN = NSMC_TEST.with_name("ratings_train.txt")
SHARED_NOTE = (
    "The machine is shared with other work, so absolute times are noisy; the verdicts are ratios of "
    "figures measured side by side in the same run."
)


def load_texts(n: int, seed: int = 0, path: Path = NSMC_TEST) -> list[str]:
    """`n` non-blank texts from distinct rows, drawn with a fixed seed (the API rejects blank texts)."""
    texts = pd.read_csv(path, sep="\t", keep_default_na=False)["document"].astype(str)
    texts = texts[texts.str.strip() != ""]
    if n > len(texts):
        raise ValueError(f"asked for {n} texts but {path} has only {len(texts)} non-blank ones")
    return texts.sample(n=n, random_state=seed).tolist()


def options_then_passed_on(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[argparse.Namespace, list[str]]:
    """The script's own options, any unknown one refused, and the arguments after `--`, which it passes on to
    `training.train` (a mistyped option used to be passed on, or dropped, without a word)."""
    given = list(sys.argv[1:] if argv is None else argv)
    cut = given.index("--") if "--" in given else len(given)
    return parser.parse_args(given[:cut]), given[cut + 1 :]


def add_texts_argument(parser: argparse.ArgumentParser) -> None:
    """`--texts FILE`: where `load_texts` samples from (the tests point it at the repo's fixture)."""
    parser.add_argument(
        "--texts", type=Path, default=NSMC_TEST, help="file with a document column to sample (default: NSMC test)"
    )


def latency_stats(seconds: Sequence[float]) -> dict[str, float]:
    """Count, p50/p90/p99 and mean of durations given in seconds, in milliseconds."""
    values = np.asarray(seconds, dtype=float) * 1000
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"n": len(values), "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "mean_ms": float(values.mean())}


def target(name: str, value: float, op: str, bound: float) -> dict:
    """A target check: `value op bound` with op '>=' or '<='."""
    met = value >= bound if op == ">=" else value <= bound
    return {"name": name, "value": value, "target": f"{op} {bound:g}", "goal": bound, "met": bool(met)}


def machine_info() -> dict:
    from model.native_log import native_output_logged

    with native_output_logged():  # importing TensorFlow prints C++ notices to fd 2: log them instead
        import keras
        import tensorflow as tf

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "platform": platform.platform(),
    }


def fmt(value: object) -> str:
    if isinstance(value, bool):
        return "met" if value else "**missed**"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
    return str(value)


def md_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(fmt(cell) for cell in row) + " |" for row in rows])


def shown_against(value: float, goal: float, met: bool) -> str:
    """`value` with four significant digits, or as many more as a miss needs not to print as its goal (three
    showed 0.87984 as 0.88 beside a missed 0.88 goal)."""
    for digits in range(4, 17):
        shown = f"{value:.{digits}g}"
        if met or float(shown) != goal:
            return shown
    return repr(value)


def targets_table(targets: Sequence[dict]) -> str:
    rows = [[t["name"], shown_against(t["value"], t["goal"], t["met"]), t["target"], t["met"]] for t in targets]
    return md_table(["target", "measured", "goal", "verdict"], rows)


def _json_value(value: object) -> object:
    """numpy numbers as floats, paths as text."""
    return str(value) if isinstance(value, Path) else float(value)


def write_results(name: str, title: str, data: dict, sections: Sequence[str], note: str = SHARED_NOTE) -> Path:
    """Write results/<name>.json (data + machine info) and results/<name>.md; returns the Markdown path."""
    machine = machine_info()
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": name, "machine": machine, **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=_json_value) + "\n")
    header = (
        f"# {title}\n\n{machine['date']} · {machine['cpus_usable']} of {machine['cpu_count']} CPUs usable · "
        f"load average {machine['load_average_1_5_15']} · Python {machine['python']} · "
        f"TensorFlow {machine['tensorflow']} · Keras {machine['keras']}\n\n{note}"
    )
    markdown = RESULTS / f"{name}.md"
    markdown.write_text("\n\n".join([header, *sections]) + "\n", "utf-8")
    return markdown

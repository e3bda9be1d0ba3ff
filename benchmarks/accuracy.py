"""Accuracy: the shipped model, an ablation table, the spread over seeds, sentiment3, and ensembles.

    python -m benchmarks.accuracy default                    # instant: the shipped bundle's recorded figures
    python -m benchmarks.accuracy ablation [--train-rows 40000] [--epochs 3] [--only NAME ...]
    python -m benchmarks.accuracy seeds [--seeds 42 43 44] [--section NAME] [-- extra training.train options]
    python -m benchmarks.accuracy seeds --recorded DIR DIR [...] --section NAME   # bundles trained already
    python -m benchmarks.accuracy sentiment3 [-- extra training.train options]
    python -m benchmarks.accuracy ensemble --bundles model/default runs/kiwi [...] [--train FILE --test FILE]

Every run is `python -m training.train` in a subprocess (fresh seeds and memory) into a temporary bundle,
evaluated once on the official test file; the figures come from the metrics.json it writes. Tuning reads
only the validation split of the training file (`validation` column); the test column is reported, not
chosen on.

- **ablation** changes one setting of the default configuration per row. To fit about 45 minutes of both
  cores (with `-- --language-model-epochs 0`, as the recorded table was run) it trains on a stratified
  sample of `--train-rows` rows of ratings_train.txt for at most `--epochs` epochs, so its rows compare
  settings with each other and are lower than a full run.
- **seeds** trains the default configuration (plus any extra options) on the full training file once per
  seed and reports mean and spread (about 11–14 minutes per seed with cached tokens). With `--recorded` it
  trains nothing and summarises bundles that `training.train --test` wrote (each records its own figures).
- **sentiment3** trains on sentiment3/train.tsv (3 string labels) and reports its test file.
- **ensemble** trains nothing: it averages the class probabilities of already trained bundles (each
  through its own Predictor) on the validation split they all held out and on the test file, to measure what
  an ensemble would gain before the product carries one. Members must share the split (seed, fraction).
  `--train` and `--test` name other data than NSMC's (the tests run it on the repo's fixture).

Each subcommand updates its own section of benchmarks/results/accuracy.json and rewrites accuracy.md
from all sections, so they can be run one at a time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.common import (
    MODEL_DIR,
    NSMC_TEST,
    NSMC_TRAIN,
    RESULTS,
    ROOT,
    md_table,
    options_then_passed_on,
    target,
    targets_table,
    write_results,
)
from training.config import TrainConfig
from training.data import held_out_fraction, read_labelled, split_seed
from training.evaluate import label_names_for
from training.metrics import classification_report
from training.progress import HelpWithDefaults
from training.train import parse_args

# model.bundle, model.predictor and training.pipeline import TensorFlow: they are imported by the commands that
# need them, so that --help and a mistyped option answer at once.

SENTIMENT3 = NSMC_TEST.parents[1] / "sentiment3"
SAMPLES = Path.home() / ".cache" / "attnclf" / "benchmark-samples"
TARGET_ACCURACY = 0.88
# How bundles recorded before an option existed were trained (from_epoch came after epsilon).
BEFORE_THE_OPTION = {
    "language_model_epochs": 0,
    "adversarial_epsilon": 0.0,
    "adversarial_from_epoch": 1,
    "max_val_rows": 0,
}
NOTE = (
    "Accuracy figures are from the official test files, each read once per reported configuration; "
    "settings were compared on the validation split (10% of the training file)."
)

# One change from the default configuration per row; names are what the table shows.
ABLATIONS: dict[str, list[str]] = {
    "default (Okt norm+stem)": [],
    "Okt, no norm": ["--no-norm"],
    "Okt, no stem": ["--no-stem"],
    "Okt, no norm, no stem": ["--no-norm", "--no-stem"],
    "Komoran": ["--tokenizer", "komoran"],
    "Hannanum": ["--tokenizer", "hannanum"],
    "Kkma": ["--tokenizer", "kkma"],
    "Kiwi (kiwipiepy, no JVM)": ["--tokenizer", "kiwi"],
    "max_len 32": ["--max-len", "32"],
    "max_len 128": ["--max-len", "128"],
    "vocabulary 10,000": ["--vocab-size", "10000"],
    "vocabulary 40,000": ["--vocab-size", "40000"],
    "embedding 200": ["--embedding-dim", "200"],
    "LSTM 64": ["--lstm-units", "64"],
    "LSTM 256": ["--lstm-units", "256"],
    "dropout 0.1 / 0.2": ["--embedding-dropout", "0.1", "--dropout", "0.2"],
    "dot-product attention": ["--attention", "dot"],
    "no word2vec init": ["--no-pretrain-embeddings"],
}
SLOW = {"Kkma"}  # about 10x slower than Okt; run it with --only


def stratified_sample(path: Path, rows: int, seed: int = 0) -> Path:
    """A stratified sample of `rows` rows of a labelled TSV, written once under SAMPLES and reused,
    so its tokens stay cached between runs."""
    out = SAMPLES / f"{path.stem}-{rows}-seed{seed}.tsv"
    if not out.exists():
        frame = pd.read_csv(path, sep="\t", keep_default_na=False, dtype=str)
        fraction = rows / len(frame)
        sample = frame.groupby("label", group_keys=False).sample(frac=fraction, random_state=seed)
        SAMPLES.mkdir(parents=True, exist_ok=True)
        partial = out.with_suffix(".partial")
        sample.sample(frac=1.0, random_state=seed).to_csv(partial, sep="\t", index=False)
        partial.rename(out)
    return out


def train_once(train: Path, test: Path, options: list[str], timeout_s: float, keep: Path | None = None) -> dict:
    """One `training.train` run into a temporary bundle (copied to `keep` if given); returns its summary figures."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "bundle"
        command = [sys.executable, "-m", "training.train", "--train", str(train), "--test", str(test)]
        command += ["--out", str(out), "--quiet", *options]
        print("running:", " ".join(command), flush=True)
        started = time.perf_counter()
        subprocess.run(command, cwd=ROOT, check=True, timeout=timeout_s)
        figures = {"options": options, **summary(out), "wall_s": time.perf_counter() - started}
        if keep is not None:
            shutil.copytree(out, keep)
    return figures


def summary(bundle: Path) -> dict:
    """The figures a trained bundle recorded about itself (its metrics.json must have a test section)."""
    metrics = json.loads((bundle / "metrics.json").read_text("utf-8"))
    trained_on = json.loads((bundle / "manifest.json").read_text("utf-8")).get("data", {}).get("train", {})
    if "test" not in metrics:
        raise SystemExit(f"{bundle}: trained without --test, so it has no test figures")
    return {
        "validation_accuracy": metrics.get("validation", {}).get("accuracy"),  # none when trained on every row
        "test_accuracy": metrics["test"]["accuracy"],
        "test_macro_f1": metrics["test"]["macro_f1"],
        "best_epoch": metrics["best_epoch"],
        "epochs_run": metrics["timings"]["epochs_run"],
        "fit_s_per_epoch": metrics["timings"]["fit_s_per_epoch"],
        "wall_s": metrics["timings"]["total_s"],
        "language_model_from_cache": metrics.get("language_model_from_cache", False),
        "bundle_mb": sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file()) / 1e6,
        "vocabulary": len(json.loads((bundle / "vocab.json").read_text("utf-8"))["tokens"]),
        "train_config": metrics["train_config"],
        "train_file": trained_on.get("file"),
        "train_sha256": trained_on.get("sha256"),
    }


def wall_time(run: dict) -> float | str:
    """A run's wall time, marked when it read its pre-trained encoder from the cache (so it skipped pre-training)."""
    return f"{run['wall_s']:.0f} (encoder from cache)" if run.get("language_model_from_cache") else run["wall_s"]


def run_default(_: argparse.Namespace, __: list[str]) -> dict:
    from model.bundle import Bundle

    bundle = Bundle.load(MODEL_DIR)
    evaluation = json.loads((ROOT / "reports" / "nsmc_test_eval.json").read_text("utf-8"))
    size_mb = sum(f.stat().st_size for f in MODEL_DIR.rglob("*") if f.is_file()) / 1e6
    return {
        "version": bundle.manifest.get("version"),
        "test_accuracy": evaluation["accuracy"],
        "test_macro_f1": evaluation["macro_f1"],
        "validation_accuracy": bundle.metrics.get("validation", {}).get("accuracy"),
        "bundle_mb": size_mb,
        "network": bundle.config.network,
        "train_config": bundle.metrics["train_config"],
    }


def run_ablation(args: argparse.Namespace, extra: list[str]) -> dict:
    if not parse_args(["--train", "-", "--out", "-", *extra]).val_fraction:
        raise SystemExit("the ablation compares validation accuracy, so it cannot run with --val-fraction 0")
    sample = stratified_sample(NSMC_TRAIN, args.train_rows)
    budget = ["--epochs", str(args.epochs), "--patience", "1", "--label-names", "negative,positive", *extra]
    names = args.only or [name for name in ABLATIONS if name not in SLOW]
    unknown = sorted(set(names) - set(ABLATIONS))
    if unknown:
        raise SystemExit(f"unknown ablation(s) {unknown}; choose from {list(ABLATIONS)}")
    previous = load_results().get("ablation", {}).get("rows", {}) if args.only else {}
    rows = dict(previous)
    for name in names:
        try:
            rows[name] = train_once(sample, NSMC_TEST, ABLATIONS[name] + budget, args.timeout_s)
        except subprocess.CalledProcessError as error:  # one setting failing does not lose the others
            rows[name] = {"options": ABLATIONS[name], "error": f"training exited with status {error.returncode}"}
        except subprocess.TimeoutExpired:
            rows[name] = {"options": ABLATIONS[name], "error": f"training took over {args.timeout_s:.0f} s"}
        save_section("ablation", {"train_rows": args.train_rows, "epochs": args.epochs, "rows": rows})
    return {"train_rows": args.train_rows, "epochs": args.epochs, "rows": rows}


def run_seeds(args: argparse.Namespace, extra: list[str]) -> dict:
    if args.recorded:  # runs made by `training.train` commands docs/performance.md gives, summarised from their bundles
        runs = {str(run["train_config"]["seed"]): run for run in map(summary, args.recorded)}
        changed_settings(runs)  # refuses bundles that differ in more than the seed
        return {
            "recorded": [str(p) for p in args.recorded],
            "runs": runs,
            **spread(runs),
        }
    options = ["--label-names", "negative,positive", *extra]
    runs = {
        str(seed): train_once(
            NSMC_TRAIN,
            NSMC_TEST,
            [*options, "--seed", str(seed)],
            args.timeout_s,
            keep=args.keep_dir / f"seed-{seed}" if args.keep_dir else None,
        )
        for seed in args.seeds
    }
    return {"options": extra, "runs": runs, **spread(runs)}


def unused(key: str, train_config: dict) -> bool:
    """Whether a setting did nothing in this run: when to start adversarial training, without it."""
    return key == "adversarial_from_epoch" and not train_config.get("adversarial_epsilon")


def changed_settings(runs: dict[str, dict]) -> dict:
    """The training settings, other than the seed, in which these runs differ from the default configuration.

    A bundle trained before an option existed has no value for it; it was trained as BEFORE_THE_OPTION says.
    When every run split its data with the same seed, the split is pinned, whether a run named that seed as
    `--split-seed` or left the split to its own `--seed` (seed 42 without `--split-seed 42` beside runs with it).
    """
    defaults = asdict(TrainConfig())
    splits = {split_seed(run["train_config"]) for run in runs.values()}
    pinned = {"split_seed": next(iter(splits))} if len(runs) > 1 and len(splits) == 1 else {}
    changed = [
        {
            key: value
            for key, value in {**BEFORE_THE_OPTION, **run["train_config"], **pinned}.items()
            if key != "seed" and value != defaults.get(key) and not unused(key, run["train_config"])
        }
        for run in runs.values()
    ]
    if any(settings != changed[0] for settings in changed):
        raise SystemExit(f"these bundles differ in more than the seed: {changed}")
    files = {(run.get("train_file"), run.get("train_sha256")) for run in runs.values() if run.get("train_sha256")}
    if len(files) > 1:  # runs summarised before files were recorded have none
        raise SystemExit(f"these bundles were trained on different files (name, sha256): {sorted(files)}")
    return changed[0]


def run_sentiment3(args: argparse.Namespace, extra: list[str]) -> dict:
    return train_once(SENTIMENT3 / "train.tsv", SENTIMENT3 / "test.tsv", extra, args.timeout_s)


def run_ensemble(args: argparse.Namespace, _: list[str]) -> dict:
    if not args.bundles or len(args.bundles) < 2:
        raise SystemExit("ensemble needs --bundles with at least two trained bundle directories")
    from model.predictor import Predictor
    from training.pipeline import stratified_split

    members = {str(path): Predictor.load(path) for path in args.bundles}
    first = next(iter(members.values()))
    train, test = read_labelled(args.train or NSMC_TRAIN), read_labelled(args.test or NSMC_TEST)
    split = {
        (
            tuple(member.labels),
            split_seed(member.bundle.metrics["train_config"]),
            held_out_fraction(member.bundle.metrics["train_config"], len(train.texts)),
        )
        for member in members.values()
    }
    if any(not fraction for *_, fraction in split):
        raise SystemExit("a member held out no validation rows (--val-fraction 0), which an ensemble is compared on")
    if len(split) != 1:
        raise SystemExit(f"the members differ in labels or validation split (labels, seed, fraction): {sorted(split)}")
    _, seed, fraction = split.pop()
    for name, member in members.items():
        trained_on = member.bundle.manifest.get("data", {}).get("train", {}).get("sha256")
        if trained_on is not None and trained_on != train.sha256:
            raise SystemExit(f"{name} was trained on another file than {train.path} (its sha256 differs): pass --train")
    true_train = label_names_for(first, train)
    _, validation_rows = stratified_split(np.array([first.labels.index(n) for n in true_train]), fraction, seed)
    parts = {
        "validation": ([train.texts[i] for i in validation_rows], [true_train[i] for i in validation_rows]),
        "test": (test.texts, label_names_for(first, test)),
    }
    # the version tells apart two sections with the same paths (a member retrained in place)
    figures: dict = {
        "members": {name: {"version": member.bundle.version} for name, member in members.items()},
        "ensemble": {},
    }
    for part, (texts, true) in parts.items():
        summed = np.zeros((len(texts), len(first.labels)))
        for name, predictor in members.items():
            probabilities = np.array(
                [[answer.probabilities[label] for label in first.labels] for answer in predictor.predict(texts)]
            )
            figures["members"][name][part] = accuracy_of(probabilities, true, first.labels)
            summed += probabilities
            recorded = predictor.bundle.metrics["validation"]["accuracy"]
            if part == "validation" and abs(figures["members"][name][part]["accuracy"] - recorded) > 0.002:
                # not the split this member held out (another training file): refused before test is read
                raise SystemExit(f"{name}: validation accuracy here differs from its metrics.json ({recorded:.4f})")
        figures["ensemble"][part] = accuracy_of(summed, true, first.labels)
    data = {"train": str(train.path), "test": str(test.path)}
    return {"validation_rows": len(validation_rows), "seed": seed, "data": data, **figures}


def accuracy_of(probabilities: np.ndarray, true: list[str], labels: list[str]) -> dict:
    report = classification_report(true, [labels[k] for k in probabilities.argmax(axis=1)], labels)
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def spread(runs: dict[str, dict]) -> dict:
    figures = {}
    for key in ("validation_accuracy", "test_accuracy", "test_macro_f1"):
        values = [run[key] for run in runs.values()]
        if None in values:  # runs that held out nothing have no validation figures
            figures[key] = None
            continue
        figures[key] = {"mean": statistics.mean(values), "stdev": statistics.stdev(values) if len(values) > 1 else 0.0}
        figures[key] |= {"min": min(values), "max": max(values)}
    return figures


def load_results() -> dict:
    path = RESULTS / "accuracy.json"
    return json.loads(path.read_text("utf-8")) if path.exists() else {}


def save_section(name: str, section: dict) -> Path:
    """Store one section beside the others and rewrite both result files."""
    data = {key: value for key, value in load_results().items() if key not in ("benchmark", "machine")}
    data[name] = section
    return write_results("accuracy", "Accuracy", data, markdown_sections(data), NOTE)


def standard_error(accuracy: float, rows: int) -> float:
    return (accuracy * (1 - accuracy) / rows) ** 0.5


def pct(value: float | None) -> str:
    """A share as a percentage; a dash for a figure the run has not got (no validation rows)."""
    return "–" if value is None else f"{100 * value:.2f}%"


def markdown_sections(data: dict) -> list[str]:
    sections = []
    if "default" in data:
        shipped = data["default"]
        checks = [target("NSMC test accuracy of model/default", shipped["test_accuracy"], ">=", TARGET_ACCURACY)]
        sections.append(
            "## Shipped model (`model/default`)\n\n"
            + md_table(
                ["version", "test accuracy", "test macro-F1", "validation accuracy", "bundle MB"],
                [
                    [
                        shipped["version"],
                        pct(shipped["test_accuracy"]),
                        pct(shipped["test_macro_f1"]),
                        pct(shipped["validation_accuracy"]),
                        shipped["bundle_mb"],
                    ]
                ],
            )
            + "\n\nFrom `python -m training.evaluate --bundle model/default --data "
            "../shared/data/nsmc/ratings_test.txt` (reports/nsmc_test_eval.json).\n\n" + targets_table(checks)
        )
    for name in sorted(key for key in data if key.startswith("seeds")):
        seeds = data[name]
        rows = [
            [
                seed,
                pct(run["validation_accuracy"]),
                pct(run["test_accuracy"]),
                pct(run["test_macro_f1"]),
                run["best_epoch"],
                wall_time(run),
            ]
            for seed, run in seeds["runs"].items()
        ]
        rows.append(
            ["mean ± sd"]
            + [
                f"{pct(seeds[key]['mean'])} ± {100 * seeds[key]['stdev']:.2f}" if seeds[key] else "–"
                for key in ("validation_accuracy", "test_accuracy", "test_macro_f1")
            ]
            + ["", ""]
        )
        command = "python -m benchmarks.accuracy seeds" + (f" --section {name}" if name != "seeds" else "")
        ran = ""
        if "recorded" in seeds:
            command += f" --recorded {' '.join(seeds['recorded'])}"
        elif seeds["options"]:
            command += f" -- {' '.join(seeds['options'])}"
            ran = " (run with the defaults of its day; the heading compares its settings with today's)"
        if all("train_config" in run for run in seeds["runs"].values()):
            # against today's defaults, which may have changed since the runs
            settings = ", ".join(
                f"{key} {' '.join(value) if isinstance(value, list) else value}"
                for key, value in changed_settings(seeds["runs"]).items()
            )
            options = f", changed from the default configuration: {settings}" if settings else ", default configuration"
        else:
            options = ", default configuration" + (f" with `{' '.join(seeds['options'])}`" if seeds["options"] else "")
        files = {run.get("train_file") for run in seeds["runs"].values()} - {None, NSMC_TRAIN.name}
        trained_on = f"trained on {', '.join(sorted(files))}" if files else "full NSMC"
        sections.append(
            f"## Seeds: {trained_on}{options}\n\n"
            + md_table(["seed", "validation acc.", "test acc.", "test macro-F1", "best epoch", "wall s"], rows)
            + f"\n\n`{command}`{ran}"
        )
    if "ablation" in data:
        ablation = data["ablation"]
        base = ablation["rows"].get("default (Okt norm+stem)")
        rows = []
        for name, run in ablation["rows"].items():
            if "error" in run:
                rows.append([name, f"failed: {run['error']}", "", "", "", "", "", ""])
                continue
            delta = f"{100 * (run['validation_accuracy'] - base['validation_accuracy']):+.2f}" if base else ""
            rows.append(
                [name, pct(run["validation_accuracy"]), delta, pct(run["test_accuracy"]), run["best_epoch"],
                 f"{run['vocabulary']:,}" if "vocabulary" in run else "-", run["fit_s_per_epoch"], run["bundle_mb"]]
            )  # fmt: skip
        held_out = held_out_fraction((base or {}).get("train_config", {"val_fraction": 0.1}), ablation["train_rows"])
        validation_rows = round(ablation["train_rows"] * held_out)
        sections.append(
            f"## Ablation: one change per row, {ablation['train_rows']:,} training rows, "
            f"≤ {ablation['epochs']} epochs\n\n"
            "Budget runs (a stratified sample, at most 3 epochs, patience 1), so every row scores below a full "
            "run; they compare settings with each other. One standard error is about "
            f"±{100 * standard_error(0.84, validation_rows):.1f} points on the {validation_rows:,} validation "
            f"rows and ±{100 * standard_error(0.84, 50_000):.2f} on the 50,000 test rows: smaller differences "
            "are noise. s / epoch is wall time on a shared machine. The vocabulary is capped by the sample itself "
            "(forms seen at least twice), so larger caps change nothing here.\n\n"
            + md_table(
                [
                    "configuration",
                    "validation acc.",
                    "Δ validation (points)",
                    "test acc.",
                    "best epoch",
                    "vocabulary",
                    "s / epoch",
                    "bundle MB",
                ],
                rows,
            )  # fmt: skip
            + "\n\n`python -m benchmarks.accuracy ablation`"
        )
    if "sentiment3" in data:
        run = data["sentiment3"]
        sections.append(
            "## sentiment3 (3 classes, string labels)\n\n"
            + md_table(
                ["validation acc.", "test acc.", "test macro-F1", "best epoch", "wall s"],
                [
                    [
                        pct(run["validation_accuracy"]),
                        pct(run["test_accuracy"]),
                        pct(run["test_macro_f1"]),
                        run["best_epoch"],
                        wall_time(run),
                    ]
                ],
            )
            + "\n\n`python -m benchmarks.accuracy sentiment3`"
        )
    for name in sorted(key for key in data if key.startswith("ensemble")):
        ensemble = data[name]
        named = [
            (f"`{member}`" + (f" ({run['version']})" if "version" in run else ""), run)
            for member, run in ensemble["members"].items()
        ]
        named.append(("**mean of the probabilities**", ensemble["ensemble"]))
        rows = [
            [member, pct(run["validation"]["accuracy"]), pct(run["test"]["accuracy"]), pct(run["test"]["macro_f1"])]
            for member, run in named
        ]
        bundles = " ".join(ensemble["members"])
        files = ensemble.get("data", {})  # sections recorded before --train / --test existed were on NSMC
        if files and (Path(files["train"]), Path(files["test"])) != (NSMC_TRAIN, NSMC_TEST):
            bundles += f" --train {files['train']} --test {files['test']}"
        section = f" --section {name}" if name != "ensemble" else ""
        sections.append(
            f"## Ensemble of {len(ensemble['members'])} trained bundles (measured, not shipped)\n\n"
            f"Validation: the {ensemble['validation_rows']:,} rows of the training file every member held out "
            f"(seed {ensemble['seed']}).\n\n"
            + md_table(["member", "validation acc.", "test acc.", "test macro-F1"], rows)
            + f"\n\n`python -m benchmarks.accuracy ensemble --bundles {bundles}{section}`"
        )
    return sections


COMMANDS = {
    "default": run_default,
    "ablation": run_ablation,
    "seeds": run_seeds,
    "sentiment3": run_sentiment3,
    "ensemble": run_ensemble,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.accuracy",
        description=__doc__.split("\n")[0],
        usage="%(prog)s COMMAND [options] [-- training.train options]",
        epilog="Options after -- go to every training.train run (seeds without --recorded, sentiment3, ablation).",
        formatter_class=HelpWithDefaults,
    )
    parser.add_argument("command", choices=COMMANDS)
    parser.add_argument("--train-rows", type=int, default=40_000, help="ablation: training rows sampled")
    parser.add_argument("--epochs", type=int, default=3, help="ablation: most epochs per run")
    parser.add_argument("--only", nargs="+", metavar="NAME", help=f"ablation: these rows only, of {list(ABLATIONS)}")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[42, 43, 44], help="seeds: one full run per seed (default 42 43 44)"
    )
    parser.add_argument("--keep-dir", type=Path, help="seeds: keep each run's bundle as DIR/seed-N")
    parser.add_argument(
        "--recorded", type=Path, nargs="+", metavar="BUNDLE", help="seeds: summarise these trained bundles instead"
    )
    parser.add_argument("--section", help="store the results under this name (default: the command's)")
    parser.add_argument("--bundles", type=Path, nargs="+", help="ensemble: trained bundle directories")
    parser.add_argument("--train", type=Path, help="ensemble: the file the members were trained on (default NSMC's)")
    parser.add_argument("--test", type=Path, help="ensemble: the test file (default NSMC's)")
    parser.add_argument("--timeout-s", type=float, default=3600, help="give up on one training run after this long")
    args, extra = options_then_passed_on(parser, argv)
    if extra and (args.command in ("default", "ensemble") or args.recorded):
        parser.error(f"{args.command}{' --recorded' if args.recorded else ''} trains nothing: no training options")
    if (args.train or args.test) and args.command != "ensemble":
        parser.error(f"--train and --test are for ensemble; {args.command} takes training options after --")
    if args.section and not args.section.startswith(args.command):
        parser.error(f"--section must start with {args.command!r}, so the results page knows how to show it")
    section = COMMANDS[args.command](args, extra)
    print(save_section(args.section or args.command, section).read_text("utf-8"))


if __name__ == "__main__":
    main()

"""Evaluate a bundle on a labelled file: accuracy, macro-F1, per-class scores, confusion matrix.

python -m training.evaluate --bundle model/default --data ../shared/data/nsmc/ratings_test.txt --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model.bundle import BundleError
from model.predictor import Predictor
from training.data import DataError, LabelledTexts, read_labelled
from training.metrics import classification_report, format_report
from training.progress import cli_logger


def label_names_for(predictor: Predictor, data: LabelledTexts) -> list[str]:
    """Map the file's labels to the bundle's names; a file may use either the raw values or the names."""
    config = predictor.bundle.config
    mapping = dict(zip(config.label_values or config.labels, config.labels))
    mapping.update({name: name for name in config.labels})
    unknown = sorted(set(data.labels) - set(mapping))
    if unknown:
        raise DataError(f"{data.path}: labels {unknown} are not among the model's {sorted(mapping)}")
    return [mapping[label] for label in data.labels]


def evaluate(predictor: Predictor, data: LabelledTexts) -> dict:
    true = label_names_for(predictor, data)
    predictions = predictor.predict(data.texts)
    return classification_report(true, [p.label for p in predictions], predictor.labels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", required=True, type=Path, help="bundle directory")
    parser.add_argument("--data", required=True, type=Path, help="labelled .tsv/.txt, .csv or .jsonl file")
    parser.add_argument("--text-column", default="document")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--json", type=Path, help="also write the metrics as JSON here")
    parser.add_argument("--workers", type=int, default=2, help="tokenizer threads")
    args = parser.parse_args(argv)
    log = cli_logger("evaluate")
    try:
        data = read_labelled(args.data, args.text_column, args.label_column)
        log.info("loading bundle %s", args.bundle)
        predictor = Predictor.load(args.bundle, batch_size=256, tokenizer_workers=args.workers)
        log.info("predicting %s texts", f"{len(data.texts):,}")
        report = evaluate(predictor, data)
    except (DataError, BundleError) as error:
        log.error("error: %s", error)
        return 2
    report["bundle_version"] = predictor.version
    report["data"] = data.fingerprint()
    sys.stdout.write(format_report(report) + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
        log.info("metrics written to %s", args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

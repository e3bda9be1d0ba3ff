"""Evaluate a bundle on a labelled file: accuracy, macro-F1, per-class scores, confusion matrix.

python -m training.evaluate --bundle model/default --data ../shared/data/nsmc/ratings_test.txt --json out.json
python -m training.evaluate --bundle model/default --data FILE --faithfulness --faithfulness-limit 5000
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from logging import Logger
from pathlib import Path
from typing import TYPE_CHECKING

from model.layout import BundleError, labels_of
from model.registry import RegistryError, check_servable, resolve
from model.tokenizer import TokenizerError, exit_process
from training.data import FILE_TYPES, DataError, LabelledTexts, names_of_labels, read_labelled
from training.metrics import classification_report, format_report
from training.progress import (
    HelpWithDefaults,
    check_output_file,
    cli_logger,
    load_predictor,
    run_until_ctrl_c,
    tokenized_lines,
)

if TYPE_CHECKING:  # TensorFlow is imported only once the arguments and the data file are read
    from model.predictor import Encoded, Predictor


def label_names_for(predictor: Predictor, data: LabelledTexts) -> list[str]:
    """Map the file's labels to the bundle's names; a file may use either the raw values or the names."""
    config = predictor.bundle.config
    return names_of_labels(data, config.label_values or config.labels, config.labels, "the model's")


def evaluate(predictor: Predictor, data: LabelledTexts, encoded: Sequence[Encoded] | None = None) -> dict:
    """The classification report of `data`; pass `encoded` (its `Predictor.preprocess`) to skip tokenizing."""
    true = label_names_for(predictor, data)
    predictions = predictor.predict_encoded(encoded if encoded is not None else predictor.preprocess(data.texts))
    return classification_report(true, [p.label for p in predictions], predictor.labels)


def save_json(path: Path, value: dict, log: Logger) -> bool:
    """Write `value` as JSON; False, with the error logged, when that fails although the start's check passed
    (a full disk, a folder removed meanwhile)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, ensure_ascii=False, indent=2), "utf-8")
    except OSError as error:
        log.error("error: cannot write %s: %s", path, error.strerror or error)
        return False
    log.info("written to %s", path)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training.evaluate", description=__doc__.split("\n")[0], formatter_class=HelpWithDefaults
    )
    parser.add_argument(
        "--bundle", required=True, type=Path, help="bundle directory, or a ROOT of published versions (its current one)"
    )
    parser.add_argument("--data", required=True, type=Path, help=f"labelled file: {FILE_TYPES}")
    parser.add_argument("--text-column", default="document", help="column holding the texts")
    parser.add_argument(
        "--label-column", default="label", help="column holding the labels (raw values or the model's label names)"
    )
    parser.add_argument("--json", type=Path, help="also write the metrics as JSON here")
    parser.add_argument("--workers", type=int, default=2, help="tokenizer threads")
    parser.add_argument(
        "--faithfulness",
        action="store_true",
        help="also test whether attention is a faithful explanation (comprehensiveness and sufficiency of its "
        "top 10/20/50%% tokens, against random and gradient x input rankings)",
    )
    parser.add_argument("--faithfulness-json", type=Path, help="write the faithfulness table as JSON here")
    parser.add_argument(
        "--faithfulness-limit",
        type=int,
        help="measure faithfulness on a seeded random sample of this many texts (default: all of them)",
    )
    args = parser.parse_args(argv)
    if (args.faithfulness_json or args.faithfulness_limit is not None) and not args.faithfulness:
        parser.error("--faithfulness-json and --faithfulness-limit need --faithfulness")
    if args.faithfulness_limit is not None and args.faithfulness_limit < 1:
        parser.error(f"--faithfulness-limit must be at least 1, got {args.faithfulness_limit}")
    log = cli_logger("training")  # its children too: training.data warns of rows it left out
    return run_until_ctrl_c(lambda: run(args, log), log)  # Ctrl-C on a long file or while the model loads


def run(args: argparse.Namespace, log: Logger) -> int:
    """Evaluate as `args` say; the exit status."""
    try:
        for path, option in ((args.json, "--json"), (args.faithfulness_json, "--faithfulness-json")):
            if path is not None:
                check_output_file(path, option)
        data = read_labelled(args.data, args.text_column, args.label_column)
        check_servable(args.bundle)  # a mistyped path answers at once, not after TensorFlow's import
        # labels the model does not know stop the run before the seconds the model takes to load
        names_of_labels(data, *labels_of(resolve(args.bundle)), "the model's")
        log.info("loading bundle %s", args.bundle)
        predictor = load_predictor(args.bundle, args.workers)
        log.info("predicting %s texts", f"{len(data.texts):,}")
        encoded = predictor.preprocess(data.texts, tokenized_lines(len(data.texts), log))
        if empty := [row for row, text in zip(data.data_rows, encoded) if not text.tokens]:
            log.info(
                "%d text(s) have no tokens (empty, first at data row %d): scored as the model answers an empty "
                "text, which the API refuses",
                len(empty),
                empty[0],
            )
        report = evaluate(predictor, data, encoded)
    except (DataError, BundleError, RegistryError, TokenizerError) as error:
        log.error("error: %s", error)
        return 2
    report["bundle_version"] = predictor.version
    report["data"] = data.fingerprint()
    sys.stdout.write(format_report(report) + "\n")
    if args.json and not save_json(args.json, report, log):
        return 1
    if args.faithfulness:
        table = faithfulness_table(args, predictor, data, encoded, log)
        if args.faithfulness_json and not save_json(args.faithfulness_json, table, log):
            return 1
    return 0


def faithfulness_table(
    args: argparse.Namespace, predictor: Predictor, data: LabelledTexts, encoded: Sequence[Encoded], log: Logger
) -> dict:
    """Print how faithful the attention is as an explanation; returns the table."""
    from training.faithfulness import faithfulness, format_faithfulness

    sample = min(args.faithfulness_limit or len(data.texts), len(data.texts))
    log.info("faithfulness: deleting top-ranked tokens from %s texts", f"{sample:,}")
    table = faithfulness(
        predictor,
        encoded,
        limit=args.faithfulness_limit,
        progress=lambda done, total: log.info("faithfulness: %s/%s texts", f"{done:,}", f"{total:,}"),
    )
    table["bundle_version"] = predictor.version
    table["data"] = data.fingerprint()
    sys.stdout.write(format_faithfulness(table) + "\n")
    return table


if __name__ == "__main__":
    exit_process(main())

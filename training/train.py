"""Train a Bi-LSTM + attention classifier on a labelled file and write a bundle.

    python -m training.train --train ../shared/data/nsmc/ratings_train.txt --out runs/nsmc \
        --test ../shared/data/nsmc/ratings_test.txt --label-names negative,positive

With `--publish ROOT` the finished bundle becomes ROOT/versions/<version>/ and ROOT/current points at it
(see model/registry.py); `--out` is then optional.
"""

from __future__ import annotations

import argparse
import math
import shutil
import time
import uuid
from pathlib import Path

from model.layout import BundleError, check_destination
from model.native_log import native_output_logged
from model.registry import VERSIONS, RegistryError, check_root, current_or_none, label_change, publish
from model.tokenizer import TAGGERS, TokenizerError, exit_process
from training.config import LR_SCHEDULES, OKT_DEFAULTS, TrainConfig
from training.data import FILE_TYPES, DataError, read_labelled
from training.progress import HelpWithDefaults, cli_logger, remember_ctrl_c
from training.tokens import DEFAULT_CACHE

# The smallest value of each whole-number option that makes a model (the vocabulary holds padding, the
# unknown form and at least one form).
SMALLEST = {
    "max_len": 1,
    "vocab_size": 3,
    "min_count": 1,
    "embedding_dim": 1,
    "lstm_units": 1,
    "attention_units": 1,
    "epochs": 1,
    "batch_size": 1,
    "patience": 0,
    "adversarial_from_epoch": 1,
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(
        prog="python -m training.train", description=__doc__.split("\n")[0], formatter_class=HelpWithDefaults
    )
    parser.add_argument("--train", required=True, type=Path, help=f"labelled file: {FILE_TYPES}")
    parser.add_argument(
        "--out", type=Path, help="bundle directory to write, replaced only on success (--out or --publish is required)"
    )
    parser.add_argument(
        "--publish", type=Path, metavar="ROOT", help="publish the bundle as ROOT/versions/<version> and make it current"
    )
    parser.add_argument("--test", type=Path, help="labelled file to evaluate the finished model on")
    parser.add_argument("--text-column", default="document", help="column holding the texts")
    parser.add_argument("--label-column", default="label", help="column holding the labels (ints or strings)")
    parser.add_argument(
        "--label-names", help="comma-separated names for the label values in sorted order, e.g. negative,positive"
    )
    parser.add_argument(
        "--tokenizer",
        default=defaults.tokenizer,
        choices=TAGGERS,
        help="okt, komoran, hannanum, kkma, mecab, or kiwi (kiwipiepy: no JVM)",
    )
    parser.add_argument(
        "--norm", action=argparse.BooleanOptionalAction, default=OKT_DEFAULTS["norm"], help="Okt: normalise spelling"
    )
    parser.add_argument(
        "--stem", action=argparse.BooleanOptionalAction, default=OKT_DEFAULTS["stem"], help="Okt: reduce verbs to stems"
    )
    numbers = {  # each option's type is its default's
        "max_len": "tokens the model reads per text; the rest get weight 0",
        "vocab_size": "most token forms in the vocabulary",
        "min_count": "fewest occurrences in the training texts for a form to enter the vocabulary",
        "embedding_dim": "embedding size",
        "lstm_units": "LSTM units per direction",
        "attention_units": "hidden units of additive attention",
        "epochs": "most classifier epochs",
        "batch_size": "texts per training batch",
        "patience": "epochs without a better validation accuracy before stopping early",
        "seed": "seed of the weights, shuffling and (unless --split-seed) the validation split",
        "embedding_dropout": "share of embedding channels dropped in training (spatial dropout)",
        "dropout": "dropout before the output layer",
        "learning_rate": "AdamW's learning rate",
        "weight_decay": "AdamW's weight decay",
        "adversarial_epsilon": "also learn each batch with its embedded tokens pushed this far (per text) where "
        "the loss rises most (adversarial training; 0: off)",
        "adversarial_from_epoch": "first epoch that also learns the adversarial batches (the ones before learn "
        "only the batches as they are, in half the time)",
        "val_fraction": "share of the training file held out for validation and early stopping (0: train on every "
        "row for exactly --epochs epochs, with no validation figures)",
        "max_val_rows": "most rows held out for validation (0: no limit): more rows to train on, but a noisier "
        "choice of epoch (on NSMC, 3,000 rows let one seed in three stop at its second epoch)",
    }
    for name, meaning in numbers.items():
        default = getattr(defaults, name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default, help=meaning)
    parser.add_argument(
        "--language-model-epochs",
        type=int,
        default=defaults.language_model_epochs,
        help="first train the embedding and Bi-LSTM to predict each token's neighbours in the training texts "
        f"for this many epochs (default: {defaults.language_model_epochs}; 0: skip)",
    )
    parser.add_argument(
        "--split-seed",
        type=int,
        help="seed of the train/validation split (default: --seed), so runs with different --seed can share one split",
    )
    parser.add_argument(
        "--teachers",
        nargs="+",
        default=[],
        metavar="BUNDLE",
        help="distil: learn each training text's class probabilities averaged over these trained bundles, mixed "
        "with its label by --teacher-weight (teachers must share this run's training file and, unless "
        "--val-fraction 0, its validation split)",
    )
    parser.add_argument(
        "--teacher-weight",
        type=float,
        help=f"with --teachers: the teachers' share of each target, 0-1 (default: {defaults.teacher_weight})",
    )
    parser.add_argument(
        "--pretrain-embeddings",
        action=argparse.BooleanOptionalAction,
        default=defaults.pretrain_embeddings,
        help="start the embedding from word2vec vectors trained on the training texts",
    )
    parser.add_argument(
        "--attention", choices=("additive", "dot"), default=defaults.attention, help="how attention scores tokens"
    )
    parser.add_argument(
        "--lr-schedule", choices=LR_SCHEDULES, default=defaults.lr_schedule, help="learning rate over the epochs"
    )
    parser.add_argument(
        "--quantize-embeddings",
        action=argparse.BooleanOptionalAction,
        default=defaults.quantize_embeddings,
        help="store the embedding table as int8 with a scale per row (4x smaller bundle)",
    )
    parser.add_argument("--workers", type=int, default=2, help="tokenizer processes for large files, one JVM each")
    parser.add_argument(
        "--cache-dir", type=Path, default=DEFAULT_CACHE, help="where tokenized data and pre-trained encoders are cached"
    )
    parser.add_argument("--no-cache", action="store_true", help="tokenize and pre-train again, and cache nothing")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors")
    args = parser.parse_args(argv)
    if args.out is None and args.publish is None:
        parser.error("one of --out or --publish is required")
    return args


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    options = {"norm": args.norm, "stem": args.stem} if args.tokenizer == "okt" else {}
    if args.teacher_weight is not None and not args.teachers:
        raise DataError("--teacher-weight needs --teachers")
    fields = {k: getattr(args, k) for k in TrainConfig.__dataclass_fields__ if k not in ("tokenizer_options",)}
    if args.teacher_weight is None:
        fields["teacher_weight"] = TrainConfig.teacher_weight
    config = TrainConfig(**{**fields, "tokenizer_options": options})
    for name, value in fields.items():  # "nan" and "inf" parse as floats, and no range check below catches both
        if isinstance(value, float) and not math.isfinite(value):
            raise DataError(f"--{name.replace('_', '-')} must be a finite number, got {value}")
    if not 0.0 <= config.val_fraction < 0.5:
        raise DataError(f"--val-fraction must be at least 0 and below 0.5, got {config.val_fraction}")
    if config.max_val_rows < 0:
        raise DataError(f"--max-val-rows must be 0 (no limit) or more, got {config.max_val_rows}")
    if not config.val_fraction and (config.max_val_rows or args.split_seed is not None):
        raise DataError(
            "--max-val-rows and --split-seed limit or place the validation split; --val-fraction 0 has none"
        )
    if not 0.0 <= config.teacher_weight <= 1.0:
        raise DataError(f"--teacher-weight must be between 0 and 1, got {config.teacher_weight}")
    if config.adversarial_epsilon < 0:
        raise DataError(f"--adversarial-epsilon must be 0 or more, got {config.adversarial_epsilon}")
    if config.language_model_epochs < 0:
        raise DataError(f"--language-model-epochs must be 0 or more, got {config.language_model_epochs}")
    for option, least in SMALLEST.items():
        if getattr(config, option) < least:
            raise DataError(f"--{option.replace('_', '-')} must be at least {least}, got {getattr(config, option)}")
    for option in ("dropout", "embedding_dropout"):
        if not 0.0 <= getattr(config, option) < 1.0:
            raise DataError(
                f"--{option.replace('_', '-')} must be at least 0 and below 1, got {getattr(config, option)}"
            )
    if config.learning_rate <= 0:
        raise DataError(f"--learning-rate must be above 0, got {config.learning_rate}")
    if config.weight_decay < 0:
        raise DataError(f"--weight-decay must be 0 or more, got {config.weight_decay}")
    if args.workers < 1:
        raise DataError(f"--workers must be at least 1, got {args.workers}")
    return config


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    remember_ctrl_c()
    log = cli_logger("training", args.quiet)
    # Without --out the bundle is written beside the published versions (hidden name), then renamed into place.
    out = args.out or args.publish / VERSIONS / f".incoming-{uuid.uuid4().hex[:8]}"
    try:
        config = config_from_args(args)
        if args.publish is not None:
            check_root(args.publish)
        if args.out is not None:  # again when the bundle is written; here, before the data and TensorFlow load
            check_destination(args.out, make_parent=False)
        log.info("reading %s", args.train)
        train_data = read_labelled(args.train, args.text_column, args.label_column)
        test_data = read_labelled(args.test, args.text_column, args.label_column) if args.test else None
        # Imported only now, so that --help, a bad option or a bad data file answers at once, not after
        # the seconds TensorFlow takes to load; importing it prints C++ log lines to fd 2, logged instead.
        with native_output_logged():
            from training.pipeline import train
        started = time.perf_counter()
        train(
            train_data,
            out,
            config,
            test_data,
            names=args.label_names,
            cache_dir=None if args.no_cache else args.cache_dir,
            workers=args.workers,
            quiet=args.quiet,
        )
        took = time.perf_counter() - started
        if args.out is not None:
            log.info("bundle written to %s in %.0f s", args.out, took)
        if args.publish is not None:
            previous = current_or_none(args.publish)
            version = publish(out, args.publish, move=args.out is None)
            log.info(
                "published version %s (trained in %.0f s); %s now points at it", version, took, args.publish / "current"
            )
            if warning := label_change(args.publish, previous, version):
                log.warning("warning: %s", warning)
    except (DataError, TokenizerError, RegistryError, BundleError) as error:
        log.error("error: %s", error)
        return 2
    except OSError as error:
        log.error("error: could not write the bundle: %s", error)
        return 1
    except KeyboardInterrupt:
        log.error("interrupted: nothing was written to %s", args.publish or args.out)
        return 130
    finally:
        if args.out is None and out.exists():  # written but not published: no trace of it stays in ROOT
            shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    exit_process(main())

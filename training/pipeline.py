"""The training pipeline behind `python -m training.train`: tokens, vocabulary, word2vec start,
language-model pre-training, the classifier's fit, evaluation and the bundle."""

from __future__ import annotations

import bisect
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, redirect_stdout
from dataclasses import asdict
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from model.bundle import Bundle, BundleConfig, check_destination, write_bundle
from model.native_log import native_output_logged
from model.network import NetworkConfig, build_network
from model.predictor import Predictor, length_buckets
from model.tokenizer import MorphTokenizer, Token
from model.vocab import PAD_ID, UNK_ID, Vocabulary
from training.adversarial import AdversarialClassifier, AdversarialSchedule
from training.config import LR_SCHEDULES, TrainConfig
from training.data import (
    DataError,
    LabelledTexts,
    held_out_fraction,
    labels_differing_only_in_case,
    names_of_labels,
    sorted_label_values,
    split_seed,
)
from training.distill import load_teachers, teacher_probabilities
from training.embeddings import word2vec_matrix
from training.language_model import cache_key, pretrain_encoder, read_pretrained, write_pretrained
from training.metrics import classification_report, format_report
from training.progress import cli_logger, ctrl_c_held_back, stop_if_ctrl_c
from training.reports import plot_confusion_matrix, plot_learning_curve
from training.tokens import DEFAULT_CACHE, tokenize_cached

BATCHES_PER_POOL = 32  # texts are sorted by length within pools of this many batches
FEW_ROWS_PER_CLASS = 10  # a class with fewer rows gets a warning: with 10% held out, one row validates it at most


def bucketed_arrays(
    ids: list[list[int]], labels: np.ndarray, batch_size: int, max_len: int, seed: int | None
) -> Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]:
    """A function whose every call yields one pass of `(token_ids, labels)` batches of similar-length
    texts, each padded only to its length bucket.

    `labels` are class indices (n,) or target distributions (n, classes).

    Texts are shuffled (when `seed` is given), sorted by length within pools of BATCHES_PER_POOL
    batches, cut into batches, and the batches shuffled again; every pass reshuffles.
    """
    buckets = length_buckets(max_len)
    rng = np.random.default_rng(seed) if seed is not None else None
    pool = batch_size * BATCHES_PER_POOL

    def batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        order = np.arange(len(ids))
        if rng is not None:
            rng.shuffle(order)
        groups = []
        for start in range(0, len(order), pool):
            part = sorted(order[start : start + pool], key=lambda i: len(ids[i]))
            groups += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
        if rng is not None:
            rng.shuffle(groups)
        for rows in groups:
            length = buckets[bisect.bisect_left(buckets, max(len(ids[i]) for i in rows))]
            padded = np.full((len(rows), length), PAD_ID, dtype=np.int32)
            for r, i in enumerate(rows):
                padded[r, : len(ids[i])] = ids[i]
            yield padded, labels[rows]

    return batches


def bucketed_batches(
    ids: list[list[int]], labels: np.ndarray, batch_size: int, max_len: int, seed: int | None
) -> tf.data.Dataset:
    """`bucketed_arrays`' batches as a dataset for `fit`: every pass over it reshuffles. The signature
    leaves the length free, so buckets of any size reach the same traced step."""
    signature = (tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None, *labels.shape[1:]), labels.dtype))
    batches = bucketed_arrays(ids, labels, batch_size, max_len, seed)
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    count = -(-len(ids) // batch_size)  # pools hold whole batches, so at most one batch is short
    return dataset.apply(tf.data.experimental.assert_cardinality(count)).prefetch(2)


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) with `fraction` of every class held out."""
    rng = np.random.default_rng(seed)
    train, held = [], []
    for value in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == value))
        cut = int(round(len(members) * fraction))
        held.append(members[:cut])
        train.append(members[cut:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(held))


def language_model_cache(
    cache_dir: Path | None, vocab: Vocabulary, train_ids: list[list[int]], config: TrainConfig
) -> Path | None:
    """Where this run's pre-trained encoder is cached; None without a cache or without pre-training. The key
    holds what pre-training reads: the vocabulary, the token ids, the sizes, epochs and seed, and whether
    word2vec starts it. A cached encoder is one such pre-training, not bit-for-bit the one this run would
    make: word2vec's threads and the random draws of the layers made before pre-training vary."""
    if cache_dir is None or not config.language_model_epochs:
        return None
    settings = {
        name: getattr(config, name)
        for name in ("embedding_dim", "lstm_units", "max_len", "batch_size", "language_model_epochs", "seed")
    }
    settings["pretrain_embeddings"] = config.pretrain_embeddings
    return cache_dir / "language_models" / f"{cache_key(vocab.tokens, train_ids, settings)}.npz"


def label_names(values: list[str], names: str | None) -> list[str]:
    if not names:
        return values
    given = [name.strip() for name in names.split(",")]
    if len(given) != len(values) or len(set(given)) != len(given) or not all(given):
        raise DataError(f"--label-names needs {len(values)} distinct names for the values {values}, got {given}")
    return given


def evaluate_tokens(predictor: Predictor, tokens: list[list[Token]], true_labels: list[str]) -> tuple[dict, list[str]]:
    predictions = predictor.predict_encoded([predictor.encode(row) for row in tokens])
    predicted = [p.label for p in predictions]
    return classification_report(true_labels, predicted, predictor.labels), predicted


def learning_rate(config: TrainConfig, steps_per_epoch: int) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """Constant, or cosine decay from `learning_rate` to 5% of it over all `epochs` (so early stopping
    keeps whichever epoch of the decay scored best)."""
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, steps_per_epoch * config.epochs, alpha=0.05)
    raise DataError(f"--lr-schedule must be one of {LR_SCHEDULES}, got {config.lr_schedule!r}")


class StopOnCtrlC(keras.callbacks.Callback):
    """After every batch, Ctrl-C's KeyboardInterrupt again if it was pressed (`stop_if_ctrl_c`)."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        stop_if_ctrl_c()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        stop_if_ctrl_c()


class FirstStepNativeOutputLogged(keras.callbacks.Callback):
    """Log, rather than print, what TensorFlow writes to fd 2 while it runs the first training step.

    The first call of the masked LSTM prints a oneDNN notice (no AVX-512 here) that reads like an error.
    The capture lives on `capture`, which the caller closes in any case, so a step that raises does not
    leave fd 2 captured (and its traceback unseen).
    """

    def __init__(self, capture: ExitStack):
        super().__init__()
        self.capture = capture

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.capture.enter_context(native_output_logged())

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.capture.close()


def train(
    train_data: LabelledTexts,
    out: Path,
    config: TrainConfig,
    test_data: LabelledTexts | None = None,
    names: str | None = None,
    cache_dir: Path | None = DEFAULT_CACHE,
    workers: int = 2,
    quiet: bool = False,
) -> dict:
    """Run the whole pipeline and write the bundle at `out`; returns the metrics written.

    The caller says where the bundle went: `training.train --publish` writes it under a staging name first.
    """
    log = cli_logger("training", quiet)
    interactive = not quiet and sys.stderr.isatty()  # progress bars only on a terminal
    check_destination(Path(out), make_parent=False)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    keras.utils.set_random_seed(config.seed)
    values = sorted_label_values(train_data.labels)
    if len(values) < 2:
        raise DataError(f"{train_data.path}: needs at least 2 classes, found only {values}")
    labels = label_names(values, names)
    to_name = dict(zip(values, labels))
    test_labels = names_of_labels(test_data, values, labels, "the training data's") if test_data is not None else None
    classes = ", ".join(value if value == name else f"{value} → {name}" for value, name in zip(values, labels))
    log.info("data: %s training rows, %d classes: %s", f"{len(train_data.texts):,}", len(labels), classes)
    for spellings in labels_differing_only_in_case(values):
        log.warning(
            "warning: the labels %s differ only in case and are %d separate classes; if they mean the same, "
            "spell them the same way in %s",
            ", ".join(spellings), len(spellings), train_data.path,
        )  # fmt: skip
    teachers = load_teachers([Path(t) for t in config.teachers], train_data, labels, asdict(config))

    tokenizer = MorphTokenizer(config.tokenizer, config.tokenizer_options, workers=workers)
    stage = time.perf_counter()
    tokens = tokenize_cached(train_data.texts, tokenizer, cache_dir, log, "training data")
    test_tokens = (
        tokenize_cached(test_data.texts, tokenizer, cache_dir, log, "test data") if test_data is not None else None
    )
    timings["tokenize_s"] = time.perf_counter() - stage

    y = np.array([labels.index(to_name[v]) for v in train_data.labels], dtype=np.int32)
    held_out = held_out_fraction(asdict(config), len(y))
    train_rows, val_rows = stratified_split(y, held_out, split_seed(asdict(config)))
    validating = len(val_rows) > 0  # --val-fraction 0: every row trains, for exactly --epochs epochs
    if held_out and not validating:
        limited = held_out < config.val_fraction
        raise DataError(
            f"{train_data.path}: {len(y)} rows are too few to hold out {100 * held_out:.3g}% of every class for "
            + (f"validation (at most {config.max_val_rows} rows, --max-val-rows); " if limited else "validation; ")
            + "give more rows, a larger --val-fraction"
            + (" or a larger --max-val-rows" if limited else "")
        )
    empty = [i for i in train_rows if not tokens[i]]
    if empty:  # nothing to read, so nothing to learn from
        log.info(
            "left out %d training row(s) with no tokens (empty text), first at data row %d",
            len(empty),
            train_data.data_rows[empty[0]],
        )
        train_rows = np.array([i for i in train_rows if tokens[i]])
    vocab = Vocabulary.build(
        ([t.form for t in tokens[i]] for i in train_rows), min_count=config.min_count, max_size=config.vocab_size
    )
    if validating:
        log.info(
            "split: %s train / %s validation rows; vocabulary %s tokens",
            f"{len(train_rows):,}",
            f"{len(val_rows):,}",
            f"{len(vocab):,}",
        )
    else:
        log.info(
            "split: %s rows train, none held out (--val-fraction 0): every one of the %d epoch(s) runs and "
            "the last is kept; vocabulary %s tokens", f"{len(train_rows):,}", config.epochs, f"{len(vocab):,}",
        )  # fmt: skip
    seen = {train_data.texts[i] for i in train_rows}
    if repeated := sum(train_data.texts[i] in seen for i in val_rows):  # early stopping sees them as learned
        log.info("  %s validation text(s) also occur among the training rows (duplicates in the file)", f"{repeated:,}")
    held_per_class = np.bincount(y[val_rows], minlength=len(labels))
    for name, count, held in zip(labels, np.bincount(y, minlength=len(labels)), held_per_class):
        if count < FEW_ROWS_PER_CLASS:
            log.warning("warning: class %r has only %d row(s): too few to learn it or to measure it", name, count)
        elif validating and not held:  # a small class in a large file, once --max-val-rows limits the hold-out
            log.warning(
                "warning: none of class %r's %d rows is held out for validation (%.3g%% of each class is): its "
                "validation figures are missing and early stopping does not see it; a larger --max-val-rows "
                "holds out some", name, count, 100 * held_out,
            )  # fmt: skip

    def ids_of(rows: np.ndarray) -> list[list[int]]:
        return [vocab.lookup(t.form for t in tokens[i][: config.max_len]) or [UNK_ID] for i in rows]

    network = NetworkConfig(
        vocab_size=len(vocab),
        num_classes=len(labels),
        embedding_dim=config.embedding_dim,
        lstm_units=config.lstm_units,
        attention=config.attention,
        attention_units=config.attention_units,
        embedding_dropout=config.embedding_dropout,
        dropout=config.dropout,
    )
    train_ids = ids_of(train_rows)
    views = build_network(network)
    explainer = views.explainer
    embedding = explainer.get_layer("embedding")
    stage = time.perf_counter()
    cached = language_model_cache(cache_dir, vocab, train_ids, config)
    language_model_loss = (
        read_pretrained(cached, explainer, config.language_model_epochs, log) if cached is not None else None
    )
    language_model_from_cache = language_model_loss is not None
    if language_model_from_cache:
        timings["language_model_s"] = time.perf_counter() - stage
        log.info(
            "language model: %d epochs pre-trained by an earlier run on the same texts, read from cache %s",
            config.language_model_epochs, cached,
        )  # fmt: skip
    else:
        language_model_loss = []
        if config.pretrain_embeddings:
            stage = time.perf_counter()
            documents = [[t.form for t in tokens[i]] for i in train_rows]
            matrix = word2vec_matrix(documents, vocab, config.embedding_dim, config.seed, workers, logger=log)
            embedding.set_weights([matrix])
            timings["word2vec_s"] = time.perf_counter() - stage
        if config.language_model_epochs:
            stage = time.perf_counter()
            log.info("language model: up to %d epoch(s) over the training texts", config.language_model_epochs)
            unlabelled = np.zeros(len(train_rows))
            texts = bucketed_arrays(train_ids, unlabelled, config.batch_size, config.max_len, config.seed)
            # Keras prints its progress to stdout; every other progress line is on stderr
            with redirect_stdout(sys.stderr):
                language_model_loss = pretrain_encoder(
                    explainer, texts, config.language_model_epochs, logger=log, verbose=interactive
                )
            timings["language_model_s"] = time.perf_counter() - stage
            if cached is not None:
                write_pretrained(cached, explainer, language_model_loss, log)
    targets, val_targets = y[train_rows], y[val_rows]
    loss = "sparse_categorical_crossentropy"
    if teachers:
        stage = time.perf_counter()
        soft = teacher_probabilities(teachers, train_data, train_rows, labels, cache_dir, workers, log)
        one_hot = np.eye(len(labels), dtype=np.float32)
        targets = ((1 - config.teacher_weight) * one_hot[targets] + config.teacher_weight * soft).astype(np.float32)
        val_targets, loss = one_hot[val_targets], "categorical_crossentropy"
        timings["teachers_s"] = time.perf_counter() - stage
    fit_data = bucketed_batches(train_ids, targets, config.batch_size, config.max_len, config.seed)
    adversarial = bool(config.adversarial_epsilon) and config.adversarial_from_epoch <= config.epochs
    if adversarial:
        classifier = AdversarialClassifier(views, config.adversarial_epsilon, config.adversarial_from_epoch)
        schedule = [AdversarialSchedule()]
    else:
        classifier, schedule = views.classifier, []
    classifier.compile(
        optimizer=keras.optimizers.AdamW(learning_rate(config, len(fit_data)), weight_decay=config.weight_decay),
        loss=loss,
        metrics=["accuracy"],
        jit_compile=False,
    )
    val_data, stoppers = None, []
    if validating:
        val_data = bucketed_batches(ids_of(val_rows), val_targets, config.batch_size * 2, config.max_len, None)
        stoppers.append(
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", patience=config.patience, restore_best_weights=True,
                verbose=int(not quiet),
            )
        )  # fmt: skip
    perturbing = (
        f", adversarial (epsilon {config.adversarial_epsilon:g}) from epoch {config.adversarial_from_epoch}"
        if adversarial
        else ""
    )
    log.info(
        "fit: %s%d epoch(s), %s batches per epoch%s",
        "up to " if validating else "", config.epochs, f"{len(fit_data):,}", perturbing,
    )  # fmt: skip
    if config.adversarial_epsilon and not adversarial:
        log.info(
            "  no adversarial training: it would start at epoch %d (--adversarial-from-epoch), after the last",
            config.adversarial_from_epoch,
        )
    stage = time.perf_counter()
    with ExitStack() as first_step, redirect_stdout(sys.stderr):
        history = classifier.fit(
            fit_data,
            validation_data=val_data,
            epochs=config.epochs,
            callbacks=[FirstStepNativeOutputLogged(first_step), *stoppers, StopOnCtrlC(), *schedule],
            shuffle=False,  # bucketed_batches shuffles itself
            verbose=1 if interactive else 0 if quiet else 2,
        ).history
    timings["fit_s"] = time.perf_counter() - stage
    timings["epochs_run"] = len(history["loss"])
    timings["fit_s_per_epoch"] = timings["fit_s"] / timings["epochs_run"]
    if config.quantize_embeddings:
        # int8 rows with a per-row scale: the embedding is most of the bundle, and this makes it 4x smaller.
        # The figures below are measured on the quantized network, the one that ships.
        embedding.quantize("int8")

    bundle_config = BundleConfig(
        labels=labels,
        tokenizer=tokenizer.config(),
        max_len=config.max_len,
        network=network.to_dict(),
        label_values=values,
    )
    stage = time.perf_counter()
    unsaved = Bundle(out, explainer, vocab, bundle_config, {}, {"version": "unsaved"})
    with ctrl_c_held_back():  # starts the JVM when the tokens came from the cache, and traces the network
        predictor = Predictor(unsaved, tokenizer_workers=workers)
    metrics: dict = {}
    if validating:
        validation, _ = evaluate_tokens(predictor, [tokens[i] for i in val_rows], [labels[k] for k in y[val_rows]])
        log.info("validation: accuracy %.4f, macro-F1 %.4f", validation["accuracy"], validation["macro_f1"])
        metrics["validation"] = validation
    if test_data is not None and test_tokens is not None:
        metrics["test"], _ = evaluate_tokens(predictor, test_tokens, test_labels)
        log.info("test (%s):\n%s", test_data.path.name, format_report(metrics["test"]))
    timings["evaluate_s"] = time.perf_counter() - stage
    timings["total_s"] = time.perf_counter() - started
    metrics.update(
        history={k: [float(x) for x in v] for k, v in history.items()},
        language_model_loss=language_model_loss,
        language_model_from_cache=language_model_from_cache,
        # the epoch whose weights the bundle holds: early stopping restores the best, without validation the last
        best_epoch=int(np.argmax(history["val_accuracy"])) + 1 if validating else timings["epochs_run"],
        train_rows=int(len(train_rows)),
        validation_rows=int(len(val_rows)),
        train_config=asdict(config),
        timings=timings,
    )
    fingerprint = {"train": train_data.fingerprint()}
    if test_data is not None:
        fingerprint["test"] = test_data.fingerprint()
    with tempfile.TemporaryDirectory() as scratch:
        pictures = {
            "learning_curve.png": plot_learning_curve(
                metrics["history"], Path(scratch) / "learning_curve.png", distilled=bool(teachers)
            )
        }
        if evaluated := next((split for split in ("test", "validation") if split in metrics), None):
            pictures["confusion_matrix.png"] = plot_confusion_matrix(
                metrics[evaluated], Path(scratch) / "confusion_matrix.png", evaluated
            )
        stop_if_ctrl_c()  # the last moment a Ctrl-C can still leave everything as it was
        write_bundle(out, explainer, vocab, bundle_config, metrics, fingerprint, pictures)
    return metrics

"""The training and evaluation CLIs end to end on the repo's fixtures, their data errors, and kills."""

from __future__ import annotations

import errno
import importlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from model.bundle import Bundle
from tests.conftest import FIXTURES, ROOT, stop_cli_midway

GLOG_LINE = re.compile(r"^[IWEF]\d{4} ")
SMALL = ["--epochs", "1", "--vocab-size", "2000", "--embedding-dim", "16", "--lstm-units", "16"]


def run_cli(
    module: str, *args: str, cache: Path, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def assert_no_native_lines(stderr: str) -> None:
    """TensorFlow's C++ lines (import, first masked-LSTM call) are logged by the CLIs, not printed."""
    native = [line for line in stderr.splitlines() if GLOG_LINE.match(line) or "absl::InitializeLog" in line]
    assert native == []


def test_train_then_evaluate_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "runs" / "bundle"  # a folder made when the bundle is written
    test = pd.read_csv(FIXTURES / "nsmc_test_1k.tsv", sep="\t", keep_default_na=False, dtype=str)
    names = {"0": "negative", "1": "positive"}
    test["label"] = [names[label] if i % 2 else label for i, label in enumerate(test["label"])]
    test.to_csv(tmp_path / "test-with-names.tsv", sep="\t", index=False)  # raw values and names, as evaluate takes
    trained = run_cli(
        "training.train",
        "--train", str(FIXTURES / "nsmc_train_3k.tsv"),
        "--test", str(tmp_path / "test-with-names.tsv"),
        "--out", str(out),
        "--label-names", "negative,positive",
        *SMALL,
        "--adversarial-from-epoch", "1",
        "--max-val-rows", "200",
        cache=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    stages = ("tokenize training data: 3,000 texts", " train / 200 validation rows", "language model epoch 8/8",
              "fit: up to 1 epoch(s), 22 batches per epoch, adversarial (epsilon 1) from epoch 1")  # fmt: skip
    for stage in (*stages, "bundle written", "2 classes: 0 → negative, 1 → positive"):
        assert stage in trained.stderr
    assert_no_native_lines(trained.stderr)
    assert "val_accuracy" in trained.stderr and trained.stdout == ""  # Keras' epoch lines join the other progress
    assert (out / "learning_curve.png").stat().st_size > 1000
    assert (out / "confusion_matrix.png").stat().st_size > 1000
    trained_test = Bundle.load(out).metrics["test"]

    report_path = tmp_path / "reports" / "eval.json"  # a folder made when the report is written
    evaluated = run_cli(
        "training.evaluate", "--bundle", str(out), "--data", str(FIXTURES / "nsmc_test_1k.tsv"),
        "--json", str(report_path), cache=tmp_path,
    )  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    assert "tokenized 1,000 / 1,000" in evaluated.stderr  # progress while the texts are tokenized
    report = json.loads(report_path.read_text("utf-8"))
    assert set(report) >= {"accuracy", "macro_f1", "n", "per_class", "confusion_matrix", "labels"}
    assert report["n"] == 1000 and report["labels"] == ["negative", "positive"]
    assert sum(map(sum, report["confusion_matrix"])) == 1000
    assert report["confusion_matrix"] == trained_test["confusion_matrix"]  # the same labels, read the same way
    assert "accuracy" in evaluated.stdout and "confusion matrix" in evaluated.stdout
    assert_no_native_lines(evaluated.stderr)
    # The evaluator reads back exactly what training measured on the same test file.
    assert report["accuracy"] == pytest.approx(Bundle.load(out).metrics["test"]["accuracy"], abs=1e-9)

    again = run_cli(
        "training.train", "--train", str(FIXTURES / "nsmc_train_3k.tsv"), "--out", str(tmp_path / "b2"), *SMALL,
        "--max-val-rows", "200", "--no-quantize-embeddings", cache=tmp_path,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "tokenize training data: 3,000 texts read from cache" in again.stderr
    # Only how the classifier learns changed, so the pre-trained encoder comes from the cache too.
    assert "language model: 8 epochs pre-trained by an earlier run on the same texts, read from cache" in again.stderr
    assert "language model epoch" not in again.stderr and "word2vec" not in again.stderr
    assert "no adversarial training: it would start at epoch 3 (--adversarial-from-epoch)" in again.stderr
    # The embedding ships as int8 unless asked not to: 1 byte per value instead of 4, and here (2,000 x 16
    # embedding, 16-unit LSTM) the embedding is most of the model file.
    quantized, full = Bundle.load(out).model, Bundle.load(tmp_path / "b2").model
    assert quantized.get_layer("embedding").dtype_policy.name == "int8_from_float32"
    assert full.get_layer("embedding").dtype_policy.name == "float32"
    assert (tmp_path / "b2" / "model.keras").stat().st_size > 1.5 * (out / "model.keras").stat().st_size


def test_string_labels_three_classes_from_jsonl_and_csv(tmp_path: Path) -> None:
    frame = pd.read_csv(FIXTURES / "sentiment3_train_1500.tsv", sep="\t", keep_default_na=False, dtype=str)
    empty = pd.DataFrame({"document": [""] * 30, "label": ["neutral"] * 30})  # nothing to learn from
    frame = pd.concat([frame, empty], ignore_index=True)
    frame[["document", "label"]].rename(columns={"document": "review", "label": "y"}).to_json(
        tmp_path / "train.jsonl", orient="records", lines=True, force_ascii=False
    )
    test = pd.read_csv(FIXTURES / "sentiment3_test_300.tsv", sep="\t", keep_default_na=False, dtype=str)
    test.rename(columns={"document": "review", "label": "y"}).to_csv(tmp_path / "test.csv", index=False)
    out = tmp_path / "bundle"
    result = run_cli(
        "training.train", "--train", str(tmp_path / "train.jsonl"), "--test", str(tmp_path / "test.csv"),
        "--out", str(out), "--text-column", "review", "--label-column", "y", *SMALL, cache=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    bundle = Bundle.load(out)
    left_out = int(re.search(r"left out (\d+) training row\(s\) with no tokens", result.stderr).group(1))
    assert 0 < left_out <= 30
    assert bundle.metrics["train_rows"] + left_out + bundle.metrics["validation_rows"] == len(frame)
    assert bundle.config.labels == ["negative", "neutral", "positive"]
    assert bundle.metrics["test"]["n"] == 300
    assert len(bundle.metrics["test"]["confusion_matrix"]) == 3


def write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


@pytest.mark.parametrize(
    ("name", "content", "extra", "message"),
    [
        ("missing.tsv", None, [], "no such file"),
        ("empty.tsv", "", [], "the file is empty"),
        ("header_only.tsv", "id\tdocument\tlabel\n", [], "has no data rows"),
        (
            "no_text.tsv",
            "id\ttext\tlabel\n1\t좋다\t1\n",
            [],
            "no text column 'document' (columns found: 'id', 'text', 'label')",
        ),
        ("no_label.tsv", "id\tdocument\tstars\n1\t좋다\t1\n", [], "no label column 'label'"),
        ("one_class.tsv", "id\tdocument\tlabel\n1\t좋다\t1\n2\t최고\t1\n", [], "needs at least 2 classes"),
        ("numbers.jsonl", '{"document": "좋다", "label": 1}\n{"document": 42, "label": 0}\n', [], "non-text value"),
        ("no_label_value.tsv", "id\tdocument\tlabel\n1\t좋다\t1\n2\t싫다\t\n", [], "missing or invalid label"),
        ("data.xlsx", "x", [], "unknown file type"),
        ("ok.tsv", "id\tdocument\tlabel\n1\t좋다\t1\n2\t싫다\t0\n", ["--label-names", "bad"], "--label-names needs 2"),
        ("ok2.tsv", "id\tdocument\tlabel\n1\t좋다\t1\n2\t싫다\t0\n", ["--tokenizer", "jieba"], "choice: 'jieba'"),
        (
            "ok3.tsv",
            "id\tdocument\tlabel\n1\t좋다\t1\n2\t싫다\t0\n",
            ["--language-model-epochs", "-1"],
            "--language-model-epochs must be 0 or more, got -1",
        ),
        ("ok4.tsv", "id\tdocument\tlabel\n1\t좋다\t1\n2\t싫다\t0\n", ["--epochs", "0"], "--epochs must be at least 1"),
        (
            "ok5.tsv",
            "id\tdocument\tlabel\n1\t좋다\t1\n2\t싫다\t0\n",
            ["--adversarial-epsilon", "-1"],
            "--adversarial-epsilon must be 0 or more, got -1.0",
        ),
        (
            "ok6.tsv",
            "id\tdocument\tlabel\n1\t좋다\t1\n2\t싫다\t0\n",
            ["--adversarial-epsilon", "nan"],
            "--adversarial-epsilon must be a finite number, got nan",
        ),
        (
            "ok7.tsv",
            "id\tdocument\tlabel\n1\t좋다\t1\n2\t싫다\t0\n",
            ["--learning-rate", "inf"],
            "--learning-rate must be a finite number, got inf",
        ),
        (
            "ok9.tsv",
            "id\tdocument\tlabel\n1\t좋다\t1\n2\t싫다\t0\n",
            ["--dropout", "1.5"],
            "--dropout must be at least 0 and below 1, got 1.5",
        ),
        (
            "ok8.tsv",
            "id\tdocument\tlabel\n1\t좋다\t1\n2\t싫다\t0\n",
            ["--max-val-rows", "-1"],
            "--max-val-rows must be 0 (no limit) or more, got -1",
        ),
        (
            "few2.tsv",
            "id\tdocument\tlabel\n" + "".join(f"{i}\t좋다 {i}\t{i % 2}\n" for i in range(40)),
            ["--max-val-rows", "1"],
            "40 rows are too few to hold out 2.5% of every class for validation (at most 1 rows, --max-val-rows); "
            "give more rows, a larger --val-fraction or a larger --max-val-rows",
        ),
        (
            "few.tsv",
            "id\tdocument\tlabel\n1\t좋다\t1\n2\t싫다\t0\n3\t최고\t1\n4\t최악\t0\n",
            [],
            "4 rows are too few to hold out 10% of every class for validation",
        ),
    ],
)
def test_bad_training_data_stops_with_a_clear_message(
    tmp_path: Path, name: str, content: str | None, extra: list[str], message: str
) -> None:
    path = tmp_path / name if content is None else write(tmp_path / name, content)
    out = tmp_path / "bundle"
    result = run_cli("training.train", "--train", str(path), "--out", str(out), *extra, cache=tmp_path, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--val-fraction", "-0.1"], "--val-fraction must be at least 0 and below 0.5, got -0.1"),
        (["--val-fraction", "0.5"], "--val-fraction must be at least 0 and below 0.5, got 0.5"),
        (
            ["--val-fraction", "0", "--max-val-rows", "3000"],
            "--max-val-rows and --split-seed limit or place the validation split; --val-fraction 0 has none",
        ),
        (
            ["--val-fraction", "0", "--split-seed", "7"],
            "--max-val-rows and --split-seed limit or place the validation split; --val-fraction 0 has none",
        ),
        (["--vocab-size", "2"], "--vocab-size must be at least 3, got 2"),
        (["--embedding-dim", "0"], "--embedding-dim must be at least 1, got 0"),
        (["--lstm-units", "0"], "--lstm-units must be at least 1, got 0"),
        (["--min-count", "0"], "--min-count must be at least 1, got 0"),
        (["--patience", "-1"], "--patience must be at least 0, got -1"),
        (["--embedding-dropout", "-0.1"], "--embedding-dropout must be at least 0 and below 1, got -0.1"),
        (["--dropout", "1"], "--dropout must be at least 0 and below 1, got 1.0"),
        (["--learning-rate", "-1"], "--learning-rate must be above 0, got -1.0"),
        (["--weight-decay", "-0.5"], "--weight-decay must be 0 or more, got -0.5"),
        (["--workers", "0"], "--workers must be at least 1, got 0"),
    ],
)
def test_an_option_out_of_its_range_is_refused_before_any_work(extra: list[str], message: str) -> None:
    """Checked with the others before the data is read: a --dropout of 1.5 used to fail with a traceback after
    tokenizing, and a negative learning rate trained a bundle."""
    from training.data import DataError
    from training.train import config_from_args, parse_args

    with pytest.raises(DataError) as refused:
        config_from_args(parse_args(["--train", "x.tsv", "--out", "y", *extra]))
    assert str(refused.value) == message


def test_a_mistyped_bundle_or_out_is_refused_before_tensorflow_is_imported(tmp_path: Path) -> None:
    """A wrong --bundle used to answer after TensorFlow's 4-9 s import, and so did an --out that is a file."""
    a_file = write(tmp_path / "a-file", "")
    data = str(FIXTURES / "nsmc_test_1k.tsv")
    calls = {
        "training.evaluate": (["--bundle", str(tmp_path / "nowhere"), "--data", data], "nowhere: no such directory"),
        "training.explain": (["--bundle", str(tmp_path / "nowhere"), "영화"], "nowhere: no such directory"),
        "training.train": (["--train", data, "--out", str(a_file)], "a-file: is a file; give a directory"),
    }
    for module, (args, message) in calls.items():
        probe = f"import sys, {module} as cli\ncode = cli.main({args!r})\nprint(code, 'tensorflow' in sys.modules)"
        ran = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert ran.stdout.split() == ["2", "False"], (module, ran.stdout, ran.stderr[-1500:])
        assert message in ran.stderr, (module, ran.stderr[-1500:])
    root = tmp_path / "new-root"  # only --out is checked early: checking --publish's staging path would make it
    failed = run_cli("training.train", "--train", str(tmp_path / "missing.tsv"), "--publish", str(root), cache=tmp_path)
    assert failed.returncode == 2 and "no such file" in failed.stderr and not root.exists()


def test_a_run_that_fails_leaves_no_empty_folders_where_its_outputs_would_have_gone(tmp_path: Path) -> None:
    """The outputs' folders are checked before the work and made only when something is written into them."""
    missing = str(tmp_path / "missing.tsv")
    calls = {
        "training.train": ["--train", missing, "--out", str(tmp_path / "runs" / "new" / "bundle")],
        "training.evaluate": ["--bundle", str(tmp_path / "none"), "--data", missing, "--json",
                              str(tmp_path / "reports" / "eval.json")],
        "training.explain": ["--bundle", str(tmp_path / "none"), "영화", "--png", str(tmp_path / "pictures" / "x.png")],
    }  # fmt: skip
    for module, args in calls.items():
        probe = f"import {module} as cli\nraise SystemExit(cli.main({args!r}))"
        ran = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 2, (module, ran.stderr[-1500:])
    assert sorted(path.name for path in tmp_path.iterdir()) == []


def test_val_fraction_0_trains_on_every_row_for_exactly_the_given_epochs(tmp_path: Path) -> None:
    """The final fit once the epoch count is tuned: nothing held out, so no early stopping and no validation
    figures; the bundle keeps the last epoch and serves like any other."""
    out = tmp_path / "bundle"
    trained = run_cli(
        "training.train", "--train", str(FIXTURES / "nsmc_train_3k.tsv"), "--out", str(out), *SMALL,
        "--epochs", "2", "--patience", "0", "--val-fraction", "0", "--language-model-epochs", "0",
        "--no-pretrain-embeddings", cache=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-1500:]
    assert "split: 3,000 rows train, none held out (--val-fraction 0): every one of the 2 epoch(s) runs" in (
        trained.stderr
    )
    assert "fit: 2 epoch(s), 24 batches per epoch" in trained.stderr
    assert "val_accuracy" not in trained.stderr and "validation:" not in trained.stderr
    bundle = Bundle.load(out)
    metrics = bundle.metrics
    assert "validation" not in metrics and "test" not in metrics
    assert (metrics["train_rows"], metrics["validation_rows"]) == (3000, 0)
    assert len(metrics["history"]["loss"]) == 2 and metrics["best_epoch"] == 2  # --patience 0 stopped nothing
    assert (out / "learning_curve.png").stat().st_size > 1000
    assert not (out / "confusion_matrix.png").exists()  # neither validation nor test rows to draw it from
    evaluated = run_cli(
        "training.evaluate", "--bundle", str(out), "--data", str(FIXTURES / "nsmc_test_1k.tsv"), cache=tmp_path
    )
    assert evaluated.returncode == 0, evaluated.stderr[-1500:]
    assert "n = 1,000" in evaluated.stdout
    # an ensemble compares its members on the rows they held out: a member without any is refused, not scored
    ensemble = run_cli(
        "benchmarks.accuracy", "ensemble", "--bundles", str(out), str(out), "--train",
        str(FIXTURES / "nsmc_train_3k.tsv"), "--test", str(FIXTURES / "nsmc_test_1k.tsv"), cache=tmp_path,
        env={"BENCHMARK_RESULTS": str(tmp_path / "results")},
    )  # fmt: skip
    assert ensemble.returncode == 1
    assert "a member held out no validation rows (--val-fraction 0)" in ensemble.stderr
    assert not (tmp_path / "results").exists()


def test_labels_that_differ_only_in_case_and_classes_too_small_to_measure_are_named_in_warnings(tmp_path: Path) -> None:
    """Labels spelled two ways are trained as separate classes (the file may mean that), but most likely they are
    one class. A class of a few rows cannot be learned or measured, and one left without validation rows by
    --max-val-rows is not measured either."""
    spellings = {"0": "negative", "1": "positive"}
    rows = pd.read_csv(FIXTURES / "nsmc_train_3k.tsv", sep="\t", keep_default_na=False, dtype=str)[:600]
    labels = [spellings[label].upper() if i % 3 == 0 else spellings[label] for i, label in enumerate(rows["label"])]
    path = tmp_path / "mixed-case.tsv"
    rows = rows.assign(label=labels)
    spam = pd.DataFrame({"id": ["0"], "document": ["광고 클릭하세요"], "label": ["spam"]})
    ham = rows[300:312].assign(label="ham")  # 12 rows: 20 of the file's 713 held out are 0.34 of them, so none
    pd.concat([rows, rows[:100], spam, ham]).to_csv(path, sep="\t", index=False)  # with 100 duplicates
    trained = run_cli(
        "training.train", "--train", str(path), "--out", str(tmp_path / "bundle"), *SMALL,
        "--language-model-epochs", "0", "--no-pretrain-embeddings", "--max-val-rows", "20", cache=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr[-1500:]
    assert "6 classes: NEGATIVE, POSITIVE, ham, negative, positive, spam" in trained.stderr
    assert "warning: class 'spam' has only 1 row(s): too few to learn it or to measure it" in trained.stderr
    assert (
        "warning: none of class 'ham''s 12 rows is held out for validation (2.81% of each class is)" in trained.stderr
    )
    assert "none of class 'negative'" not in trained.stderr
    assert re.search(r"\d+ validation text\(s\) also occur among the training rows", trained.stderr)
    for pair in ("NEGATIVE, negative", "POSITIVE, positive"):
        assert f"warning: the labels {pair} differ only in case and are 2 separate classes" in trained.stderr


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_stopped_training_leaves_the_previous_bundle_intact(tiny_bundle: Path, tmp_path: Path, sig: int) -> None:
    out = Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, output = stop_cli_midway(
        ["--train", str(FIXTURES / "nsmc_train_3k.tsv"), "--out", str(out), "--epochs", "50", "--patience", "50"],
        tmp_path,
        sig,
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bundle")] == []
    Bundle.load(out)
    if sig == signal.SIGINT:  # Python, not the JVM, gets Ctrl-C: the run says it stopped and exits 130
        assert code == 130
        assert f"interrupted: nothing was written to {out}" in output
        assert "Traceback" not in output


def test_ctrl_c_while_the_model_is_evaluated_after_fit_exits_130(tmp_path: Path) -> None:
    """Once the tokens come from the cache, the JVM starts in the training process only after fit, for the
    validation rows' Predictor. A Ctrl-C then made Python's shutdown abort in about half the runs (SIGABRT,
    "Fatal Python error: PyGILState_Release") in place of exit 130. The first run fills the cache."""
    out = tmp_path / "bundle"
    args = ["--train", str(FIXTURES / "nsmc_train_3k.tsv"), "--out", str(out), *SMALL, "--language-model-epochs", "0"]
    for wait_s in (1.0, 1.0, 2.0):  # into the JVM's start, then the tagger's first load
        code, output = stop_cli_midway(args, tmp_path, signal.SIGINT, "Restoring model weights", wait_s)
        assert code == 130, output[-2000:]
        assert "Fatal Python error" not in output and not out.exists()


@pytest.mark.parametrize("after", ["loading bundle", "predicting"])
def test_ctrl_c_during_an_evaluation_exits_130_with_one_line(tiny_bundle: Path, tmp_path: Path, after: str) -> None:
    """Tokenizing the NSMC test file takes about a minute: a Ctrl-C there says so in one line, no traceback. So
    does one while the model loads (TensorFlow's import, the JVM's start, the network's tracing)."""
    args = ["--bundle", str(tiny_bundle), "--data", str(FIXTURES / "nsmc_train_3k.tsv"), "--faithfulness"]
    code, output = stop_cli_midway(args, tmp_path, signal.SIGINT, after, 0.5, module="training.evaluate")
    assert code == 130, output[-2000:]
    assert output.rstrip().endswith("interrupted")
    assert "Traceback" not in output and "Fatal Python error" not in output


def test_a_ctrl_c_whose_interrupt_was_lost_is_raised_again_at_the_next_step() -> None:
    probe = """
import os, signal, time
from training.progress import remember_ctrl_c, stop_if_ctrl_c
signal.signal(signal.SIGINT, signal.default_int_handler)  # as Python starts, whoever started this test run
remember_ctrl_c()
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
except KeyboardInterrupt:
    pass  # lost on its way, as happened during fit
try:
    stop_if_ctrl_c()
except KeyboardInterrupt:
    print("raised again")
"""
    ran = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ran.stdout.strip() == "raised again", ran.stderr[-1500:]


def test_a_ctrl_c_during_work_under_cpp_is_held_back_until_that_work_ends() -> None:
    probe = """
import os, signal, time
from training.progress import cli_logger, ctrl_c_held_back, remember_ctrl_c
signal.signal(signal.SIGINT, signal.default_int_handler)
remember_ctrl_c()
cli_logger("training")
try:
    with ctrl_c_held_back():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
        print("block finished")
except KeyboardInterrupt:
    print("raised after the block")
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
except KeyboardInterrupt:
    print("raised at once outside it")
"""
    ran = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert ran.stdout.split("\n")[:3] == ["block finished", "raised after the block", "raised at once outside it"], (
        ran.stdout + ran.stderr[-1500:]
    )
    heard = re.findall(r"\] Ctrl-C: stopping once the work under way \(model loading\) ends\n", ran.stderr)
    assert len(heard) == 1, ran.stderr[-1500:]  # said at once, and once for two presses


def test_an_out_that_is_not_a_bundle_is_refused_before_any_work(tiny_bundle: Path, tmp_path: Path) -> None:
    notes = tmp_path / "mydocs"
    notes.mkdir()
    (notes / "notes.txt").write_text("keep me", "utf-8")
    a_file = write(tmp_path / "plain.txt", "keep me too")
    a_bundle = Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))
    root = tmp_path / "models"
    versions = root / "versions"
    versions.mkdir(parents=True)
    train_file = str(FIXTURES / "nsmc_train_3k.tsv")
    cases = [
        (["--out", str(notes)], "holds files but is not a bundle"),
        (["--out", str(a_file)], "is a file"),
        (["--out", str(a_file / "sub")], "cannot be written"),
        (["--publish", str(a_bundle)], "is a bundle, not a ROOT of versions"),
        (["--publish", str(versions)], f"is the versions/ folder of a ROOT; publish to the ROOT itself, {root}"),
    ]
    for destination, message in cases:
        result = run_cli("training.train", "--train", train_file, *destination, *SMALL, cache=tmp_path, timeout=120)
        assert (result.returncode, message in result.stderr) == (2, True), result.stderr[-1500:]
        assert "Traceback" not in result.stderr and "tokenize" not in result.stderr  # refused before the work
    assert (notes / "notes.txt").read_text("utf-8") == "keep me"
    assert a_file.read_text("utf-8") == "keep me too"
    assert not (a_bundle / "versions").exists() and list(versions.iterdir()) == []
    Bundle.load(a_bundle)


def test_cosine_schedule_decays_over_the_planned_epochs_and_unknown_names_are_refused() -> None:
    from training.config import TrainConfig
    from training.data import DataError
    from training.pipeline import learning_rate

    assert learning_rate(TrainConfig(learning_rate=0.002), steps_per_epoch=10) == 0.002
    schedule = learning_rate(TrainConfig(learning_rate=0.002, lr_schedule="cosine", epochs=6), steps_per_epoch=10)
    assert float(schedule(0)) == pytest.approx(0.002)
    assert float(schedule(30)) == pytest.approx(0.002 * (0.05 + 0.95 * 0.5), rel=1e-5)  # half way: cos = 0
    assert float(schedule(60)) == pytest.approx(0.002 * 0.05, rel=1e-5)
    with pytest.raises(DataError, match="--lr-schedule must be one of"):
        learning_rate(TrainConfig(lr_schedule="linear"), steps_per_epoch=10)


def test_first_step_capture_is_undone_when_the_training_step_raises() -> None:
    """The first training step runs with fd 2 captured; a step that raises must not leave it so."""
    from contextlib import ExitStack

    import numpy as np

    from model.network import NetworkConfig, build_network
    from training.pipeline import FirstStepNativeOutputLogged

    during_step = []

    def failing_loss(y_true, y_pred):
        during_step.append(os.fstat(2).st_ino)  # traced inside the first training step
        raise RuntimeError("loss failed")

    classifier = build_network(NetworkConfig(vocab_size=50, num_classes=2)).classifier
    classifier.compile(optimizer="adam", loss=failing_loss)
    before = os.fstat(2)
    with pytest.raises(RuntimeError, match="loss failed"), ExitStack() as first_step:
        callback = FirstStepNativeOutputLogged(first_step)
        classifier.fit(np.array([[2, 3, 0]], dtype="int32"), np.array([0]), epochs=1, verbose=0, callbacks=[callback])
    assert during_step and during_step[0] != before.st_ino  # the step ran with fd 2 captured
    assert (os.fstat(2).st_dev, os.fstat(2).st_ino) == (before.st_dev, before.st_ino)


@pytest.mark.parametrize("rows", [1, 255, 256, 257, 128 * 32 * 2 + 3])  # the last: two pools of 32 batches and 3 rows
def test_bucketed_batches_hold_every_row_once_padded_to_its_bucket(rows: int) -> None:
    """The dataset's declared cardinality is what `fit` counts steps by; it must equal the batches yielded."""
    import numpy as np

    from model.predictor import length_buckets
    from training.pipeline import bucketed_batches

    rng = np.random.default_rng(rows)
    ids = [list(range(1, 1 + int(n))) for n in rng.integers(1, 60, size=rows)]
    labels = np.arange(rows, dtype=np.int32)  # each row's label is its index, so rows can be traced back
    batch_size = 128
    dataset = bucketed_batches(ids, labels, batch_size, max_len=64, seed=0)

    seen = []
    batches = list(dataset.as_numpy_iterator())
    for padded, batch_labels in batches:
        assert padded.shape[1] in length_buckets(64)
        assert padded.shape[1] >= max(len(ids[i]) for i in batch_labels)
        for row, index in zip(padded, batch_labels):
            assert row[: len(ids[index])].tolist() == ids[index] and not row[len(ids[index]) :].any()
        seen += batch_labels.tolist()
    assert sorted(seen) == list(range(rows))
    assert int(dataset.cardinality()) == len(batches)
    assert sum(len(batch_labels) < batch_size for _, batch_labels in batches) <= 1


@pytest.mark.parametrize("module", ["training.train", "training.evaluate", "training.explain"])
def test_help_describes_every_option_with_its_default(module: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as stopped:
        importlib.import_module(module).main(["--help"])
    assert stopped.value.code == 0
    lines = capsys.readouterr().out.split("\noptions:\n")[1].splitlines()
    for number, line in enumerate(lines):
        if line.startswith("  -"):  # an option: its text follows on the same line or the next, indented
            described = re.match(r"  \S.*?\S  +\S", line) or lines[number + 1].startswith(" " * 20)
            assert described, f"{module}: no help for {line.strip()}"
    text = " ".join(" ".join(lines).split())
    if module == "training.train":
        for default in ("document", "label", "okt", "6", "42", "0.1", "0.0", "8"):
            assert f"(default: {default}" in text


@pytest.mark.parametrize(
    ("module", "args", "code", "says"),
    [
        ("training.train", ["--help"], 0, "--language-model-epochs"),
        ("training.evaluate", ["--help"], 0, "--faithfulness"),
        ("training.explain", ["--help"], 0, "--png"),
        ("training.train", ["--out", "unused"], 2, "the following arguments are required: --train"),
        ("training.train", ["--train", "missing.tsv", "--out", "unused"], 2, "missing.tsv"),
        ("training.evaluate", ["--bundle", "model/default", "--data", "missing.tsv"], 2, "missing.tsv"),
        (
            "training.evaluate",
            ["--bundle", "model/default", "--data", "tests/fixtures/nsmc_test_1k.tsv", "--json", "tests"],
            2,
            "error: --json tests: is a directory; give a file name",
        ),
    ],
)
def test_help_and_bad_arguments_answer_before_tensorflow_is_imported(
    module: str, args: list[str], code: int, says: str, tmp_path: Path
) -> None:
    """TensorFlow takes seconds to import, so the CLIs import it only once the arguments and data are read."""
    probe = (
        "import runpy, sys\n"
        f"sys.argv = [{module!r}, *{args!r}]\n"
        "try:\n"
        f"    runpy.run_module({module!r}, run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    print('exit', stop.code, 'tensorflow' in sys.modules)\n"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    ran = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert ran.stdout.splitlines()[-1] == f"exit {code} False", ran.stderr[-1500:]
    assert says in ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr


def test_evaluate_names_a_result_file_it_could_not_write_after_all(
    tiny_bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Checked at the start, but a disk can fill up while the texts are predicted."""
    from training.evaluate import main as evaluate_main

    data = write(tmp_path / "few.tsv", "document\tlabel\n정말 재미있는 영화\t1\n시간 아깝다\t0\n")
    target, real_write_text = tmp_path / "metrics.json", Path.write_text

    def disk_full(path: Path, *args, **kwargs):
        if path == target:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_write_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", disk_full)
    cli_log = logging.getLogger("training")  # writes to a duplicate of fd 2 and does not propagate
    cli_log.addHandler(caplog.handler)
    try:
        assert evaluate_main(["--bundle", str(tiny_bundle), "--data", str(data), "--json", str(target)]) == 1
    finally:
        cli_log.removeHandler(caplog.handler)
    assert "accuracy" in capsys.readouterr().out  # the report was printed before the write failed
    errors = {r.getMessage() for r in caplog.records if r.levelno == logging.ERROR}
    assert errors == {f"error: cannot write {target}: No space left on device"}


def test_importing_the_training_pipeline_first_still_sets_the_keras_backend(tmp_path: Path) -> None:
    """`training` imports `model` before anything imports Keras, so a library caller gets the same setup."""
    probe = (
        "import sys, training.pipeline, keras\n"
        "order = list(sys.modules)  # in the order their imports began\n"
        "print(order.index('model') < order.index('keras'), keras.backend.backend())"
    )
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    ran = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-1500:]
    assert ran.stdout.split() == ["True", "tensorflow"]


def test_train_config_gives_okt_its_options_and_other_taggers_none() -> None:
    from model.tokenizer import MorphTokenizer
    from training.config import TrainConfig

    assert TrainConfig().tokenizer_options == {"norm": True, "stem": True}
    kiwi = TrainConfig(tokenizer="kiwi")
    assert kiwi.tokenizer_options == {}
    assert [t.text for t in MorphTokenizer("kiwi", kiwi.tokenizer_options, workers=1).tokenize("정말 좋다")]


def test_evaluate_reads_a_published_root_and_names_a_jvm_that_will_not_start(
    published_root: Path, tmp_path: Path
) -> None:
    joined = write(
        tmp_path / "joined.tsv", "document\tlabel\n정말 재미있는 영화\t1\ndocument\tlabel\n시간 아깝다\t0\n \t0\n"
    )
    evaluated = run_cli("training.evaluate", "--bundle", str(published_root), "--data", str(joined), cache=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr[-1500:]
    assert "accuracy" in evaluated.stdout and "n = 3" in evaluated.stdout
    assert "1 text(s) have no tokens (empty, first at data row 4)" in evaluated.stderr  # counted, and said so
    # the data reader's warning in the CLI's own format, like its other lines (it once came through Python's
    # last-resort handler, unformatted)
    header_repeated = r"^\[ *[0-9.]+s\] warning: .*left out 1 row\(s\) that repeat the header line"
    assert re.search(header_repeated, evaluated.stderr, re.M)

    data = write(tmp_path / "few.tsv", "document\tlabel\n정말 재미있는 영화\t1\n시간 아깝다\t0\n")

    refused = run_cli(
        "training.evaluate", "--bundle", str(published_root), "--data", str(data), cache=tmp_path,
        env={"JVM_OPTIONS": "-Xbogus"},
    )  # fmt: skip
    assert refused.returncode == 2
    assert "error: the JVM did not start with options ['-Xbogus']" in refused.stderr
    assert "Traceback" not in refused.stderr

    other_labels = write(tmp_path / "other.tsv", "document\tlabel\n정말 재미있는 영화\t2\n시간 아깝다\t0\n")
    unknown = run_cli("training.evaluate", "--bundle", str(published_root), "--data", str(other_labels), cache=tmp_path)
    assert unknown.returncode == 2
    assert "labels ['2'] are not among the model's" in unknown.stderr
    assert "loading bundle" not in unknown.stderr  # refused from the bundle's config.json, before the model loads

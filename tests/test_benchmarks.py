"""The benchmarks run end to end on small counts, and their verdicts are ratios of their own figures.

The README quotes these scripts' results files, so a wrong ratio or a stale verdict there would be a wrong
claim. Each runs as a user would run it (a subprocess of `python -m benchmarks...`) on the shipped model
and texts from the repo's fixture (the accuracy benchmark on bundles trained on that fixture), writing to a
temporary BENCHMARK_RESULTS directory; nothing here is timed against a bound.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model.tokenizer import DEFAULT_JVM_OPTIONS
from tests.conftest import FIXTURES, ROOT
from tests.test_training_cli import GLOG_LINE

TEXTS = FIXTURES / "nsmc_train_3k.tsv"  # 3,000 rows: the benchmarks warm the JVM with 1,000 first
TEST_TEXTS = FIXTURES / "nsmc_test_1k.tsv"


def run_benchmark(module: str, results: Path, *args: str, texts: Path | None = TEXTS, timeout: int = 600) -> dict:
    env = {**os.environ, "BENCHMARK_RESULTS": str(results)}
    command = [sys.executable, "-m", module, *(["--texts", str(texts)] if texts else []), "--name", "under_test", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    markdown = (results / "under_test.md").read_text()
    result = json.loads((results / "under_test.json").read_text())
    assert markdown in done.stdout  # printed as written
    assert ("## Targets" in markdown) == ("targets" in result)
    return result


def by_name(targets: list[dict]) -> dict[str, dict]:
    for entry in targets:
        op, bound = entry["target"].split()
        value = entry["value"]
        assert entry["met"] == (value >= float(bound) if op == ">=" else value <= float(bound))
    return {entry["name"]: entry for entry in targets}


def test_inference_benchmark_reports_ratios_of_its_own_measurements(tmp_path: Path) -> None:
    counts = ["--n", "12", "--batch-n", "200", "--repeats", "2", "--micro-c1", "10", "--micro-c32", "96"]
    result = run_benchmark("benchmarks.inference", tmp_path, *counts)

    latency = result["single_text"]["latency"]
    assert {name: stats["n"] for name, stats in latency.items()} == dict.fromkeys(
        ["predictor", "keras_predict", "tokenize", "network"], 12
    )
    targets = by_name(result["targets"])
    speedup = targets["model.predict p50 / Predictor p50 (single text)"]["value"]
    assert speedup == pytest.approx(latency["keras_predict"]["p50_ms"] / latency["predictor"]["p50_ms"])

    throughput = result["throughput"]
    runs = throughput["texts_per_s"]
    assert len(runs["predictor"]) == len(runs["tokenizer"]) == 2
    assert throughput["ratios"] == pytest.approx([p / t for p, t in zip(runs["predictor"], runs["tokenizer"])])
    assert targets["Predictor / tokenizer texts/s (batch)"]["value"] == statistics.median(throughput["ratios"])

    micro = result["micro_batching"]
    c1, c32 = micro["texts_per_s"]["c1"], micro["texts_per_s"]["c32"]
    assert micro["ratios"] == pytest.approx([b / a for a, b in zip(c1, c32)])
    assert all(value > 0 for value in c1 + c32)
    assert not (ROOT / "benchmarks" / "results" / "under_test.json").exists()


def test_http_benchmark_reports_ratios_of_its_own_measurements(tmp_path: Path) -> None:
    counts = ["--rounds", "1", "--c1", "10", "--c32", "96", "--batches", "1"]
    result = run_benchmark("benchmarks.http", tmp_path, *counts)

    c1, c32, batch = result["c1"], result["c32"], result["batch"]
    assert (c1["http_latency"]["n"], c32["http_latency"]["n"], batch["http_latency"]["n"]) == (10, 96, 1)
    assert c1["in_process_latency"]["n"] == 10  # each request interleaved with the same text in process
    assert c1["server_latency"]["n"] == 10 and c32["server_latency"]["n"] == 96  # from the server's access log
    assert 1 <= result["c32_micro_batch_sizes"]["max"] <= 32
    assert result["cold_start_s"] > 0 and result["c32_cpu"]["server_s"] > 0

    targets = by_name(result["targets"])
    slowdown = targets["HTTP p50 / in-process p50 (single text, c=1)"]["value"]
    assert slowdown == pytest.approx(c1["http_latency"]["p50_ms"] / c1["in_process_latency"]["p50_ms"])
    scaling = targets["texts/s at c=32 / texts/s at c=1 (single-text endpoint)"]["value"]
    assert scaling == pytest.approx(c32["median_texts_per_s"] / c1["median_texts_per_s"])
    # c=1 texts/s is requests over their summed latency: one request at a time
    assert c1["median_texts_per_s"] == pytest.approx(10 / (c1["http_latency"]["mean_ms"] * 10 / 1000))


def test_cold_start_benchmark_compares_servers_started_with_and_without_the_preload(tmp_path: Path) -> None:
    result = run_benchmark("benchmarks.cold_start", tmp_path, "--rounds", "1", texts=None)

    starts, medians = result["starts_s"], result["medians_s"]
    assert {name: len(values) for name, values in starts.items()} == {"preload": 1, "no preload": 1}
    assert all(value > 0 for values in starts.values() for value in values)
    assert result["preload_ratio"] == pytest.approx(medians["preload"] / medians["no preload"])
    cold_start = by_name(result["targets"])["cold start to /readyz, median with the preload (s)"]
    assert cold_start["value"] == medians["preload"] == starts["preload"][0]


def test_jvm_benchmark_compares_konlpys_jvm_start_with_the_products(tmp_path: Path) -> None:
    result = run_benchmark("benchmarks.jvm", tmp_path, "--rounds", "1", "--n", "30")

    runs, medians = result["runs"], result["medians"]
    assert {name: len(values) for name, values in runs.items()} == {"konlpy": 1, "product": 1}
    for figure in ("two_threads_texts_per_s", "one_thread_texts_per_s", "rss_mb"):
        assert result["ratios"][figure] == pytest.approx(medians["product"][figure] / medians["konlpy"][figure])
    arguments = result["jvm_arguments"]  # as the child JVMs report them
    assert set(DEFAULT_JVM_OPTIONS) <= set(arguments["product"])
    assert "-Xmx1024m" in arguments["konlpy"] and not set(DEFAULT_JVM_OPTIONS) & set(arguments["konlpy"])


def test_benchmarks_log_tensorflows_import_notices_instead_of_printing_them(tmp_path: Path) -> None:
    """At TF_CPP_MIN_LOG_LEVEL=0 importing TensorFlow prints its CPU-feature notice on fd 2; a benchmark's
    stderr must hold no such line (`benchmarks.training` imports TensorFlow only to record its version)."""
    env = {**os.environ, "BENCHMARK_RESULTS": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.training"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "training.md").is_file()
    assert [line for line in done.stderr.splitlines() if GLOG_LINE.match(line) or "absl::" in line] == []
    recorded = json.loads((ROOT / "model" / "default" / "metrics.json").read_text("utf-8"))
    reported = json.loads((tmp_path / "training.json").read_text("utf-8"))["accuracy"]
    assert reported == {part: recorded[part]["accuracy"] for part in ("validation", "test")}


def test_training_benchmark_gives_no_verdict_on_a_run_whose_language_model_came_from_the_cache(
    tmp_path: Path,
) -> None:
    """Such a run skipped pre-training, so its total is not a retrain's time; the shipped model's run is one."""
    recorded = json.loads((ROOT / "model" / "default" / "metrics.json").read_text("utf-8"))
    verdicts = {}
    for from_cache in (False, True):
        bundle = tmp_path / f"from-cache-{from_cache}"
        bundle.mkdir()
        (bundle / "metrics.json").write_text(json.dumps(recorded | {"language_model_from_cache": from_cache}))
        env = {**os.environ, "BENCHMARK_RESULTS": str(bundle)}
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.training", "--bundle", str(bundle), "--name", "timings"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        verdicts[from_cache] = json.loads((bundle / "timings.json").read_text("utf-8"))["targets"]
        markdown = (bundle / "timings.md").read_text("utf-8")
        assert ("read from the cache, so this is not a full retrain's time" in markdown) == from_cache
        assert ("No verdict: not a full retrain." in markdown) == from_cache
    assert [check["name"] for check in verdicts[False]] == ["recorded total_s / 15 min"]
    assert verdicts[True] == []


def test_accuracy_tables_mark_a_run_whose_encoder_came_from_the_cache() -> None:
    from benchmarks.accuracy import wall_time

    assert wall_time({"wall_s": 812.4, "language_model_from_cache": False}) == 812.4
    assert wall_time({"wall_s": 412.4, "language_model_from_cache": True}) == "412 (encoder from cache)"
    assert wall_time({"wall_s": 700.0}) == 700.0  # recorded before the cache existed


def test_recorded_seeds_share_a_pinned_split_whether_or_not_they_named_it() -> None:
    from benchmarks.accuracy import changed_settings

    def run(seed: int, **settings) -> dict:
        config = {"seed": seed, "language_model_epochs": 8, "adversarial_epsilon": 1.0, "adversarial_from_epoch": 3}
        return {"train_config": {**config, **settings}}

    teachers = ["model/default", "runs/kiwi_lm"]
    pinned = {"42": run(42, teachers=teachers), "43": run(43, split_seed=42, teachers=teachers)}
    assert changed_settings(pinned) == {"teachers": teachers, "split_seed": 42}
    assert changed_settings({"42": run(42), "43": run(43)}) == {}  # each split follows its own seed
    before_the_options = {"train_config": {"seed": 42}}  # a bundle recorded before pre-training and perturbing
    assert changed_settings({"42": before_the_options}) == {"language_model_epochs": 0, "adversarial_epsilon": 0.0}
    every_epoch = {"train_config": {"seed": 42, "language_model_epochs": 8, "adversarial_epsilon": 1.0}}
    assert changed_settings({"42": every_epoch}) == {"adversarial_from_epoch": 1}  # recorded before the option
    with pytest.raises(SystemExit, match="differ in more than the seed"):
        changed_settings({"42": run(42, split_seed=7), "43": run(43)})


def test_an_ensemble_section_names_each_members_version_when_it_was_recorded() -> None:
    from benchmarks.accuracy import markdown_sections

    figures = {"validation": {"accuracy": 0.88}, "test": {"accuracy": 0.875, "macro_f1": 0.874}}
    section = {"validation_rows": 15_000, "seed": 42, "ensemble": figures}
    recorded = {**section, "members": {"runs/a": {"version": "20261129-021707-c707520e", **figures}, "runs/b": figures}}
    (markdown,) = markdown_sections({"ensemble_rerun": recorded})
    assert "| `runs/a` (20261129-021707-c707520e) | 88.00% |" in markdown
    assert "| `runs/b` | 88.00% |" in markdown  # sections written before versions were recorded
    assert markdown.endswith("--bundles runs/a runs/b --section ensemble_rerun`")


def test_a_seeds_section_trained_by_options_names_what_differs_from_todays_defaults() -> None:
    from dataclasses import asdict

    from benchmarks.accuracy import markdown_sections
    from training.config import TrainConfig

    def run(seed: int) -> dict:
        config = {**asdict(TrainConfig()), "seed": seed, "dropout": 0.5, "adversarial_epsilon": 0.0}
        figures = {"validation_accuracy": 0.87, "test_accuracy": 0.86, "test_macro_f1": 0.86, "best_epoch": 5}
        return {**figures, "wall_s": 700.0, "train_config": config}

    section = {"runs": {"42": run(42), "43": run(43)}, "test_accuracy": {"mean": 0.86, "stdev": 0.0}}
    section |= {key: section["test_accuracy"] for key in ("validation_accuracy", "test_macro_f1")}
    # trained by `-- --adversarial-epsilon 0` when dropout 0.5 was the default: the header says both
    (markdown,) = markdown_sections({"seeds_older": {**section, "options": ["--adversarial-epsilon", "0"]}})
    assert "changed from the default configuration: adversarial_epsilon 0.0, dropout 0.5" in markdown
    command = "`python -m benchmarks.accuracy seeds --section seeds_older -- --adversarial-epsilon 0`"
    assert f"{command} (run with the defaults of its day" in markdown


def test_seeds_trained_on_every_row_show_a_dash_for_validation() -> None:
    from dataclasses import asdict

    from benchmarks.accuracy import markdown_sections, spread
    from training.config import TrainConfig

    def run(seed: int, test: float) -> dict:
        config = {**asdict(TrainConfig()), "seed": seed, "val_fraction": 0.0}
        figures = {"validation_accuracy": None, "test_accuracy": test, "test_macro_f1": test, "best_epoch": 5}
        return {**figures, "wall_s": 800.0, "train_config": config}

    runs = {"42": run(42, 0.88), "43": run(43, 0.87)}
    section = {"recorded": ["runs/a", "runs/b"], "runs": runs, **spread(runs)}
    assert section["validation_accuracy"] is None and section["test_accuracy"]["mean"] == pytest.approx(0.875)
    (markdown,) = markdown_sections({"seeds_every_row": section})
    assert "changed from the default configuration: val_fraction 0.0" in markdown
    assert "| 42 | – | 88.00% | 88.00% | 5 | 800 |" in markdown
    assert "| mean ± sd | – | 87.50% ± 0.71 |" in markdown
    refused = subprocess.run(
        [sys.executable, "-m", "benchmarks.accuracy", "ablation", "--", "--val-fraction=0"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert refused.returncode == 1 and "cannot run with --val-fraction 0" in refused.stderr


def test_benchmark_commands_refuse_a_mistyped_option_before_any_work_and_answer_help_at_once() -> None:
    """Unknown options used to be passed on to training.train, or dropped without a word; training options go
    after --, and only where something is trained. --help and these errors come before TensorFlow's import."""
    cases = [
        ("benchmarks.accuracy", ["default", "--bogus", "5"], "error: unrecognized arguments: --bogus 5"),
        (
            "benchmarks.accuracy",
            ["seeds", "--recorded", "a", "b", "--", "--epochs", "2"],
            "seeds --recorded trains nothing",
        ),
        ("benchmarks.training", ["--bogus"], "error: unrecognized arguments: --bogus"),
        ("benchmarks.training", ["--", "--epochs", "1"], "training options after -- are for --run"),
        ("benchmarks.inference", ["--bogus"], "error: unrecognized arguments: --bogus"),
        ("benchmarks.http", ["--bogus"], "error: unrecognized arguments: --bogus"),
        ("benchmarks.accuracy", ["--help"], "[-- training.train options]"),
        ("benchmarks.inference", ["--help"], "seed of the texts sampled"),
        ("benchmarks.http", ["--help"], "usage: python -m benchmarks.http"),
    ]
    for module, args, says in cases:
        probe = f"import sys, {module} as cli\ntry:\n    cli.main({args!r})\nexcept SystemExit as stop:\n"
        probe += "    print(stop.code, 'tensorflow' in sys.modules)"
        ran = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
        expected = ["0" if "--help" in args else "2", "False"]
        assert ran.stdout.split()[-2:] == expected, (module, args, ran.stdout[-500:], ran.stderr[-1500:])
        assert says in ran.stdout + ran.stderr, (module, args)


@pytest.fixture(scope="module")
def second_tiny_bundle(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tiny_bundle's configuration with another seed of the weights and the same validation split."""
    from training.train import main

    out = tmp_path_factory.mktemp("seed43") / "bundle"
    code = main(
        ["--train", str(TEXTS), "--test", str(TEST_TEXTS), "--out", str(out), "--label-names", "negative,positive",
         "--epochs", "2", "--vocab-size", "3000", "--embedding-dim", "32", "--lstm-units", "32",
         "--attention-units", "16", "--seed", "43", "--split-seed", "42", "--no-cache", "--quiet"]
    )  # fmt: skip
    assert code == 0
    return out


def test_accuracy_benchmark_summarises_recorded_seeds_and_measures_an_ensemble(
    tiny_bundle: Path, second_tiny_bundle: Path, tmp_path: Path
) -> None:
    from model.predictor import Predictor
    from training.data import read_labelled
    from training.evaluate import label_names_for

    env = {**os.environ, "BENCHMARK_RESULTS": str(tmp_path)}
    bundles = [str(tiny_bundle), str(second_tiny_bundle)]
    for args in (
        ["seeds", "--recorded", *bundles, "--section", "seeds_under_test"],
        ["ensemble", "--bundles", *bundles, "--train", str(TEXTS), "--test", str(TEST_TEXTS)],
    ):
        command = [sys.executable, "-m", "benchmarks.accuracy", *args]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    for args, refusal in (
        (["ensemble", "--bundles", *bundles, "--train", str(TEST_TEXTS)], "was trained on another file than"),
        (["seeds", "--train", str(TEXTS)], "--train and --test are for ensemble"),
    ):
        command = [sys.executable, "-m", "benchmarks.accuracy", *args]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode != 0 and refusal in done.stderr, done.stderr[-3000:]
    results = json.loads((tmp_path / "accuracy.json").read_text("utf-8"))
    recorded = [json.loads((Path(b) / "metrics.json").read_text("utf-8")) for b in bundles]

    seeds = results["seeds_under_test"]
    assert sorted(seeds["runs"]) == ["42", "43"]
    tests = [metrics["test"]["accuracy"] for metrics in recorded]
    assert seeds["test_accuracy"]["mean"] == pytest.approx(statistics.fmean(tests))

    # Each member scores on the rebuilt validation split what its training run recorded (else the split is not
    # the one it held out), and the ensemble is the mean of the members' probabilities on the test file.
    ensemble = results["ensemble"]
    for bundle, metrics in zip(bundles, recorded, strict=True):
        member = ensemble["members"][bundle]
        assert member["validation"]["accuracy"] == pytest.approx(metrics["validation"]["accuracy"], abs=0.002)
        assert member["test"]["accuracy"] == pytest.approx(metrics["test"]["accuracy"], abs=1e-9)
        assert member["version"] == json.loads((Path(bundle) / "manifest.json").read_text("utf-8"))["version"]
    test = read_labelled(TEST_TEXTS)
    predictors = [Predictor.load(bundle) for bundle in bundles]
    labels = predictors[0].labels
    probabilities = [
        [[answer.probabilities[label] for label in labels] for answer in predictor.predict(test.texts)]
        for predictor in predictors
    ]
    mean = np.mean(probabilities, axis=0)
    truth = label_names_for(predictors[0], test)
    accuracy = float(np.mean([labels[k] == true for k, true in zip(mean.argmax(axis=1), truth, strict=True)]))
    assert ensemble["ensemble"]["test"]["accuracy"] == pytest.approx(accuracy, abs=1e-9)
    markdown = (tmp_path / "accuracy.md").read_text("utf-8")
    assert f"## Seeds: trained on {TEXTS.name}, changed from the default configuration: vocab_size 3000," in markdown
    assert (
        f"`python -m benchmarks.accuracy ensemble --bundles {' '.join(bundles)} --train {TEXTS} --test {TEST_TEXTS}`"
        in (markdown)
    )  # the command that reruns it, data included


def test_a_measured_value_just_under_its_goal_does_not_print_as_the_goal() -> None:
    from benchmarks.common import target, targets_table

    checks = [
        target("NSMC test accuracy", 0.87984, ">=", 0.88),
        target("one text short", 0.87998, ">=", 0.88),
        target("ratio", 15.37, ">=", 10),
        target("exactly", 0.88, ">=", 0.88),
    ]
    table = targets_table(checks)
    assert "| NSMC test accuracy | 0.8798 | >= 0.88 | **missed** |" in table
    assert "| one text short | 0.87998 | >= 0.88 | **missed** |" in table
    assert "| ratio | 15.37 | >= 10 | met |" in table
    assert "| exactly | 0.88 | >= 0.88 | met |" in table

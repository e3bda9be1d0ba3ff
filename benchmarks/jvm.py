"""The tokenizer's JVM: konlpy's own start against the options the product starts it with.

    python -m benchmarks.jvm [--rounds 3] [--n 3000] [--texts FILE] [--name jvm]

Each round starts one fresh child process per configuration, alternating which goes first (the JVM is one
per process, so the options cannot change inside one):
  konlpy   konlpy's `init_jvm()`, as konlpy's taggers start it (G1, -Xmx1024m);
  product  `model.tokenizer.start_jvm()`, which the product calls before any tagger (`DEFAULT_JVM_OPTIONS`,
           or the JVM_OPTIONS environment variable when it is set).
The child warms the JVM with two passes over `--n` NSMC test texts, then times `tokenize_many` (two threads)
on them and `tokenize` one text at a time on a third of them, and reports the JVM's collections and its
resident memory. Reports medians over rounds and the product / konlpy ratio of each.
Writes benchmarks/results/<name>.json and .md (default name: jvm).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import ROOT, add_texts_argument, load_texts, md_table, write_results

CONFIGURATIONS = ("konlpy", "product")
OKT_OPTIONS = {"norm": True, "stem": True}  # the shipped model's tokenizer options


def measure_in_this_process(configuration: str, n: int, texts_file: Path) -> dict:
    """Start the JVM the named way, then time Okt; this process must not have started a JVM yet."""
    import jpype
    from konlpy import jvm

    from model.tokenizer import MorphTokenizer, start_jvm

    if configuration == "konlpy":
        jvm.init_jvm()
    else:
        start_jvm()
    texts = load_texts(n, path=texts_file)
    tokenizer = MorphTokenizer("okt", OKT_OPTIONS, workers=2)
    for _ in range(2):
        tokenizer.tokenize_many(texts)
    start = time.perf_counter()
    tokenizer.tokenize_many(texts)
    two_threads = len(texts) / (time.perf_counter() - start)
    one_by_one = texts[: max(1, n // 3)]
    start = time.perf_counter()
    for text in one_by_one:
        tokenizer.tokenize(text)
    one_thread = len(one_by_one) / (time.perf_counter() - start)
    factory = jpype.JClass("java.lang.management.ManagementFactory")
    collections = {str(bean.getName()): int(bean.getCollectionCount()) for bean in factory.getGarbageCollectorMXBeans()}
    with open("/proc/self/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return {
        "two_threads_texts_per_s": two_threads,
        "one_thread_texts_per_s": one_thread,
        "collections": collections,
        "rss_mb": rss_kb / 1024,
        "jvm_arguments": [str(argument) for argument in factory.getRuntimeMXBean().getInputArguments()],
    }


def run_child(configuration: str, n: int, texts_file: Path) -> dict:
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.jvm", "--child", configuration, "--n", str(n), "--texts", str(texts_file)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    if child.returncode != 0:
        raise RuntimeError(f"the {configuration} child failed: {child.stderr[-2000:]}")
    return json.loads(child.stdout.splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.jvm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="child processes per configuration (default 3)")
    parser.add_argument("--n", type=int, default=3000, help="NSMC test texts per pass (default 3000)")
    add_texts_argument(parser)
    parser.add_argument("--name", default="jvm", help="results file name (default jvm)")
    parser.add_argument("--child", choices=CONFIGURATIONS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_in_this_process(args.child, args.n, args.texts)))
        return

    runs: dict[str, list[dict]] = {name: [] for name in CONFIGURATIONS}
    for round_ in range(args.rounds):
        for name in CONFIGURATIONS if round_ % 2 == 0 else reversed(CONFIGURATIONS):
            runs[name].append(run_child(name, args.n, args.texts))
    figures = ("two_threads_texts_per_s", "one_thread_texts_per_s", "rss_mb")
    medians = {name: {f: statistics.median(run[f] for run in runs[name]) for f in figures} for name in runs}
    ratios = {f: medians["product"][f] / medians["konlpy"][f] for f in figures}
    rows = [
        [label, medians["konlpy"][f], medians["product"][f], ratios[f]]
        for label, f in (
            ("tokenize_many, 2 threads (texts/s)", "two_threads_texts_per_s"),
            ("tokenize one by one, 1 thread (texts/s)", "one_thread_texts_per_s"),
            ("resident memory after the runs (MB)", "rss_mb"),
        )
    ]
    per_run = [
        [name, i + 1, run["two_threads_texts_per_s"], run["one_thread_texts_per_s"], run["collections"]]
        for name in CONFIGURATIONS
        for i, run in enumerate(runs[name])
    ]
    arguments = {name: runs[name][0]["jvm_arguments"] for name in CONFIGURATIONS}
    sections = [
        f"## Okt on {args.n} NSMC test texts, medians of {args.rounds} fresh processes each\n\n"
        + md_table(["figure", "konlpy's start", "product's start", "product / konlpy"], rows),
        "## Each run\n\n"
        + md_table(["configuration", "run", "2 threads texts/s", "1 thread texts/s", "collections (count)"], per_run),
        "JVM arguments: " + "; ".join(f"{name}: `{' '.join(arguments[name])}`" for name in CONFIGURATIONS) + ".",
    ]
    data = {"args": vars(args), "runs": runs, "medians": medians, "ratios": ratios, "jvm_arguments": arguments}
    print(write_results(args.name, "Tokenizer JVM options", data, sections).read_text())


if __name__ == "__main__":
    main()

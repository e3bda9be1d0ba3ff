"""Cold start of the service, `python -m app` to its first `/readyz` 200, with the tokenizer preload and without.

    python -m benchmarks.cold_start [--rounds 5] [--bundle DIR] [--name cold_start]

Each round starts one fresh server per configuration, alternating which goes first:
  preload     `python -m app`, as `make serve` and the Dockerfile run it: the JVM starts, then the served
              bundle's konlpy tagger loads its classes and dictionaries in a thread while TensorFlow imports;
  no preload  the same entry point with `preload_tokenizer` made a no-op, so the tagger loads in the model's
              warm-up, after the import (how `python -m app` started before the preload).
`/readyz` answers 200 once the model is loaded and warmed up. Reports each start, the medians and their ratio,
and the 15 s target on the preload's median. Writes benchmarks/results/<name>.json and .md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from app.launch import running_server
from benchmarks.common import MODEL_DIR, ROOT, md_table, target, targets_table, write_results

WITHOUT_PRELOAD = "import app.__main__ as serve; serve.preload_tokenizer = lambda model_dir: None; serve.main()"
CONFIGURATIONS = {"preload": ("-m", "app"), "no preload": ("-c", WITHOUT_PRELOAD)}
READY_WITHIN_S = 120


def cold_start_s(bundle: Path, python_args: tuple[str, ...], log: Path) -> float:
    with running_server(bundle, log, READY_WITHIN_S, {"LOG_LEVEL": "warning"}, python_args=python_args) as server:
        return server.ready_after_s


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold_start", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="fresh servers per configuration (default 5)")
    parser.add_argument("--bundle", type=Path, default=MODEL_DIR, help="model bundle to serve (default model/default)")
    parser.add_argument("--name", default="cold_start", help="results file name (default cold_start)")
    args = parser.parse_args(argv)

    starts: dict[str, list[float]] = {name: [] for name in CONFIGURATIONS}
    with tempfile.TemporaryDirectory() as scratch:
        for round_ in range(args.rounds):
            order = list(CONFIGURATIONS) if round_ % 2 == 0 else list(reversed(CONFIGURATIONS))
            for name in order:
                starts[name].append(cold_start_s(args.bundle, CONFIGURATIONS[name], Path(scratch) / "server.log"))
    medians = {name: statistics.median(values) for name, values in starts.items()}
    ratio = medians["preload"] / medians["no preload"]
    targets = [target("cold start to /readyz, median with the preload (s)", medians["preload"], "<=", 15)]
    rows = [[name, medians[name], min(values), max(values), len(values)] for name, values in starts.items()]
    sections = [
        f"Model: `{os.path.relpath(args.bundle, ROOT)}`. {args.rounds} fresh `python -m app` processes per"
        " configuration, alternating which starts first.\n\n"
        + md_table(["configuration", "median s", "fastest s", "slowest s", "starts"], rows)
        + f"\n\nWith the preload / without it (medians): **{ratio:.2f}**.",
        "## Each start (s, in order)\n\n"
        + md_table(
            ["configuration", "starts"],
            [[name, ", ".join(f"{value:.2f}" for value in values)] for name, values in starts.items()],
        ),
        "## Targets\n\n" + targets_table(targets),
    ]
    data = {"args": vars(args), "starts_s": starts, "medians_s": medians, "preload_ratio": ratio, "targets": targets}
    print(write_results(args.name, "Cold start of the service", data, sections).read_text())


if __name__ == "__main__":
    main()

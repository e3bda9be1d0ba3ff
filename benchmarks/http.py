"""The HTTP service end to end: a real `python -m app` (uvicorn) process on 127.0.0.1.

    python -m benchmarks.http [--rounds 3] [--c1 100] [--c32 1600] [--batches 5]

Measures cold start (process start to the first `/readyz` 200), then `--rounds` rounds of:
  c=1    `--c1` single-text `POST /v1/predict` one after another, each interleaved with the same
         text through an in-process `Predictor.predict([text])` (same run, same noise);
  c=32   `--c32` single-text requests from 32 concurrent clients (the server's micro-batcher joins them);
         all 32 arrive at once at the start, so the first micro-batches hold everyone and the clients need
         a few round trips to spread out. 1,600 requests per round keep that start a small part of the phase
         (three runs of each, minutes apart: 320 per round gave a median of 611 texts/s, 1,600 gave 703);
  batch  `--batches` `POST /v1/predict/batch` of 64 texts, each interleaved with in-process `predict` of
         the same 64 texts.
Latency percentiles pool the rounds; texts/s are medians over rounds (c=1 texts/s = requests / summed
latency). Targets: HTTP p50 at c=1 <= 3x the in-process p50; texts/s at c=32 >= 3x texts/s at c=1.
The load generator (aiohttp: about 0.13 ms of CPU per request, where httpx took about 3 ms, which on 2
cores starved the server) and the in-process Predictor share the machine's cores with the server;
/proc gives the CPU each process used at c=32, the server's access log its micro-batch sizes.
`--server-env KEY=VALUE` sets server settings (e.g. MICROBATCH_MAX_WAIT_MS=0) and `--name` the results file.
Writes benchmarks/results/<name>.json and .md (default name: http).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from app.launch import running_server
from benchmarks import common
from benchmarks.common import (
    MODEL_DIR,
    ROOT,
    latency_stats,
    load_texts,
    md_table,
    target,
    targets_table,
    write_results,
)

if TYPE_CHECKING:  # TensorFlow loads once the arguments are read, so --help and a wrong option answer at once
    from model.predictor import Predictor

BATCH = 64
WARM_TEXTS = 1000
CONCURRENCY = 32


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def post(client: aiohttp.ClientSession, path: str, body: dict) -> float:
    start = time.perf_counter()
    async with client.post(path, json=body) as response:
        answer = await response.read()
    elapsed = time.perf_counter() - start
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {answer[:500]!r}")
    return elapsed


def timed(predictor: Predictor, texts: list[str]) -> float:
    start = time.perf_counter()
    predictor.predict(texts)
    return time.perf_counter() - start


async def interleaved(
    client: aiohttp.ClientSession, predictor: Predictor, path: str, items: list[list[str]]
) -> tuple[list[float], list[float]]:
    """Each item over HTTP and in process, alternating which goes first; returns (http, local) seconds."""
    remote, local = [], []
    for i, texts in enumerate(items):
        body = {"text": texts[0]} if path == "/v1/predict" else {"texts": texts}
        if i % 2:
            local.append(timed(predictor, texts))
        remote.append(await post(client, path, body))
        if not i % 2:
            local.append(timed(predictor, texts))
    return remote, local


async def concurrent(client: aiohttp.ClientSession, texts: list[str], concurrency: int) -> tuple[list[float], float]:
    """Single-text requests from `concurrency` clients until `texts` run out; returns (latencies, wall seconds)."""
    queue = iter(texts)
    latencies: list[float] = []

    async def worker() -> None:
        for text in queue:
            latencies.append(await post(client, "/v1/predict", {"text": text}))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


class ServerLog:
    """The server's JSON access-log lines, read incrementally (one phase at a time)."""

    def __init__(self, path: Path):
        self.path, self.offset = path, 0

    async def predictions(self, expected: int, within_s: float = 10) -> list[dict]:
        """The next `expected` access-log entries of `/v1/predict` (latency_ms, batch_size).

        The server logs a request just after its answer's last byte, so the last entries of a phase can land
        a moment after the client has its answers: wait for them (at most `within_s`).
        """
        entries: list[dict] = []
        deadline = time.monotonic() + within_s
        while True:
            entries += self._read()
            if len(entries) >= expected or time.monotonic() > deadline:
                return entries
            await asyncio.sleep(0.02)

    def _read(self) -> list[dict]:
        """Entries of `/v1/predict` written since the last read."""
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        data = data[: data.rfind(b"\n") + 1]  # a line still being written is read next time
        self.offset += len(data)
        entries = [json.loads(line) for line in data.decode("utf-8", "replace").splitlines() if line.startswith("{")]
        return [e for e in entries if e.get("path") == "/v1/predict" and "batch_size" in e]


async def measure(
    url: str, pid: int, predictor: Predictor, texts: list[str], args: argparse.Namespace, log: ServerLog
) -> dict:
    per_round = args.c1 + args.c32 + args.batches * BATCH
    phases: dict[str, dict[str, list[float]]] = {
        name: {"http": [], "local": [], "texts_per_s": [], "local_texts_per_s": []} for name in ("c1", "c32", "batch")
    }
    server_ms: dict[str, list[float]] = {"c1": [], "c32": []}
    c32_batch_sizes: list[int] = []
    c32_cpu = {"server_s": 0.0, "load_generator_s": 0.0, "wall_s": 0.0}
    # Drop idle connections well before the server's keep-alive timeout could close one under a request.
    connector = aiohttp.TCPConnector(limit=CONCURRENCY, keepalive_timeout=2)
    async with aiohttp.ClientSession(url, connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as client:
        warm = texts[-WARM_TEXTS:]
        predictor.predict(warm)  # the JVM's JIT: Okt runs several times faster after ~1000 texts
        await interleaved(client, predictor, "/v1/predict", [[t] for t in warm[:20]])
        await interleaved(client, predictor, "/v1/predict/batch", [warm[:BATCH]])
        await concurrent(client, warm, CONCURRENCY)
        await log.predictions(20 + len(warm))
        deadline = time.monotonic() + args.budget_s
        for r in range(args.rounds):
            part = texts[r * per_round : (r + 1) * per_round]
            c1, c32, batch = part[: args.c1], part[args.c1 : args.c1 + args.c32], part[args.c1 + args.c32 :]
            remote, local = await interleaved(client, predictor, "/v1/predict", [[t] for t in c1])
            phases["c1"]["http"] += remote
            phases["c1"]["local"] += local
            phases["c1"]["texts_per_s"].append(len(remote) / sum(remote))
            phases["c1"]["local_texts_per_s"].append(len(local) / sum(local))
            server_ms["c1"] += [e["latency_ms"] for e in await log.predictions(len(c1))]
            server_cpu, own_cpu = cpu_seconds(pid), time.process_time()
            remote, wall = await concurrent(client, c32, CONCURRENCY)
            c32_cpu["server_s"] += cpu_seconds(pid) - server_cpu
            c32_cpu["load_generator_s"] += time.process_time() - own_cpu
            c32_cpu["wall_s"] += wall
            phases["c32"]["http"] += remote
            phases["c32"]["texts_per_s"].append(len(remote) / wall)
            entries = await log.predictions(len(c32))
            server_ms["c32"] += [e["latency_ms"] for e in entries]
            c32_batch_sizes += [e["batch_size"] for e in entries]
            chunks = [batch[i : i + BATCH] for i in range(0, len(batch), BATCH)]
            remote, local = await interleaved(client, predictor, "/v1/predict/batch", chunks)
            phases["batch"]["http"] += remote
            phases["batch"]["local"] += local
            phases["batch"]["texts_per_s"].append(len(batch) / sum(remote))
            phases["batch"]["local_texts_per_s"].append(len(batch) / sum(local))
            if time.monotonic() > deadline:
                break
    summary = {name: summarise(values) for name, values in phases.items()}
    summary["c32_micro_batch_sizes"] = {
        "n": len(c32_batch_sizes),
        "mean": statistics.fmean(c32_batch_sizes),
        "median": statistics.median(c32_batch_sizes),
        "max": max(c32_batch_sizes),
    }
    summary["c32_cpu"] = c32_cpu
    for name, values in server_ms.items():
        summary[name]["server_latency"] = latency_stats([ms / 1000 for ms in values])
    return summary


def summarise(values: dict[str, list[float]]) -> dict:
    local, local_tps = values["local"], values["local_texts_per_s"]
    return {
        "http_latency": latency_stats(values["http"]),
        "in_process_latency": latency_stats(local) if local else None,
        "texts_per_s": values["texts_per_s"],
        "median_texts_per_s": statistics.median(values["texts_per_s"]),
        "median_in_process_texts_per_s": statistics.median(local_tps) if local_tps else None,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three phases (default 3)")
    parser.add_argument("--c1", type=int, default=100, help="sequential single-text requests per round (default 100)")
    parser.add_argument("--c32", type=int, default=1600, help="single-text requests at c=32 per round (default 1600)")
    parser.add_argument("--batches", type=int, default=5, help="batch requests of 64 texts per round (default 5)")
    parser.add_argument("--budget-s", type=float, default=300, help="start no new round after this long")
    parser.add_argument("--seed", type=int, default=0, help="seed of the texts sampled from the file (default 0)")
    common.add_texts_argument(parser)
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="server setting, e.g. TOKENIZER_WORKERS=1",
    )
    parser.add_argument("--bundle", type=Path, default=MODEL_DIR, help="model bundle to serve (default model/default)")
    parser.add_argument("--name", default="http", help="results file name (default http)")
    args = parser.parse_args(argv)
    server_env = dict(item.split("=", 1) for item in args.server_env)

    texts = load_texts(args.rounds * (args.c1 + args.c32 + args.batches * BATCH) + WARM_TEXTS, args.seed, args.texts)
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "server.log"
        with running_server(args.bundle, log, 180, server_env) as running:
            url, pid, cold_start_s = running.url, running.process.pid, running.ready_after_s
            started = time.perf_counter()
            from model.predictor import Predictor

            predictor = Predictor.load(args.bundle)
            load_s = time.perf_counter() - started
            results = asyncio.run(measure(url, pid, predictor, texts, args, ServerLog(log)))

    c1, c32, batch = results["c1"], results["c32"], results["batch"]
    slowdown = c1["http_latency"]["p50_ms"] / c1["in_process_latency"]["p50_ms"]
    scaling = c32["median_texts_per_s"] / c1["median_texts_per_s"]
    targets = [
        target("HTTP p50 / in-process p50 (single text, c=1)", slowdown, "<=", 3),
        target("texts/s at c=32 / texts/s at c=1 (single-text endpoint)", scaling, ">=", 3),
    ]
    rows = []
    for name, label in (("c1", "/v1/predict c=1"), ("c32", "/v1/predict c=32"), ("batch", "/v1/predict/batch (64)")):
        r, local, inside = (
            results[name],
            results[name]["in_process_latency"] or {},
            results[name].get("server_latency", {}),
        )
        http = r["http_latency"]
        rows.append(
            [
                label,
                http["n"],
                http["p50_ms"],
                http["p99_ms"],
                inside.get("p50_ms", "-"),
                r["median_texts_per_s"],
                local.get("p50_ms", "-"),
                r["median_in_process_texts_per_s"] or "-",
            ]
        )
    sizes = results["c32_micro_batch_sizes"]
    batch_share = batch["median_texts_per_s"] / batch["median_in_process_texts_per_s"]
    cpu, requests = results["c32_cpu"], c32["http_latency"]["n"]
    processes = (("server (uvicorn)", "server"), ("load generator (aiohttp)", "load_generator"))
    settings = ", ".join(args.server_env) or "defaults"
    sections = [
        f"Model: `{os.path.relpath(args.bundle, ROOT)}` (version {predictor.version}, tokenizer "
        f"{predictor.tokenizer.name}). Server settings: {settings}. Cold start (process start to `/readyz` 200): "
        f"{cold_start_s:.1f} s; in-process `Predictor.load` in the"
        f" load generator afterwards (TensorFlow already imported): {load_s:.1f} s.",
        "## Requests\n\n"
        + md_table(
            [
                "phase",
                "requests",
                "HTTP p50 ms",
                "HTTP p99 ms",
                "server-side p50 ms",
                "texts/s",
                "in-process p50 ms",
                "in-process texts/s",
            ],
            rows,
        )
        + "\n\nServer-side latency is the server's own access-log `latency_ms` (its middleware to its last byte)."
        " In-process figures are the same texts through `Predictor.predict` in the load generator, interleaved"
        f" with the HTTP calls. At c=32 the server's micro-batches held {sizes['mean']:.1f} texts on average"
        f" (median {sizes['median']:g}, max {sizes['max']}). HTTP batch texts/s / in-process batch texts/s ="
        f" {batch_share:.2f}.",
        "## CPU during c=32\n\n"
        + md_table(
            ["process", "cores busy", "CPU ms per request"],
            [[who, cpu[f"{key}_s"] / cpu["wall_s"], cpu[f"{key}_s"] * 1000 / requests] for who, key in processes],
        ),
        "## Targets\n\n" + targets_table(targets),
        "The load generator (aiohttp, asyncio) and the in-process Predictor run on the same 2 cores as the server,"
        " so the HTTP figures include client CPU time and contention; c=32 figures are a lower bound on what the"
        " server alone could do.",
    ]
    data = {"args": vars(args), "cold_start_s": cold_start_s, "in_process_load_s": load_s, **results}
    data["targets"] = targets
    print(write_results(args.name, "HTTP benchmark (uvicorn, 127.0.0.1)", data, sections).read_text())


if __name__ == "__main__":
    main()

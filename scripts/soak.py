"""Soak test: start a real server, send N requests at concurrency C, report errors, latency and RSS growth.

    .venv/bin/python -m scripts.soak --requests 10000 --concurrency 32 [--model-dir model/default]

Not part of `make test` (it takes minutes). Writes scripts/soak_result.json. RSS is sampled from the server
process after a warm-up round and then every second; steady growth across the run would point at a leak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

from app.launch import running_server
from training.progress import HelpWithDefaults

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "배우들 연기가 정말 좋았고 스토리도 탄탄해서 시간 가는 줄 몰랐어요",
    "최악의 영화. 시간 아깝다 ㅡㅡ",
    "그냥 그랬음",
    "이모지 😀 섞인 문장 최고",
    "음악은 좋았는데 결말이 아쉽네요 " * 5,
]


async def soak(url: str, total: int, concurrency: int, server: psutil.Process) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    rss: list[tuple[float, int]] = []
    sent = 0
    started = time.perf_counter()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal sent
        while sent < total:
            index = sent
            sent += 1
            begin = time.perf_counter()
            try:
                response = await client.post("/v1/predict", json={"text": f"{TEXTS[index % len(TEXTS)]} {index}"})
                if response.status_code != 200:
                    errors[str(response.status_code)] = errors.get(str(response.status_code), 0) + 1
            except httpx.HTTPError as error:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1
            latencies.append(time.perf_counter() - begin)

    async def sample() -> None:
        while sent < total:
            rss.append((round(time.perf_counter() - started, 1), server.memory_info().rss))
            await asyncio.sleep(1)

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        sampler = asyncio.create_task(sample())
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        sampler.cancel()
    elapsed = time.perf_counter() - started
    rss.append((round(elapsed, 1), server.memory_info().rss))
    ms = np.array(latencies) * 1000
    return {
        "requests": total,
        "concurrency": concurrency,
        "errors": errors,
        "error_count": sum(errors.values()),
        "elapsed_s": round(elapsed, 1),
        "throughput_rps": round(total / elapsed, 1),
        "latency_ms": {q: round(float(np.percentile(ms, p)), 1) for q, p in (("p50", 50), ("p90", 90), ("p99", 99))}
        | {"max": round(float(ms.max()), 1)},
        "rss_mb": {
            "start": round(rss[0][1] / 2**20, 1),
            "end": round(rss[-1][1] / 2**20, 1),
            "max": round(max(r for _, r in rss) / 2**20, 1),
            "growth": round((rss[-1][1] - rss[0][1]) / 2**20, 1),
        },
        "rss_samples_mb": [(t, round(r / 2**20, 1)) for t, r in rss[:: max(1, len(rss) // 30)]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.soak", description=__doc__.split("\n")[0], formatter_class=HelpWithDefaults
    )
    parser.add_argument("--requests", type=int, default=10_000, help="requests measured after the warm-up")
    parser.add_argument("--concurrency", type=int, default=32, help="clients sending at once")
    parser.add_argument("--warm-up", type=int, default=200, help="requests sent before RSS is first measured")
    parser.add_argument("--model-dir", type=Path, default=ROOT / "model" / "default", help="bundle the server loads")
    parser.add_argument("--out", type=Path, default=ROOT / "scripts" / "soak_result.json", help="results file")
    args = parser.parse_args()

    log = Path(tempfile.mkdtemp(prefix="soak-")) / "server.log"
    with running_server(args.model_dir, log, 180, {"LOG_LEVEL": "warning"}) as running:
        server = psutil.Process(running.process.pid)
        asyncio.run(soak(running.url, args.warm_up, args.concurrency, server))
        result = asyncio.run(soak(running.url, args.requests, args.concurrency, server))
    result |= {"model_dir": str(args.model_dir), "warm_up_requests": args.warm_up, "server_log": str(log)}
    args.out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "rss_samples_mb"}, indent=2))


if __name__ == "__main__":
    main()

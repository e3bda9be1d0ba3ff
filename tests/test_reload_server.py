"""Hot reload in a real uvicorn process under concurrent load: no request fails while the model is swapped."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from app.launch import running_server
from tests.registry_helpers import add_version, copy_root

pytestmark = pytest.mark.slow

TOKEN = "test-admin-token-0123456789"
CORRUPT = "29990101-000000-0000000c"
TEXTS = ["배우들 연기가 정말 좋았어요", "최악의 영화. 시간 아깝다 ㅡㅡ", "그냥 그랬음", "이모지 😀 섞인 문장 최고"]
MIN_REQUESTS, MAX_REQUESTS, CONCURRENCY = 300, 3000, 16


def test_reload_under_load_fails_no_request(published_root: Path, tmp_path: Path) -> None:
    root, (first, second) = copy_root(published_root, tmp_path / "models", current=0)
    add_version(root, first, CORRUPT, flip_model_byte=True)
    answers: list[tuple[float, int, str | None]] = []  # (started at, status, model version)
    swaps: dict[str, float] = {}  # reload -> when its answer arrived
    reloads: dict[str, httpx.Response] = {}

    async def load(client: httpx.AsyncClient, worker: int) -> None:
        # Keep going until both reloads answered and MIN_REQUESTS were sent; never past MAX_REQUESTS.
        for i in range(MAX_REQUESTS // CONCURRENCY):
            if len(reloads) == 2 and len(answers) >= MIN_REQUESTS:
                return
            started = time.monotonic()
            response = await client.post("/v1/predict", json={"text": f"{TEXTS[(worker + i) % len(TEXTS)]} {i}"})
            version = response.json()["model"]["version"] if response.status_code == 200 else None
            answers.append((started, response.status_code, version))

    async def swap(client: httpx.AsyncClient) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        # Each reload waits for this many more answers, counted from the previous reload's answer: a slow
        # first swap must not let the second follow at once, before any request reached the new model.
        for version, more in ((second, 60), (CORRUPT, 90)):
            wanted = len(answers) + more
            for _ in range(600):  # wait (bounded) until that many requests were answered
                if len(answers) >= wanted:
                    break
                await asyncio.sleep(0.05)
            reloads[version] = await client.post("/v1/admin/reload", json={"version": version}, headers=headers)
            swaps[version] = time.monotonic()

    async def run(url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            await asyncio.gather(swap(client), *(load(client, w) for w in range(CONCURRENCY)))

    with running_server(root, tmp_path / "server.log", env={"ADMIN_TOKEN": TOKEN}) as server:
        asyncio.run(run(server.url))
        info = httpx.get(f"{server.url}/v1/model", timeout=30).json()

    assert reloads[second].status_code == 200, reloads[second].text
    assert reloads[CORRUPT].status_code == 409, reloads[CORRUPT].text
    assert "sha256 does not match" in reloads[CORRUPT].json()["detail"]
    assert MIN_REQUESTS <= len(answers) <= MAX_REQUESTS
    assert [status for _, status, _ in answers if status != 200] == []
    after = [v for started, _, v in answers if started > swaps[second]]
    assert set(v for _, _, v in answers) == {first, second}  # both models answered; the corrupt one never did
    assert after and set(after) == {second}, "a request sent after the swap was answered by the old model"
    assert info["version"] == second
    assert info["last_reload"]["ok"] is False and "sha256 does not match" in info["last_reload"]["reason"]

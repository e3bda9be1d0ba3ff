"""The real server under more work than it can take: refusing beyond MAX_PENDING_TEXTS, and dropping the work of
clients that left. Both need a real uvicorn process: only a real connection closes."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest

from app.launch import RunningServer, running_server
from tests.conftest import FIXTURES

pytestmark = pytest.mark.slow
MAX_PENDING_TEXTS = 64


@pytest.fixture(scope="module")
def server(default_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("server-load") / "server.log"
    env = {"MAX_PENDING_TEXTS": str(MAX_PENDING_TEXTS), "METRICS": "public"}
    with running_server(default_bundle, log, env=env) as running:
        yield running


def long_texts(count: int) -> list[str]:
    """`count` different 2,000-character texts of real reviews: a batch of 60 keeps the model busy for seconds."""
    documents = pd.read_csv(FIXTURES / "nsmc_test_1k.tsv", sep="\t", keep_default_na=False)["document"]
    joined = " ".join(documents)
    return [joined[i * 500 : i * 500 + 2000] for i in range(count)]


def pending_texts(server: RunningServer) -> float:
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    return float(re.search(r"^texts_pending (\S+)$", metrics, re.MULTILINE).group(1))


def test_a_full_queue_refuses_at_once_and_a_client_that_leaves_costs_no_model_time(server: RunningServer) -> None:
    url = f"{server.url}/v1/predict/batch"
    assert pending_texts(server) == 0
    with ThreadPoolExecutor(1) as pool:
        busy = pool.submit(httpx.post, url, json={"texts": long_texts(60)}, timeout=300)
        deadline = time.monotonic() + 30
        while pending_texts(server) < 60:  # the busy batch is taken (and holds the model for seconds)
            assert not busy.done(), f"the busy batch was answered before it was seen pending: {busy.result().text}"
            assert time.monotonic() < deadline, "the busy batch was not taken within 30 s"
            time.sleep(0.005)
        probe = httpx.post(url, json={"texts": ["좋다"] * 5}, timeout=60)  # 60 + 5 texts: over the limit
        with pytest.raises(httpx.ReadTimeout):  # 1 more text fits, and waits for the busy batch: the client leaves
            httpx.post(url, json={"texts": ["지루하다"]}, timeout=0.3)
        answered = busy.result()

    assert probe.status_code == 503, probe.text
    assert probe.headers["retry-after"] == "1"
    assert probe.json() == {
        "detail": f"service busy: 60 texts are waiting for the model and 5 more would pass the limit of "
        f"{MAX_PENDING_TEXTS} (MAX_PENDING_TEXTS); retry shortly"
    }
    assert answered.status_code == 200 and len(answered.json()["predictions"]) == 60

    batches = [line for line in server.log_lines() if line.get("path") == "/v1/predict/batch"]
    statuses = [line["status"] for line in batches]
    assert statuses.count(499) == 1 and statuses[-1] == 200 and statuses[-2] == 499
    # the client left while its text waited behind the busy batch, and its handler ended then: it was never
    # predicted, since whole batches take turns and the busy one was answered only afterwards
    left, busy_line = batches[-2], batches[-1]
    assert left["latency_ms"] < busy_line["latency_ms"] and "texts" not in left
    assert pending_texts(server) == 0
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    assert f"texts_pending_limit {MAX_PENDING_TEXTS}.0" in metrics
    assert 'http_requests_total{method="POST",route="/v1/predict/batch",status="499"} 1.0' in metrics
    assert 'http_requests_total{method="POST",route="/v1/predict/batch",status="503"} 1.0' in metrics

    after = httpx.post(f"{server.url}/v1/predict", json={"text": "다시 보고 싶은 영화"}, timeout=60)
    assert after.status_code == 200 and after.json()["label"] in ("negative", "positive")


def gone_batches(server: RunningServer) -> float:
    metrics = httpx.get(f"{server.url}/metrics", timeout=30).text
    series = re.escape('http_requests_total{method="POST",route="/v1/predict/batch",status="499"}')
    found = re.search(rf"^{series} (\S+)$", metrics, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_a_client_that_leaves_while_its_batch_is_in_the_model_is_logged_as_gone(server: RunningServer) -> None:
    """The model call already running finishes in its thread, but its answer has no one to go to: 499, not 200."""

    def predicted_batches() -> list[dict]:
        return [line for line in server.log_lines() if line.get("path") == "/v1/predict/batch" and "texts" in line]

    before, earlier = gone_batches(server), len(predicted_batches())
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{server.url}/v1/predict/batch", json={"texts": long_texts(60)}, timeout=1.0)
    deadline = time.monotonic() + 120
    while len(lines := predicted_batches()) == earlier:
        assert time.monotonic() < deadline, "the abandoned batch never finished"
        time.sleep(0.05)
    assert lines[-1]["status"] == 499 and lines[-1]["latency_ms"] > 1000  # it ran in the model, then found no one
    assert gone_batches(server) == before + 1
    assert httpx.post(f"{server.url}/v1/predict", json={"text": "다시 보고 싶은 영화"}, timeout=60).status_code == 200

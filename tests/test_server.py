"""The real server: `python -m app` under uvicorn, real HTTP, concurrent clients, SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.launch import ROOT, RunningServer, free_port, running_server
from model.layout import sha256_file
from model.predictor import Prediction, Predictor
from tests.conftest import popen_hearing_ctrl_c

TEXTS = [
    "배우들 연기가 정말 좋았고 스토리도 탄탄해서 시간 가는 줄 몰랐어요",
    "최악의 영화. 시간 아깝다 ㅡㅡ",
    "그냥 그랬음",
    "이모지 😀 섞인 문장 최고",
]
BODY_TIMEOUT_S = 1.5
MAX_BODY_BYTES = 24 * 2**20  # room for a body larger than the socket buffers hold
SECRET = "이 문장은 로그에 남으면 안 되는 비밀 문장입니다"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    env = {"MICROBATCH_MAX_WAIT_MS": "5", "BODY_TIMEOUT_S": str(BODY_TIMEOUT_S), "MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with running_server(tiny_bundle, log, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def reference(tiny_bundle: Path) -> Predictor:
    return Predictor.load(tiny_bundle)


def assert_same(answer: dict, expected: Prediction) -> None:
    assert answer["label"] == expected.label
    assert np.allclose(
        [answer["probabilities"][label] for label in expected.probabilities],
        list(expected.probabilities.values()),
        atol=1e-4,
    )
    assert [(t["text"], t["start"], t["end"], t["oov"]) for t in answer["tokens"]] == [
        (t.text, t.start, t.end, t.oov) for t in expected.tokens
    ]
    assert np.allclose([t["attention"] for t in answer["tokens"]], [t.attention for t in expected.tokens], atol=1e-4)
    assert answer["truncated"] == expected.truncated


def test_single_and_batch_answers_equal_the_in_process_predictor(server: RunningServer, reference: Predictor) -> None:
    expected = reference.predict(TEXTS)
    for text, prediction in zip(TEXTS, expected, strict=True):
        response = httpx.post(f"{server.url}/v1/predict", json={"text": text}, timeout=30)
        assert response.status_code == 200, response.text
        assert_same(response.json(), prediction)
    response = httpx.post(f"{server.url}/v1/predict/batch", json={"texts": TEXTS}, timeout=30)
    assert response.status_code == 200, response.text
    for answer, prediction in zip(response.json()["predictions"], expected, strict=True):
        assert_same(answer, prediction)


def test_concurrent_requests_are_micro_batched_and_answered_correctly(
    server: RunningServer, reference: Predictor
) -> None:
    texts = [f"{TEXTS[i % len(TEXTS)]} {i}번" for i in range(49)] + [SECRET]

    async def send_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            return await asyncio.gather(*(client.post("/v1/predict", json={"text": text}) for text in texts))

    responses = asyncio.run(send_all())
    assert [r.status_code for r in responses] == [200] * len(texts)
    for response, prediction in zip(responses, reference.predict(texts), strict=True):
        assert_same(response.json(), prediction)
    sizes = [line["batch_size"] for line in server.log_lines() if line.get("path") == "/v1/predict"]
    assert max(sizes) > 1, f"no two concurrent requests shared a model call: {sizes}"


def test_errors_over_real_http_are_json(server: RunningServer) -> None:
    limit = MAX_BODY_BYTES
    too_big = httpx.post(
        f"{server.url}/v1/predict", content=b"x" * (limit + 1), headers={"content-type": "application/json"}, timeout=30
    )
    assert too_big.status_code == 413 and f"limit is {limit} bytes" in too_big.json()["detail"]
    streamed = httpx.post(
        f"{server.url}/v1/predict",
        content=iter([b"x" * 100_000] * (limit // 100_000 + 1)),
        headers={"content-type": "application/json"},
        timeout=30,
    )
    assert streamed.status_code == 413 and streamed.json()["detail"].startswith("request body is over")
    blank = httpx.post(f"{server.url}/v1/predict", json={"text": "   "}, timeout=30)
    assert blank.status_code == 422 and blank.json()["detail"][0]["msg"].startswith("text must not be empty")
    assert httpx.get(f"{server.url}/nope", timeout=30).json()["detail"].startswith("no route for GET /nope")
    # http.client sends the whole body before it reads a byte: the 415 must wait for the body, or uvicorn closes
    # the connection under the client still sending (a reset instead of the 415, for bodies over ~1.5 MB)
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    body = os.urandom(limit - 1000)
    connection.request("POST", "/v1/predict", body, {"content-type": "application/json", "content-encoding": "gzip"})
    coded = connection.getresponse()
    assert coded.status == 415 and json.loads(coded.read())["detail"].startswith("request body is sent with Content")
    connection.close()


def raw_exchange(server: RunningServer, request: bytes, pauses: Sequence[tuple[float, bytes]] = ()) -> bytes:
    """Send `request`, then each (seconds, bytes) of `pauses` until the server stops reading, over one socket;
    everything the server sent until it closed the connection."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10 * BODY_TIMEOUT_S) as connection:
        connection.sendall(request)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for seconds, more in pauses:
                time.sleep(seconds)
                connection.sendall(more)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received


def test_a_body_that_stops_arriving_gets_408_and_the_connection_is_closed(server: RunningServer) -> None:
    body = json.dumps({"text": TEXTS[0]}).encode()
    head = (
        b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    started = time.monotonic()
    answer = raw_exchange(server, head + body[:10])  # returns only once the server closed the connection
    waited = time.monotonic() - started
    status, _, content = answer.partition(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 408 "), answer[:300]
    assert b"connection: close" in status.lower()
    detail = json.loads(content)["detail"]
    assert f"not received within {BODY_TIMEOUT_S:g} s (10 of {len(body)} bytes arrived)" in detail
    assert waited >= BODY_TIMEOUT_S * 0.9  # not refused early: the body had the whole allowance

    # A client that keeps trickling bytes gets no more time than one that stopped: the allowance is for the
    # whole body, not for each part.
    trickled = raw_exchange(server, head + body[:1], [(BODY_TIMEOUT_S / 3, body[i : i + 1]) for i in range(1, 12)])
    assert trickled.startswith(b"HTTP/1.1 408 "), trickled[:300]

    # A body sent in two parts, the second well within the allowance, is read whole and answered.
    close = head.replace(b"Host: test", b"Host: test\r\nConnection: close")
    split = raw_exchange(server, close + body[:10], [(BODY_TIMEOUT_S / 3, body[10:])])
    assert split.startswith(b"HTTP/1.1 200 "), split[:300]
    assert json.loads(split.partition(b"\r\n\r\n")[2])["label"] in ("negative", "positive")


def test_sigterm_finishes_the_requests_in_flight_and_takes_no_new_ones(server: RunningServer) -> None:
    """A batch still being tokenized when SIGTERM arrives gets its whole answer; a new connection is refused."""
    texts = [f"{i}번째 리뷰는 " + "배우들 연기가 정말 좋았고 스토리도 탄탄했어요 " * 40 for i in range(64)]
    answers: list[httpx.Response] = []
    answered_at: list[float] = []

    def send_batch() -> None:
        answers.append(httpx.post(f"{server.url}/v1/predict/batch", json={"texts": texts}, timeout=120))
        answered_at.append(time.monotonic())

    sender = threading.Thread(target=send_batch)
    sender.start()
    time.sleep(0.5)  # the body is in; tokenizing 64 texts of ~1,900 characters takes seconds on two cores
    signalled_at = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=5).close()
    sender.join(120)
    assert answers and answers[0].status_code == 200, answers
    assert answered_at[0] > signalled_at  # it was still in flight when the signal came
    assert len(answers[0].json()["predictions"]) == len(texts)

    returncode = server.process.wait(30)
    assert returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a graceful shutdown
    lines = server.log_lines()
    messages = [line["message"] for line in lines]
    assert "model worker stopped" in messages and "Application shutdown complete." in messages
    access = [line for line in lines if line["logger"] == "app.access"]
    assert access and all({"method", "path", "status", "latency_ms"} <= set(line) for line in access)
    assert SECRET not in server.log.read_text("utf-8", errors="replace")


def test_connections_are_refused_until_the_model_is_ready(tiny_bundle: Path, tmp_path: Path) -> None:
    """`python -m app` binds its port only after the model has loaded: a client sees a refused connection,
    never a half-started server (a 503 from /readyz)."""
    port = free_port()
    outcomes: list[str] = []
    with (tmp_path / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "--port", str(port)],
            cwd=ROOT,
            env={**os.environ, "MODEL_DIR": str(tiny_bundle)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "ready" not in outcomes and process.poll() is None and time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
                outcomes.append("ready" if response.status_code == 200 else str(response.status_code))
            except httpx.ConnectError:
                outcomes.append("refused")
                time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(30)
    assert outcomes[-1] == "ready", outcomes[-5:]
    assert set(outcomes) == {"refused", "ready"}, sorted(set(outcomes))


def test_a_bundle_keras_refuses_stops_the_start_with_exit_code_3(tiny_bundle: Path, tmp_path: Path) -> None:
    """A model.keras that passes the manifest's checks (its hash is updated) but is no Keras file."""
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    (bundle / "model.keras").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip archive
    manifest = json.loads((bundle / "manifest.json").read_text("utf-8"))
    manifest["files"]["model.keras"] = sha256_file(bundle / "model.keras")
    (bundle / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "app", "--port", str(free_port())],
        cwd=ROOT,
        env={**os.environ, "MODEL_DIR": str(bundle)},
        capture_output=True,
        timeout=300,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    records = [json.loads(line) for line in done.stderr.decode("utf-8", "replace").splitlines() if line.startswith("{")]
    assert any("model.keras" in record["message"] for record in records if record["level"] == "error"), records[-5:]


def test_jvm_options_are_blamed_for_what_they_break_not_the_bundle(tiny_bundle: Path) -> None:
    """JVM_OPTIONS that cannot be split stop the start at once with one line; options the JVM refuses stop it
    once the model loads, with an error that names the tokenizer, since the bundle is fine."""

    def start(jvm_options: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "MODEL_DIR": str(tiny_bundle), "JVM_OPTIONS": jvm_options}
        command = [sys.executable, "-m", "app", "--port", str(free_port())]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    unsplittable = start("'-Xmx")
    assert unsplittable.returncode == 2
    assert unsplittable.stderr == (
        'python -m app: JVM_OPTIONS="\'-Xmx" cannot be split into options: No closing quotation\n'
    )
    refused = start("-Xbogus")
    assert refused.returncode == 3, refused.stderr[-2000:]
    errors = [json.loads(line)["message"] for line in refused.stderr.splitlines() if '"level": "error"' in line]
    assert any(
        message.startswith("cannot start the model's tokenizer: the JVM did not start with options ['-Xbogus']")
        for message in errors
    ), errors
    assert not any("cannot load the model bundle" in message for message in errors)


def test_jvm_options_are_checked_only_for_a_bundle_whose_tagger_runs_in_the_jvm(
    tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Kiwi or mecab bundle never starts a JVM, so JVM_OPTIONS it never reads do not stop it from serving."""
    from app.__main__ import check_jvm_options
    from model.tokenizer import TokenizerError

    native = Path(shutil.copytree(tiny_bundle, tmp_path / "native"))
    config = json.loads((native / "config.json").read_text("utf-8"))
    (native / "config.json").write_text(json.dumps({**config, "tokenizer": {"name": "kiwi", "options": {}}}), "utf-8")
    monkeypatch.setenv("JVM_OPTIONS", "'-Xmx")
    check_jvm_options(native)
    with pytest.raises(TokenizerError, match="cannot be split into options"):
        check_jvm_options(tiny_bundle)


@pytest.mark.parametrize(
    ("sig", "library", "status", "name"),
    [
        (signal.SIGINT, "libjvm.so", -signal.SIGINT, "Ctrl-C"),  # the JVM is starting, or the tagger loading
        (signal.SIGTERM, "_pywrap_tensorflow_internal.so", -signal.SIGTERM, "SIGTERM"),  # TensorFlow's import
    ],
)
def test_a_stop_signal_while_starting_ends_the_process_at_once_with_one_line(
    tiny_bundle: Path, sig: int, library: str, status: int, name: str
) -> None:
    """Before uvicorn takes over the signals, Ctrl-C or SIGTERM ends `python -m app` with one JSON line, by
    that signal (a shell reports 130 or 143): no KeyboardInterrupt traceback from inside the JVM or
    TensorFlow, no abort. The signal is sent once the process has mapped the library whose start it
    interrupts."""
    process = popen_hearing_ctrl_c(
        [sys.executable, "-m", "app", "--port", str(free_port())],
        env={**os.environ, "MODEL_DIR": str(tiny_bundle)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while library not in (maps := Path(f"/proc/{process.pid}/maps").read_text()) and time.monotonic() < deadline:
            assert process.poll() is None, "the server ended before it could be stopped"
            time.sleep(0.005)
        assert library in maps, f"{library} was never loaded: the test needs another library to wait for"
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    text = stderr.decode("utf-8", "replace")
    assert process.returncode == status, text[-2000:]
    assert "Traceback" not in text and "terminate called" not in text, text[-2000:]
    last = json.loads(text.splitlines()[-1])
    assert (last["level"], last["message"]) == ("warning", f"{name} while starting: not serving")
    assert not any("Uvicorn running" in line for line in text.splitlines())


def test_every_log_line_is_json_and_tensorflow_lines_are_native_records(tiny_bundle: Path, tmp_path: Path) -> None:
    """TensorFlow writes C++ lines to fd 2 at import and first trace; they arrive as `native` records.

    Which lines it writes depends on the CPU (its oneDNN notice appears on some hosts only), so the server
    runs with TF_CPP_MIN_LOG_LEVEL=0, where the import always reports the CPU features it was not built for.
    """
    env = {"LOG_LEVEL": "debug", "TF_CPP_MIN_LOG_LEVEL": "0"}
    with running_server(tiny_bundle, tmp_path / "server.log", env=env) as debug_server:
        assert httpx.post(f"{debug_server.url}/v1/predict", json={"text": TEXTS[0]}, timeout=30).status_code == 200
    lines = debug_server.log_lines()  # raises on a line that is not JSON
    native = [line for line in lines if line["logger"] == "native"]
    features = [line for line in native if line.get("source", "").startswith("cpu_feature_guard.cc")]
    assert features and features[0]["level"] == "info"  # its own severity, kept at TF_CPP_MIN_LOG_LEVEL=0
    assert "To enable the following instructions" in features[0]["message"]  # its second line, not a record
    assert all(line["level"] in ("debug", "info") for line in native)  # notices only: nothing wrong at startup
    assert any(line["message"] == "model loaded" for line in lines)

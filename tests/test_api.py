"""The HTTP API in process: every route, every error, with the real Predictor on the tiny bundle."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app import main as app_main
from app.deps import get_predictor
from app.main import create_app
from app.schemas import EXAMPLE_TEXT, EXAMPLE_TEXTS
from app.settings import Settings, SettingsError, get_settings, largest_batch_bytes
from model.bundle import BundleError
from tests.conftest import DEFAULT_BUNDLE, ROOT
from tests.registry_helpers import copy_root

KOREAN = "배우들 연기가 정말 좋았고 스토리도 탄탄해서 시간 가는 줄 몰랐어요"
ODD_TEXTS = [
    "  앞뒤 공백  ",
    "줄\n바꿈\r\n그리고\t탭",
    "이모지 😀👍 섞인 문장 최고",
    "NFD 한글: \u1112\u1161\u11ab\u1100\u1173\u11af",
    "zero\u200bwidth 공백 없는 띄어쓰기",
    "ㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋ",
    "English only, no Hangul!",
    "\u3000전각 공백",
    "!!!",
]


@pytest.fixture(scope="module")
def client(tiny_bundle: Path) -> Iterator[TestClient]:
    # raise_server_exceptions=False: a 500 must show up as a response the tests can assert on.
    with TestClient(create_app(Settings(MODEL_DIR=tiny_bundle)), raise_server_exceptions=False) as client:
        yield client


def predict(client: TestClient, text: str) -> dict:
    response = client.post("/v1/predict", json={"text": text})
    assert response.status_code == 200, response.text
    return response.json()


def assert_well_formed(text: str, prediction: dict, labels: list[str]) -> None:
    assert prediction["label"] in labels
    assert set(prediction["probabilities"]) == set(labels)
    assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    assert prediction["label"] == max(prediction["probabilities"], key=prediction["probabilities"].get)
    for token in prediction["tokens"]:
        assert text[token["start"] : token["end"]] == token["text"]
    if prediction["tokens"]:
        assert sum(t["attention"] for t in prediction["tokens"]) == pytest.approx(1.0, abs=1e-5)


# --- answers -----------------------------------------------------------------------------------


def test_predict_answers_label_probabilities_and_attention(client: TestClient, tiny_bundle: Path) -> None:
    prediction = predict(client, KOREAN)
    assert_well_formed(KOREAN, prediction, ["negative", "positive"])
    assert len(prediction["tokens"]) >= 5 and prediction["truncated"] is False
    assert set(prediction["tokens"][0]) == {"text", "start", "end", "attention", "oov"}
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    assert prediction["model"] == {"name": tiny_bundle.name, "version": manifest["version"]}


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_token_offsets_index_the_text_as_submitted(client: TestClient, text: str) -> None:
    assert_well_formed(text, predict(client, text), ["negative", "positive"])


def test_decomposed_hangul_gets_the_answer_of_the_composed_text(client: TestClient) -> None:
    """Text pasted as conjoining jamo (NFD, as from macOS) is read as the syllables it shows; its spans
    still index the text as submitted."""
    decomposed = unicodedata.normalize("NFD", KOREAN)
    composed, answer = predict(client, KOREAN), predict(client, decomposed)
    assert_well_formed(decomposed, answer, ["negative", "positive"])
    assert answer["label"] == composed["label"]
    assert answer["probabilities"] == pytest.approx(composed["probabilities"], abs=1e-6)
    assert [t["oov"] for t in answer["tokens"]] == [t["oov"] for t in composed["tokens"]]
    assert [t["attention"] for t in answer["tokens"]] == pytest.approx([t["attention"] for t in composed["tokens"]])


def test_long_text_is_truncated_not_refused(client: TestClient) -> None:
    text = ("정말 재밌는 영화 " * 400)[:2000]
    prediction = predict(client, text)
    assert prediction["truncated"] is True
    assert_well_formed(text, prediction, ["negative", "positive"])
    assert prediction["tokens"][-1]["attention"] == 0.0


def test_batch_keeps_request_order_and_equals_single_predictions(client: TestClient) -> None:
    texts = [KOREAN, "최악의 영화. 시간 아깝다 ㅡㅡ", "ㅋ", KOREAN, *ODD_TEXTS[:3]]
    response = client.post("/v1/predict/batch", json={"texts": texts})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(texts)
    for text, batched in zip(texts, predictions, strict=True):
        single = predict(client, text)
        assert batched["label"] == single["label"]
        assert np.allclose(list(batched["probabilities"].values()), list(single["probabilities"].values()), atol=1e-5)
        assert [t["text"] for t in batched["tokens"]] == [t["text"] for t in single["tokens"]]
        assert np.allclose([t["attention"] for t in batched["tokens"]], [t["attention"] for t in single["tokens"]])
        assert_well_formed(text, batched, ["negative", "positive"])


def test_batch_at_the_limit_is_accepted(client: TestClient) -> None:
    response = client.post("/v1/predict/batch", json={"texts": [f"영화 {i}점" for i in range(64)]})
    assert response.status_code == 200
    assert len(response.json()["predictions"]) == 64


@pytest.mark.parametrize("piece", ["정말 재밌는 영화 ", "😀"])
def test_the_largest_valid_batch_fits_the_default_body_limit_even_escaped(client: TestClient, piece: str) -> None:
    """MAX_BATCH_TEXTS texts of MAX_TEXT_CHARS characters, written as json.dumps writes them by default: Hangul
    as 6-byte \\uXXXX escapes, an emoji as a 12-byte surrogate pair (the most a character can take)."""
    settings = client.app.state.settings
    texts = [(piece * settings.MAX_TEXT_CHARS)[: settings.MAX_TEXT_CHARS] for _ in range(settings.MAX_BATCH_TEXTS)]
    body = json.dumps({"texts": texts}).encode()
    assert len(body) > 262_144  # the fixed limit it had before, which refused this with a 413
    response = client.post("/v1/predict/batch", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text[:300]
    assert len(response.json()["predictions"]) == len(texts)


def test_model_info_describes_the_bundle(client: TestClient, tiny_bundle: Path) -> None:
    response = client.get("/v1/model")
    assert response.status_code == 200
    info = response.json()
    manifest = json.loads((tiny_bundle / "manifest.json").read_text())
    metrics = json.loads((tiny_bundle / "metrics.json").read_text())
    assert info["name"] == tiny_bundle.name and info["version"] == manifest["version"]
    assert info["created_at"] == manifest["created_at"]
    assert info["labels"] == ["negative", "positive"]
    assert info["tokenizer"]["name"] == "okt" and isinstance(info["tokenizer"]["options"], dict)
    assert info["max_len"] > 0 and info["vocab_size"] == len(
        json.loads((tiny_bundle / "vocab.json").read_text())["tokens"]
    )
    assert info["training_data"] == manifest["data"]
    assert info["evaluation"]["test"]["accuracy"] == metrics["test"]["accuracy"]
    assert info["evaluation"]["validation"]["macro_f1"] == metrics["validation"]["macro_f1"]
    assert info["metrics"] == metrics


def test_health_and_readiness_after_startup(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_docs_and_openapi_show_korean_examples(client: TestClient) -> None:
    docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger-ui" in docs.text and "/openapi.json" in docs.text
    raw = client.get("/openapi.json")
    assert EXAMPLE_TEXT.encode() in raw.content  # UTF-8, not \u escapes
    schemas = raw.json()["components"]["schemas"]
    assert schemas["PredictRequest"]["examples"] == [{"text": EXAMPLE_TEXT}]
    assert schemas["BatchPredictRequest"]["examples"] == [{"texts": EXAMPLE_TEXTS}]
    texts = schemas["BatchPredictRequest"]["properties"]["texts"]
    assert "maxItems" not in texts and "MAX_BATCH_TEXTS" in texts["description"]  # the schema's 10,000 is internal
    paths = raw.json()["paths"]
    assert {"/v1/predict", "/v1/predict/batch", "/v1/model", "/healthz", "/readyz"} <= set(paths)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_load_their_scripts_from_this_server(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and all(url.startswith("/docs-assets/") for url in assets), assets
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 0, url
    assert "fonts.googleapis" not in page.text and "cdn." not in page.text


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_allow_only_this_origin_and_their_own_inline_script(client: TestClient, path: str) -> None:
    page = client.get(path)
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    inline = re.findall(r"<script>(.*?)</script>", page.text, re.DOTALL)
    hashes = {f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline}
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'self'"
    assert set(policy["script-src"].split()) == {"'self'"} | hashes
    assert (len(inline), "unsafe" in policy["script-src"]) == ((1 if path == "/docs" else 0), False)


# --- errors: every one JSON, 4xx, saying what was wrong -------------------------------------------

BAD_REQUESTS = [
    # (path, request kwargs, status, loc, message fragment)
    ("/v1/predict", {"json": {"text": ""}}, 422, ["body", "text"], "text must not be empty or only whitespace"),
    ("/v1/predict", {"json": {"text": " \n\t\u3000"}}, 422, ["body", "text"], "must not be empty or only whitespace"),
    # zero-width space, byte order mark, zero-width joiner: nothing that shows, so nothing to classify
    ("/v1/predict", {"json": {"text": "\u200b \ufeff\u200d"}}, 422, ["body", "text"], "and invisible characters"),
    # Hangul fillers (U+3164: the "transparent character"), blank braille, combining marks with no letter
    ("/v1/predict", {"json": {"text": "\u3164 \u115f\u1160\uffa0"}}, 422, ["body", "text"], "invisible characters"),
    ("/v1/predict", {"json": {"text": "\u2800\u034f\u0301\u20dd"}}, 422, ["body", "text"], "invisible characters"),
    ("/v1/predict", {"json": {"text": "\x7f"}}, 422, ["body", "text"], "control character U+007F at position 0"),
    ("/v1/predict", {"json": {"text": "좋아\x85요"}}, 422, ["body", "text"], "control character U+0085 at position 2"),
    (
        "/v1/predict",
        {"json": {"text": "가" * 2001}},
        422,
        ["body", "text"],
        "text has 2001 characters; the limit is 2000",
    ),
    ("/v1/predict", {"json": {"text": 123}}, 422, ["body", "text"], "valid string"),
    ("/v1/predict", {"json": {"text": None}}, 422, ["body", "text"], "valid string"),
    ("/v1/predict", {"json": {"text": ["영화"]}}, 422, ["body", "text"], "valid string"),
    ("/v1/predict", {"json": {}}, 422, ["body", "text"], "Field required"),
    ("/v1/predict", {"json": {"text": "좋아", "lang": "ko"}}, 422, ["body", "lang"], "Extra inputs are not permitted"),
    ("/v1/predict", {"json": ["영화"]}, 422, ["body"], "request body must be a JSON object"),
    ("/v1/predict", {"json": "영화"}, 422, ["body"], "request body must be a JSON object"),
    ("/v1/predict", {}, 422, ["body"], "request body is missing"),
    (
        "/v1/predict",
        {"content": b'{"text": "\xec\x98\x81\xed\x99\x94"', "headers": {"content-type": "application/json"}},
        422,
        ["body"],
        "request body is not valid JSON",
    ),
    (
        "/v1/predict",
        {"content": b"\xff\xfe not utf-8", "headers": {"content-type": "application/json"}},
        422,
        ["body"],
        "request body is not valid JSON",
    ),
    (
        "/v1/predict",
        {"content": '{"text": "영화"}'.encode(), "headers": {"content-type": "text/plain"}},
        422,
        ["body"],
        "Content-Type: application/json",
    ),
    (
        "/v1/predict",
        {"content": b'{"text": "a\\ud800b"}', "headers": {"content-type": "application/json"}},
        422,
        ["body", "text"],
        "text contains the lone surrogate U+D800 at position 1 (U+D800-U+DFFF)",
    ),
    ("/v1/predict/batch", {"json": {"texts": []}}, 422, ["body", "texts"], "at least 1 item"),
    (
        "/v1/predict/batch",
        {"json": {"texts": ["a"] * 65}},
        422,
        ["body", "texts"],
        "batch has 65 texts; the limit is 64",
    ),
    ("/v1/predict/batch", {"json": {"texts": "영화"}}, 422, ["body", "texts"], "valid list"),
    ("/v1/predict/batch", {"json": {"texts": ["좋다", "  "]}}, 422, ["body", "texts", 1], "must not be empty"),
    ("/v1/predict/batch", {"json": {"texts": ["좋다", 7]}}, 422, ["body", "texts", 1], "valid string"),
    (
        "/v1/predict/batch",
        {"json": {"texts": ["좋다", "나" * 2500]}},
        422,
        ["body", "texts", 1],
        "text has 2500 characters; the limit is 2000",
    ),
    ("/v1/predict/batch", {"json": {"text": "영화"}}, 422, ["body", "texts"], "Field required"),
]


@pytest.mark.parametrize(("path", "kwargs", "status", "loc", "message"), BAD_REQUESTS)
def test_bad_requests_get_a_clear_4xx(
    client: TestClient, path: str, kwargs: dict, status: int, loc: list, message: str
) -> None:
    response = client.post(path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    errors = response.json()["detail"]
    assert any(error["loc"] == loc and message in error["msg"] for error in errors), errors


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"text": "\xff"}', "it is not UTF-8 (invalid start byte at byte 10); send JSON encoded as UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "arrays or objects nested too deeply"),
        (b'{"text": "a\x01b"}', "Invalid control character at character 11"),
        (b'{"text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "arrays or objects nested too deeply"),
    ],
)
def test_a_body_json_cannot_decode_is_a_422_like_a_syntax_error(client: TestClient, body: bytes, reason: str) -> None:
    response = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    problem = {"loc": ["body"], "msg": f"request body is not valid JSON: {reason}", "type": "json_invalid"}
    assert response.json() == {"detail": [problem]}
    assert client.post("/v1/predict", json={"text": "좋아요"}).status_code == 200  # and the server answers on


def test_korean_in_a_legacy_encoding_is_told_to_come_as_utf8(client: TestClient) -> None:
    body = '{"text": "정말 재미있어요"}'.encode("cp949")
    response = client.post("/v1/predict", content=body, headers={"content-type": "application/json; charset=EUC-KR"})
    assert response.status_code == 422
    msg = response.json()["detail"][0]["msg"]
    assert msg == (
        "request body is not valid JSON: it is not UTF-8 (invalid start byte at byte 10); "
        "send JSON encoded as UTF-8, not euc-kr as the Content-Type says"
    )
    for utf8 in ('"UTF_8"', "utf8", "'UTF-8'"):  # a charset that says UTF-8 is not repeated back, however spelt
        headers = {"content-type": f"application/json; charset={utf8}"}
        message = client.post("/v1/predict", content=body, headers=headers).json()["detail"][0]["msg"]
        assert message.endswith("; send JSON encoded as UTF-8"), message
    # A charset the body really is in is not an error: UTF-16 JSON, which json.loads detects, is read.
    utf16 = client.post(
        "/v1/predict",
        content='{"text": "정말 재미있어요"}'.encode("utf-16"),
        headers={"content-type": "application/json; charset=utf-16"},
    )
    assert utf16.status_code == 200, utf16.text


def test_an_integer_python_refuses_to_read_is_named(client: TestClient) -> None:
    """json.loads refuses integers over sys.get_int_max_str_digits() digits (4,300) with a ValueError, which
    FastAPI reports as a bare 400 "error parsing the body"."""
    response = client.post(
        "/v1/predict", content=b'{"text": ' + b"7" * 5000 + b"}", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    msg = f"request body has an integer of more than {sys.get_int_max_str_digits()} digits, which Python refuses"
    assert response.json() == {"detail": [{"loc": ["body"], "msg": msg, "type": "json_invalid"}]}


def test_validation_errors_do_not_echo_the_input(client: TestClient) -> None:
    response = client.post("/v1/predict", json={"text": "비밀" * 1500})
    assert response.status_code == 422 and "비밀" not in response.text


def test_body_over_the_limit_is_refused_before_parsing(client: TestClient) -> None:
    limit = client.app.state.settings.MAX_BODY_BYTES
    body = b'{"text": "' + b"x" * limit + b'"}'
    response = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body is {len(body)} bytes; the limit is {limit} bytes"}


def test_streamed_body_over_the_limit_is_refused(client: TestClient) -> None:
    limit = client.app.state.settings.MAX_BODY_BYTES
    chunks = iter([b'{"text": "', *[b"x" * 65_536] * (limit // 65_536 + 1), b'"}'])  # no Content-Length: chunked
    response = client.post("/v1/predict", content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body is over {limit} bytes; the limit is {limit} bytes"}


def test_body_exactly_at_the_limit_is_accepted(client: TestClient) -> None:
    body = json.dumps({"text": "좋은 영화"}, ensure_ascii=False).encode()
    body += b" " * (client.app.state.settings.MAX_BODY_BYTES - len(body))  # JSON allows trailing whitespace
    response = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


def test_unknown_route_is_json_404(client: TestClient) -> None:
    response = client.get("/v1/nope")
    assert response.status_code == 404
    assert response.json() == {"detail": "no route for GET /v1/nope; see /docs for the API"}
    long = "/v1/" + "x" * 20_000
    response = client.get(long)  # the answer names the path, but does not echo 20 KB back
    assert response.json() == {"detail": f"no route for GET {long[:200]}… (20004 characters); see /docs for the API"}


def test_a_trailing_slash_is_a_json_404_not_a_redirect(client: TestClient) -> None:
    """A redirect would answer with an empty body and a Location built from the client's Host header."""
    response = client.post(
        "/v1/predict/", json={"text": "좋아요"}, headers={"host": "evil.example"}, follow_redirects=False
    )
    assert response.status_code == 404 and "location" not in response.headers
    assert response.json() == {"detail": "no route for POST /v1/predict/; see /docs for the API"}


@pytest.mark.parametrize(
    ("method", "path", "allowed"), [("GET", "/v1/predict", "POST"), ("POST", "/healthz", "GET, HEAD")]
)
def test_wrong_method_is_json_405(client: TestClient, method: str, path: str, allowed: str) -> None:
    response = client.request(method, path)
    assert response.status_code == 405 and response.headers["allow"] == allowed
    assert response.json() == {"detail": f"method {method} is not allowed on {path}; allowed: {allowed}"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/v1/model", "/", "/docs", "/static/page.css"])
def test_head_answers_like_get_without_the_body(client: TestClient, path: str) -> None:
    got, head = client.get(path), client.head(path)
    assert got.status_code == head.status_code == 200 and got.content and head.content == b""
    for header in ("content-type", "content-length"):
        assert head.headers[header] == got.headers[header]


def test_head_on_a_post_route_is_405(client: TestClient) -> None:
    response = client.head("/v1/predict")
    assert response.status_code == 405 and response.headers["allow"] == "POST" and response.content == b""


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300))
def test_no_text_causes_a_server_error(client: TestClient, text: str) -> None:
    response = client.post(
        "/v1/predict", content=json.dumps({"text": text}), headers={"content-type": "application/json"}
    )
    assert response.status_code in (200, 422), response.text
    if response.status_code == 200:
        assert_well_formed(text, response.json(), ["negative", "positive"])
    else:
        assert response.json()["detail"][0]["loc"] == ["body", "text"]


@settings(max_examples=40, deadline=None)
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=5), c),
        max_leaves=8,
    )
)
def test_no_json_body_causes_a_server_error(client: TestClient, body: object) -> None:
    for path in ("/v1/predict", "/v1/predict/batch"):
        response = client.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
        assert response.status_code in (200, 422), response.text


# --- failure handling ------------------------------------------------------------------------------


class FailingPredictor:
    """The real predictor, except that predicting raises (as a bug would)."""

    def __init__(self, real: object):
        self.real = real

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def predict(self, texts: list[str]) -> list:
        raise RuntimeError("simulated model failure")


def test_a_failure_answers_json_500_and_the_service_recovers(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    app = client.app
    app.dependency_overrides[get_predictor] = lambda: FailingPredictor(app.state.predictor)
    try:
        with caplog.at_level(logging.ERROR, logger="app.errors"):
            single = client.post("/v1/predict", json={"text": KOREAN})
            batch = client.post("/v1/predict/batch", json={"texts": [KOREAN]})
    finally:
        app.dependency_overrides.clear()
    for response in (single, batch):
        assert response.status_code == 500 and response.json() == {"detail": "internal server error"}
        assert response.headers["x-content-type-options"] == "nosniff"  # sent outside the headers middleware
        assert response.headers["referrer-policy"] == "no-referrer"
    assert any("simulated model failure" in (r.exc_text or "") for r in caplog.records if r.name == "app.errors")
    assert_well_formed(KOREAN, predict(client, KOREAN), ["negative", "positive"])


def test_not_ready_before_startup(tiny_bundle: Path) -> None:
    client = TestClient(create_app(Settings(MODEL_DIR=tiny_bundle)))  # no `with`: the lifespan does not run
    assert client.get("/healthz").status_code == 200
    for response in (client.get("/readyz"), client.post("/v1/predict", json={"text": KOREAN}), client.get("/v1/model")):
        assert response.status_code == 503
        assert "the model is not loaded" in response.json()["detail"]


def test_a_bad_bundle_fails_startup(tmp_path: Path) -> None:
    with (
        pytest.raises(BundleError, match="manifest.json: file is missing"),
        TestClient(create_app(Settings(MODEL_DIR=tmp_path))),
    ):
        pass


def test_a_failure_after_the_model_loaded_stops_the_micro_batcher(
    tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Startup fails as a whole: a step that raises after the batcher started still stops it."""

    def refuse(*args: object) -> None:
        raise RuntimeError("the model watch could not start")

    monkeypatch.setattr(app_main, "start_model_watch", refuse)
    app = create_app(Settings(MODEL_DIR=tiny_bundle))
    with (
        caplog.at_level(logging.INFO, logger="app"),
        pytest.raises(RuntimeError, match="the model watch could not start"),
        TestClient(app),
    ):
        pass
    assert [r.getMessage() for r in caplog.records if r.name == "app"] == ["model loaded", "model worker stopped"]
    assert app.state.predictor is None and app.state.batcher is None


# --- logs, CORS, settings --------------------------------------------------------------------------


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [r.fields for r in caplog.records if r.name == "app.access"]


def test_one_access_log_line_per_request_without_text(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="app.access"):
        predict(client, KOREAN)
        client.post("/v1/predict/batch", json={"texts": [KOREAN, "별로"]})
        client.post("/v1/predict", json={"text": ""})
    lines = access_lines(caplog)
    assert [(line["method"], line["path"], line["status"]) for line in lines] == [
        ("POST", "/v1/predict", 200),
        ("POST", "/v1/predict/batch", 200),
        ("POST", "/v1/predict", 422),
    ]
    assert lines[0]["batch_size"] == 1 and lines[1]["batch_size"] == 2 and lines[1]["texts"] == 2
    assert all(line["latency_ms"] >= 0 for line in lines)
    assert KOREAN not in caplog.text and all("request_texts" not in line for line in lines)


def test_request_text_is_logged_only_when_enabled(
    client: TestClient, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client.app.state.settings, "LOG_REQUEST_TEXT", True)
    with caplog.at_level(logging.INFO, logger="app.access"):
        predict(client, KOREAN)
    assert access_lines(caplog)[-1]["request_texts"] == [KOREAN]


def test_cors_only_when_origins_are_set(tiny_bundle: Path) -> None:
    def preflight(origin: str) -> dict[str, str]:
        return {"origin": origin, "access-control-request-method": "POST"}

    settings = Settings(MODEL_DIR=tiny_bundle, CORS_ORIGINS="http://localhost:3000, https://x.kr")
    with TestClient(create_app(settings)) as with_cors:
        response = with_cors.options("/v1/predict", headers=preflight("http://localhost:3000"))
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://localhost:3000"
        answer = with_cors.post("/v1/predict", json={"text": "좋아요"}, headers={"origin": "https://x.kr"})
        assert answer.headers["access-control-allow-origin"] == "https://x.kr"
        # a script on another origin may read when to retry a 503 and which codings a 415 accepts
        assert answer.headers["access-control-expose-headers"] == "Retry-After, Accept-Encoding"
        refused = with_cors.options("/v1/predict", headers=preflight("https://evil.example"))
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        assert refused.json() == {"detail": "CORS preflight refused: Disallowed CORS origin"}
        answer = with_cors.post("/v1/predict", json={"text": "좋아요"}, headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in answer.headers
    with TestClient(create_app(Settings(MODEL_DIR=tiny_bundle))) as without:
        response = without.get("/healthz", headers={"origin": "http://localhost:3000"})
        assert "access-control-allow-origin" not in response.headers


def test_settings_come_from_the_environment_with_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_TEXT_CHARS", "500")
    monkeypatch.setenv("CORS_ORIGINS", "http://a.example,http://b.example")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    configured = Settings()
    assert configured.MAX_TEXT_CHARS == 500 and configured.LOG_LEVEL == "debug"
    assert configured.CORS_ORIGINS == ["http://a.example", "http://b.example"]
    assert largest_batch_bytes(64, 500) == configured.MAX_BODY_BYTES  # follows the text and batch limits
    monkeypatch.setenv("MAX_BODY_BYTES", "4096")
    assert Settings().MAX_BODY_BYTES == 4096
    # At the largest text and batch limits the largest batch would need 12 GB: the unset body limit stops at 64 MiB,
    # and a body limit set by hand at 1 GiB, since a body is held whole in memory and parsed.
    largest = Settings(MAX_TEXT_CHARS=100_000, MAX_BATCH_TEXTS=10_000, MAX_BODY_BYTES=None)
    assert largest.MAX_BODY_BYTES == 64 * 2**20 < largest_batch_bytes(10_000, 100_000)
    assert Settings(MAX_BODY_BYTES=2**30).MAX_BODY_BYTES == 2**30
    for bad in (
        {"MAX_TEXT_CHARS": 0},
        {"PORT": 70000},
        {"MICROBATCH_MAX_WAIT_MS": -1},
        {"LOG_LEVEL": "loud"},
        {"MAX_BODY_BYTES": 2**30 + 1},
        {"BODY_TIMEOUT_S": 0},
    ):
        with pytest.raises(ValidationError):
            Settings(**bad)


def settings_refusal(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> str:
    """The SettingsError message `get_settings()` raises with these environment variables set."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        with pytest.raises(SettingsError) as refused:
            get_settings()
    finally:
        get_settings.cache_clear()
    return str(refused.value)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"METRICS": "admin"}, "METRICS='admin' needs ADMIN_TOKEN: without it /metrics would not exist"),
        (
            {"ADMIN_TOKEN": "a-long-enough-token-from-crlf\r"},
            "ADMIN_TOKEN: must not begin or end with whitespace (a trailing \\r from a CRLF env file?)",
        ),
        (
            {"MODEL_WATCH_SECONDS": "0.001"},
            "MODEL_WATCH_SECONDS='0.001': must be 0 (off) or at least 0.1 (it reads a link every interval)",
        ),
    ],
)
def test_settings_that_could_never_work_are_refused_with_the_reason(
    env: dict[str, str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusal = settings_refusal(monkeypatch, env)
    assert refusal == f"invalid settings: {message}"
    assert "crlf" not in refusal  # the token itself is never shown


def test_the_queue_bound_follows_the_batch_limit_and_its_error_keeps_the_token_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().MAX_PENDING_TEXTS == 2048
    assert Settings(MAX_BATCH_TEXTS=1000).MAX_PENDING_TEXTS == 4000  # four full batches
    assert Settings(MAX_PENDING_TEXTS=64).MAX_PENDING_TEXTS == 64
    refusal = settings_refusal(monkeypatch, {"MAX_PENDING_TEXTS": "10", "ADMIN_TOKEN": "hunter2-but-long-enough"})
    assert refusal == (
        "invalid settings: MAX_PENDING_TEXTS=10 is below MAX_BATCH_TEXTS=64: a full batch could never be taken"
    )


def test_invalid_settings_stop_the_server_with_one_line_that_names_each_and_keeps_the_token_secret() -> None:
    env = {**os.environ, "MAX_TEXT_CHARS": "0", "LOG_LEVEL": "verbose", "ADMIN_TOKEN": "hunter2-short"}
    done = subprocess.run(
        [sys.executable, "-m", "app", "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("python -m app: invalid settings: ") and done.stderr.count("\n") == 1
    assert "MAX_TEXT_CHARS='0': Input should be greater than 0" in done.stderr
    assert "LOG_LEVEL='verbose'" in done.stderr
    assert "ADMIN_TOKEN: must be at least 16 characters" in done.stderr
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr
    assert "MAX_BODY_BYTES" not in done.stderr  # derived from the others, not a problem of its own


def test_a_model_dir_that_cannot_be_served_stops_the_server_with_one_line(published_root: Path, tmp_path: Path) -> None:
    """Checked before TensorFlow is imported: an operator's wrong path is one line and exit 2, not a traceback."""
    root, _ = copy_root(published_root, tmp_path / "models")
    (tmp_path / "models-without-current").mkdir()
    shutil.copytree(root / "versions", tmp_path / "models-without-current" / "versions")
    dangling, _ = copy_root(published_root, tmp_path / "models-dangling")
    (dangling / "current").unlink()
    (dangling / "current").symlink_to("versions/20991231-000000-00000000")
    tampered = Path(shutil.copytree(DEFAULT_BUNDLE, tmp_path / "tampered"))
    vocab = tampered / "vocab.json"
    vocab.write_text(vocab.read_text("utf-8").replace('"영화"', '"영화관"'), "utf-8")  # changed since training
    cases = {
        tmp_path / "nowhere": "nowhere: no such directory",
        ROOT / "README.md": "README.md: is a file; give the bundle's directory",
        tampered: "vocab.json: sha256 does not match manifest.json (file corrupt or changed)",
        root / "versions": "versions: is the versions/ folder of a ROOT; give the ROOT itself",
        tmp_path / "models-without-current": "current: missing, though 2 versions are published",
        dangling: "current: names version 20991231-000000-00000000, which is not in versions/",
        ROOT / "model": "model: is not a model bundle (it has no manifest.json)",
    }
    for model_dir, message in cases.items():
        env = {**os.environ, "MODEL_DIR": str(model_dir)}
        done = subprocess.run(
            [sys.executable, "-m", "app", "--port", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, done.stderr[-2000:]
        assert done.stderr.startswith("python -m app: cannot serve MODEL_DIR: ") and done.stderr.count("\n") == 1
        assert message in done.stderr, done.stderr


def test_an_address_that_cannot_be_listened_on_stops_the_server_before_the_model_loads(tiny_bundle: Path) -> None:
    """uvicorn would find out only after the model load, ten seconds later, and exit 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        cases = {
            ("--port", "99999"): "argument --port: '99999' is not a port number (1-65535)",
            ("--port", str(busy)): f"python -m app: cannot listen on 127.0.0.1:{busy}: Address already in use",
            ("--host", "999.1.1.1", "--port", "8000"): "python -m app: cannot listen on 999.1.1.1:8000: ",
        }
        for args, message in cases.items():
            env = {**os.environ, "MODEL_DIR": str(tiny_bundle)}
            done = subprocess.run(
                [sys.executable, "-m", "app", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 2 and message in done.stderr, done.stderr[-2000:]
            assert "model" not in done.stderr.lower() and "Traceback" not in done.stderr  # nothing was loaded


def test_a_bundle_in_a_folder_called_versions_is_still_served_as_it_is(tiny_bundle: Path, tmp_path: Path) -> None:
    """Only a ROOT's versions/ folder is refused as MODEL_DIR, and only a ROOT's version directories must be named
    after their version: a plain bundle kept at /srv/versions or /srv/versions/mymodel is served as before."""
    from model.bundle import Bundle
    from model.registry import check_published_as, check_servable, resolve

    version = Bundle.load(tiny_bundle).version
    for model_dir in (tmp_path / "srv" / "versions", tmp_path / "srv2" / "versions" / "mymodel"):
        shutil.copytree(tiny_bundle, model_dir)
        check_servable(model_dir)
        assert resolve(model_dir) == model_dir
        check_published_as(model_dir, version)


def test_one_answer_lists_every_problem_of_a_batch(client: TestClient) -> None:
    """Type and blank problems come from the schema, limits from the settings; a body with both kinds gets
    them all at once instead of the limits only after the first round of fixes."""
    texts = ["좋다"] * 66
    texts[3], texts[10], texts[20] = "나" * 2001, 7, ""
    response = client.post("/v1/predict/batch", json={"texts": texts})
    assert response.status_code == 422
    problems = {tuple(problem["loc"]): problem["msg"] for problem in response.json()["detail"]}
    assert set(problems) == {("body", "texts"), ("body", "texts", 3), ("body", "texts", 10), ("body", "texts", 20)}
    assert problems[("body", "texts")] == "batch has 66 texts; the limit is 64"
    assert problems[("body", "texts", 3)] == "text has 2001 characters; the limit is 2000"
    assert "valid string" in problems[("body", "texts", 10)] and "empty" in problems[("body", "texts", 20)]


def test_a_text_with_a_control_character_and_too_many_characters_hears_of_both(client: TestClient) -> None:
    response = client.post("/v1/predict", json={"text": "좋아\x01" + "요" * 2000})
    assert response.status_code == 422
    messages = [problem["msg"] for problem in response.json()["detail"]]
    assert len(messages) == 2 and all(problem["loc"] == ["body", "text"] for problem in response.json()["detail"])
    assert messages[0] == "text has 2003 characters; the limit is 2000"
    assert "control character U+0001 at position 2" in messages[1]
    # the values each message refers to, for a client that words it in its own language (the page)
    contexts = [problem.get("ctx") for problem in response.json()["detail"]]
    assert contexts == [{"length": 2003, "limit": 2000}, {"name": "U+0001", "position": 2}]


def test_a_huge_list_of_wrong_elements_is_refused_in_one_short_answer(client: TestClient) -> None:
    """A 1.5 MB body can hold 700,000 numbers: their problems used to come back as 70 MB, and building them
    held the event loop for seconds."""
    far_too_many = client.post("/v1/predict/batch", json={"texts": [1] * 300_000})
    assert far_too_many.status_code == 422
    assert far_too_many.json()["detail"] == [
        {
            "loc": ["body", "texts"],
            "msg": "batch has 300000 texts; the limit is 64",
            "type": "too_long",
            "ctx": {"length": 300000, "limit": 64},
        }
    ]
    over_the_limit = client.post("/v1/predict/batch", json={"texts": [1] * 200}).json()["detail"]
    assert len(over_the_limit) == 51 and len(far_too_many.content) < 1000
    assert over_the_limit[0]["msg"] == "batch has 200 texts; the limit is 64"  # the limit is never cut off
    assert [problem["type"] for problem in over_the_limit[1:50]] == ["string_type"] * 49
    assert over_the_limit[50] == {
        "loc": ["body"],
        "msg": "and 151 more problems not listed",
        "type": "more_problems",
        "ctx": {"count": 151},
    }  # the 151 elements not listed


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b'{"te\\ud800xt": "a"}', {}, "request body has a key with a lone surrogate (U+D800-U+DFFF)"),
    ],
)
def test_a_body_problem_is_named_for_what_it_is(client: TestClient, body: bytes, headers: dict, message: str) -> None:
    response = client.post("/v1/predict", content=body, headers={"content-type": "application/json", **headers})
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body"] and problem["msg"].startswith(message), problem


@pytest.mark.parametrize(
    "body", [gzip.compress('{"text": "좋아요"}'.encode()), '{"text": "좋아요"}'.encode()], ids=["gzip", "labelled-only"]
)
def test_a_compressed_body_gets_415_naming_the_only_coding_accepted(client: TestClient, body: bytes) -> None:
    """RFC 9110's answer to a content coding the server does not support; a plain body merely labelled gzip used
    to be read as if it were plain."""
    headers = {"content-type": "application/json", "content-encoding": "GZip"}
    response = client.post("/v1/predict", content=body, headers=headers)
    assert response.status_code == 415
    assert response.json() == {
        "detail": "request body is sent with Content-Encoding: gzip, which this API does not accept; "
        "send it uncompressed"
    }
    assert response.headers["accept-encoding"] == "identity"
    plain = client.post("/v1/predict", content=body, headers={**headers, "content-encoding": "identity"})
    assert plain.status_code == (200 if body.startswith(b"{") else 422)  # gzip's bytes are not JSON
    assert client.get("/healthz", headers={"content-encoding": "gzip"}).status_code == 200  # no body to decode
    second_line = [("content-type", "application/json"), ("content-encoding", "identity"), ("content-encoding", "gzip")]
    assert client.post("/v1/predict", content=body, headers=second_line).status_code == 415
    paths = client.get("/openapi.json").json()["paths"]
    assert all("415" in paths[path]["post"]["responses"] for path in ("/v1/predict", "/v1/predict/batch"))


def test_configured_limits_apply(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client.app.state.settings, "MAX_TEXT_CHARS", 10)
    monkeypatch.setattr(client.app.state.settings, "MAX_BATCH_TEXTS", 2)
    response = client.post("/v1/predict", json={"text": "열 글자가 넘는 문장입니다"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "text has 14 characters; the limit is 10"
    response = client.post("/v1/predict/batch", json={"texts": ["a", "b", "c"]})
    assert response.json()["detail"][0]["msg"] == "batch has 3 texts; the limit is 2"
    assert response.json()["detail"][0]["ctx"] == {"length": 3, "limit": 2}

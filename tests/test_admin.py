"""Admin routes in process: bearer auth, hot reload and rollback, refused bundles, metrics, security headers."""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from app.main import create_app
from app.metrics import Metrics
from app.reload import CurrentWatcher, ReloadRefused
from app.routes.page import PAGE_CSP
from app.settings import Settings
from model.predictor import Predictor
from model.registry import point_current
from tests.registry_helpers import add_version, copy_root

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CORRUPT, RELABELLED, ABSENT = "29990101-000000-0000000c", "29990101-000000-0000000d", "29990101-000000-0000000e"
COPIED = "29990101-000000-0000000f"  # a version directory copied under another name, its manifest unchanged


@pytest.fixture(scope="module")
def root(published_root: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A ROOT serving the first version, with a good second one, a corrupt one, one with other labels and a copy
    of the first under another name."""
    root, versions = copy_root(published_root, tmp_path_factory.mktemp("admin") / "models", current=0)
    add_version(root, versions[0], CORRUPT, flip_model_byte=True)
    add_version(root, versions[0], RELABELLED, labels=["bad", "good"])
    shutil.copytree(root / "versions" / versions[0], root / "versions" / COPIED)
    return root, versions


@pytest.fixture(scope="module")
def client(root: tuple[Path, list[str]]) -> Iterator[TestClient]:
    settings = Settings(MODEL_DIR=root[0], ADMIN_TOKEN=TOKEN, METRICS="admin")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def served_version(client: TestClient) -> str:
    response = client.post("/v1/predict", json={"text": "정말 재밌는 영화"})
    assert response.status_code == 200, response.text
    return response.json()["model"]["version"]


def reload(client: TestClient, version: str | None = None, headers: dict | None = None):
    return client.post(
        "/v1/admin/reload", json=None if version is None else {"version": version}, headers=headers or AUTH
    )


@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, "Bearer"),
        ({"Authorization": "Bearer wrong-token-wrong-token"}, 'Bearer error="invalid_token"'),
        ({"Authorization": f"Basic {TOKEN}"}, "Bearer"),
        ({"Authorization": f"Bearer {TOKEN}x"}, 'Bearer error="invalid_token"'),
    ],
)
def test_admin_routes_refuse_a_missing_or_wrong_token(client: TestClient, headers: dict, challenge: str) -> None:
    malformed = {**headers, "content-type": "application/json"}
    for response in (
        client.post("/v1/admin/reload", headers=headers),
        client.post("/v1/admin/reload", headers=malformed, content=b"{bad"),  # no parse error before the token
        client.get("/v1/admin/versions", headers=headers),
        client.get("/metrics", headers=headers),
    ):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == challenge
        assert "Bearer" in response.json()["detail"] and TOKEN not in response.text


def test_admin_routes_are_absent_without_a_configured_token(root: tuple[Path, list[str]]) -> None:
    # METRICS="admin" without a token is refused with the settings (tests/test_api.py), so no metrics route here.
    with TestClient(create_app(Settings(MODEL_DIR=root[0]))) as client:
        responses = [
            client.post("/v1/admin/reload", headers=AUTH),
            client.get("/v1/admin/versions", headers=AUTH),
            client.get("/v1/admin/reload", headers=AUTH),
        ]
        paths = client.get("/openapi.json").json()["paths"]
    for response in responses:
        assert response.status_code == 404
        assert response.json()["detail"].startswith("no route for")
    assert not any(path.startswith("/v1/admin") for path in paths)


def test_reload_documents_the_body_errors_the_middleware_answers(client: TestClient) -> None:
    responses = client.get("/openapi.json").json()["paths"]["/v1/admin/reload"]["post"]["responses"]
    assert {"401", "408", "413", "415", "409", "422", "503"} <= set(responses)
    gzipped = client.post("/v1/admin/reload", content=b"{}", headers={**AUTH, "content-encoding": "gzip"})
    assert gzipped.status_code == 415 and "Content-Encoding: gzip" in gzipped.json()["detail"]


@pytest.mark.parametrize("bad", ["../../etc", "../versions/x", "/etc", "..", "20250101-120000-1a2b3c4d/../../x"])
def test_version_names_that_could_leave_root_are_refused_before_any_file_access(
    client: TestClient, root: tuple[Path, list[str]], bad: str, tmp_path: Path
) -> None:
    before = client.get("/v1/model").json()["last_reload"]
    response = reload(client, bad)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "version"]
    assert client.get("/v1/model").json()["last_reload"] == before  # refused by the schema: no attempt was made


def test_reload_swaps_the_model_and_rollback_restores_it(client: TestClient, root: tuple[Path, list[str]]) -> None:
    first, second = root[1]
    assert served_version(client) == first
    listed = client.get("/v1/admin/versions", headers=AUTH).json()
    assert listed["serving"] == first and listed["current"] == first
    assert set(listed["versions"]) == {first, second, CORRUPT, RELABELLED, COPIED}

    response = reload(client, second)
    assert response.status_code == 200, response.text
    assert response.json() | {"at": None} == {
        "at": None, "ok": True, "requested": second, "version": second, "reason": None
    }  # fmt: skip
    assert served_version(client) == second
    info = client.get("/v1/model").json()
    assert info["version"] == second and info["last_reload"]["ok"] is True
    assert info["name"] == "models"  # the ROOT's name, not the version directory's

    assert reload(client, first).json()["version"] == first  # rollback
    assert served_version(client) == first
    assert reload(client).json()["version"] == first  # no version: whatever `current` names


def test_versions_that_cannot_be_listed_are_named_in_the_error(
    client: TestClient, root: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A versions/ folder the service's user cannot read (simulated: the tests run as root, which reads anything)."""
    versions_dir = root[0] / "versions"
    real_iterdir = Path.iterdir

    def unreadable(path: Path):
        if path == versions_dir:
            raise PermissionError(13, "Permission denied", str(path))
        return real_iterdir(path)

    monkeypatch.setattr(Path, "iterdir", unreadable)
    response = client.get("/v1/admin/versions", headers=AUTH)
    assert response.status_code == 500
    assert response.json() == {"detail": f"cannot list {versions_dir}: Permission denied"}


def test_a_replaced_or_refused_model_is_freed(client: TestClient, root: tuple[Path, list[str]]) -> None:
    """Loading freezes every object out of the collector's sight; a reload must give the old model back."""
    first, second = root[1]
    assert reload(client, first).status_code == 200
    replaced = weakref.ref(client.app.state.predictor.bundle.model)  # Keras models are full of reference cycles
    assert reload(client, second).status_code == 200
    wait_for(lambda: replaced() is None, within_s=30)

    loaded: list[weakref.ref] = []
    original = Predictor.__init__

    def remember(predictor: Predictor, bundle, **options) -> None:
        original(predictor, bundle, **options)
        loaded.append(weakref.ref(bundle.model))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Predictor, "__init__", remember)
        assert reload(client, RELABELLED).status_code == 409  # loaded and warmed up, then refused
    assert len(loaded) == 1
    wait_for(lambda: loaded[0]() is None, within_s=30)
    assert served_version(client) == second
    assert reload(client, first).status_code == 200


@pytest.mark.parametrize(
    ("version", "status", "reason"),
    [
        (CORRUPT, 409, "model.keras: sha256 does not match manifest.json"),
        (RELABELLED, 409, "labels ['bad', 'good'] differ from the serving model's ['negative', 'positive']"),
        (ABSENT, 422, f"version {ABSENT} is not published"),
        (COPIED, 409, f", not {COPIED} (a copied or renamed directory)"),
    ],
)
def test_a_bad_version_is_refused_with_its_reason_and_the_old_model_keeps_serving(
    client: TestClient, root: tuple[Path, list[str]], version: str, status: int, reason: str
) -> None:
    serving = served_version(client)
    response = reload(client, version)
    assert response.status_code == status, response.text
    assert reason in response.json()["detail"] and f"still serving {serving}" in response.json()["detail"]
    assert served_version(client) == serving
    last = client.get("/v1/model").json()["last_reload"]
    assert last["ok"] is False and last["requested"] == version and reason in last["reason"]
    assert last["version"] == serving


def test_metrics_count_requests_batches_model_and_reloads(client: TestClient, root: tuple[Path, list[str]]) -> None:
    served_version(client)
    failed_before = failed_reloads(client)
    reload(client, CORRUPT)
    assert failed_reloads(client) == failed_before + 1
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'http_requests_total{method="POST",route="/v1/predict",status="200"}' in text
    assert 'http_request_duration_seconds_bucket{le="0.005",method="POST",route="/v1/predict"}' in text
    assert "microbatch_size_count" in text
    fresh = generate_latest(Metrics().registry).decode()  # before any reload, both series are there at 0
    assert 'model_reloads_total{result="ok"} 0.0' in fresh and 'model_reloads_total{result="failed"} 0.0' in fresh
    assert f'model_info{{version="{served_version(client)}"}} 1.0' in text
    assert "texts_pending 0.0" in text  # nothing waits once every answer is in
    assert f"texts_pending_limit {client.app.state.settings.MAX_PENDING_TEXTS}.0" in text
    client.get("/no/such/path/123")
    client.head("/healthz")
    too_big = b"x" * (client.app.state.settings.MAX_BODY_BYTES + 1)
    assert client.post("/v1/predict/batch", content=too_big).status_code == 413  # answered before routing
    text = client.get("/metrics", headers=AUTH).text
    assert 'route="unmatched"' in text  # raw paths never become labels
    assert 'http_requests_total{method="POST",route="/v1/predict/batch",status="413"} 1.0' in text
    assert 'http_requests_total{method="HEAD",route="/healthz",status="200"}' in text


def test_metrics_public_or_off(tiny_bundle: Path) -> None:
    with TestClient(create_app(Settings(MODEL_DIR=tiny_bundle, METRICS="public"))) as public:
        assert public.post("/v1/predict", json={"text": "좋아요"}).status_code == 200
        response = public.get("/metrics")  # no token needed
        assert response.status_code == 200
        assert 'http_requests_total{method="POST",route="/v1/predict",status="200"} 1.0' in response.text
        assert f'model_info{{version="{public.get("/readyz").json()["model"]["version"]}"}} 1.0' in response.text
    with TestClient(create_app(Settings(MODEL_DIR=tiny_bundle))) as off:
        response = off.get("/metrics")
        assert response.status_code == 404 and response.json()["detail"].startswith("no route for GET /metrics")


def test_security_headers_on_page_api_and_errors(client: TestClient) -> None:
    page = client.get("/")
    assert page.headers["content-security-policy"] == PAGE_CSP
    assert "script-src 'self'" in PAGE_CSP and "unsafe-inline" not in PAGE_CSP
    assert client.get("/static/index.html").status_code == 404  # no copy of the page without its policy
    too_big = client.post(
        "/v1/predict",
        content=b"x" * (client.app.state.settings.MAX_BODY_BYTES + 1),
        headers={"content-type": "application/json"},
    )
    assert too_big.status_code == 413
    for response in (page, client.get("/v1/model"), too_big, client.get("/static/page.js")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


@pytest.mark.parametrize(("text", "position", "name"), [("a\x00b", 1, "U+0000"), ("좋다\x1b[31m", 2, "U+001B")])
def test_control_characters_are_refused_with_their_position(
    client: TestClient, text: str, position: int, name: str
) -> None:
    response = client.post("/v1/predict", json={"text": text})
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["type"] == "control_character" and error["loc"] == ["body", "text"]
    assert f"{name} at position {position}" in error["msg"]
    batch = client.post("/v1/predict/batch", json={"texts": ["좋다", text]})
    assert batch.status_code == 422 and batch.json()["detail"][0]["loc"] == ["body", "texts", 1]
    assert client.post("/v1/predict", json={"text": "탭\t줄\n바꿈\r"}).status_code == 200


def wait_for(condition: Callable[[], bool], within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"not true within {within_s} s"
        time.sleep(0.1)


def failed_reloads(client: TestClient) -> float:
    text = client.get("/metrics", headers=AUTH).text
    found = re.search(r'^model_reloads_total\{result="failed"\} (\S+)$', text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_model_watch_follows_current_keeps_a_rollback_and_tries_a_bad_version_once(
    published_root: Path, tmp_path: Path
) -> None:
    root, (first, second) = copy_root(published_root, tmp_path / "models", current=0)
    add_version(root, first, CORRUPT, flip_model_byte=True)
    settings = Settings(MODEL_DIR=root, ADMIN_TOKEN=TOKEN, METRICS="admin", MODEL_WATCH_SECONDS=0.1)
    with TestClient(create_app(settings)) as client:
        assert served_version(client) == first
        point_current(root, second)  # what `training.train --publish ROOT` does last
        wait_for(lambda: served_version(client) == second)

        assert reload(client, first).json()["version"] == first  # a rollback by hand...
        time.sleep(1)
        assert served_version(client) == first  # ...stays: `current` has not changed since

        point_current(root, CORRUPT)
        wait_for(lambda: failed_reloads(client) == 1)
        time.sleep(1)
        assert failed_reloads(client) == 1  # not retried every poll
        assert served_version(client) == first
        last = client.get("/v1/model").json()["last_reload"]
        assert last["ok"] is False and last["requested"] == CORRUPT and "sha256" in last["reason"]


def test_model_watch_on_a_single_bundle_is_off_with_a_warning(
    tiny_bundle: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(create_app(Settings(MODEL_DIR=tiny_bundle, MODEL_WATCH_SECONDS=1))) as client:
        assert client.get("/readyz").status_code == 200
    assert "MODEL_DIR is a single bundle, not a ROOT: nothing to watch" in caplog.text


class ScriptedReloader:
    """Answers each reload with the next outcome: None succeeds, an exception is raised (as the real one can)."""

    def __init__(self, *outcomes: BaseException | None):
        self.outcomes = list(outcomes)
        self.calls: list[str | None] = []

    async def reload(self, version: str | None = None) -> None:
        self.calls.append(version)
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise outcome


def test_model_watch_acts_on_a_version_published_while_the_service_was_loading(
    published_root: Path, tmp_path: Path
) -> None:
    root, (first, second) = copy_root(published_root, tmp_path / "models", current=1)  # `current` moved on
    reloader = ScriptedReloader(None)

    async def scenario() -> None:
        watch = asyncio.create_task(CurrentWatcher(reloader, root, interval_s=0.01, serving=first).run())  # type: ignore[arg-type]
        deadline = time.monotonic() + 10
        while not reloader.calls and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        watch.cancel()

    asyncio.run(scenario())
    assert reloader.calls == [second]


def test_model_watch_retries_a_passing_refusal_and_outlives_an_unexpected_error(
    published_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root, (first, second) = copy_root(published_root, tmp_path / "models", current=0)
    busy = ReloadRefused(409, "another reload is in progress", transient=True)
    starting = ReloadRefused(503, "no model is serving yet", transient=True)
    reloader = ScriptedReloader(busy, starting, None, RuntimeError("disk vanished"), None)

    async def until(condition: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, f"reload calls so far: {reloader.calls}"
            await asyncio.sleep(0.01)

    async def scenario() -> bool:
        watch = asyncio.create_task(CurrentWatcher(reloader, root, interval_s=0.01).run())  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        point_current(root, second)
        await until(lambda: len(reloader.calls) == 3)  # refused twice for passing reasons, then done
        await asyncio.sleep(0.1)
        assert reloader.calls == [second] * 3  # no more attempts once it worked
        point_current(root, first)
        await until(lambda: len(reloader.calls) == 4)  # this one raises something unexpected
        await asyncio.sleep(0.1)
        assert len(reloader.calls) == 4  # not retried on every poll
        point_current(root, second)
        await until(lambda: len(reloader.calls) == 5)  # the watch is still running
        alive = not watch.done()
        watch.cancel()
        return alive

    assert asyncio.run(scenario())
    assert reloader.calls == [second, second, second, first, second]
    assert f"model watch: reloading {first} failed" in caplog.text and "disk vanished" in caplog.text


def test_model_watch_logs_an_unreadable_current_once_per_problem(
    published_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.reload")
    root, (first, second) = copy_root(published_root, tmp_path / "models", current=0)
    reloader = ScriptedReloader(None)
    link = root / "current"

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "model watch" in r.getMessage()]

    async def scenario() -> None:
        watch = asyncio.create_task(CurrentWatcher(reloader, root, interval_s=0.01, serving=first).run())  # type: ignore[arg-type]
        link.unlink()
        link.symlink_to(root / "versions" / second)  # absolute: refused, as it could lead anywhere
        await asyncio.sleep(0.2)  # about 20 polls
        link.unlink()
        await asyncio.sleep(0.2)
        point_current(root, second)
        deadline = time.monotonic() + 10
        while not reloader.calls and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        watch.cancel()

    asyncio.run(scenario())
    assert len(warnings()) == 2, warnings()
    assert "it must be the relative link versions/<version>" in warnings()[0]
    assert "missing, though 2 versions are published" in warnings()[1] and "--use VERSION" in warnings()[1]
    assert "current is readable again" in caplog.text and reloader.calls == [second]

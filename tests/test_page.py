"""The attention viewer page in real headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.launch import RunningServer, running_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LIMIT = 300

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it as root)"
    ),
]


@pytest.fixture(scope="module")
def server(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("page-server") / "server.log"
    with running_server(tiny_bundle, log, env={"MAX_TEXT_CHARS": str(LIMIT)}) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator:
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield browser
        browser.close()


def console_errors(page) -> list[str]:
    """The page's console errors from now on (a CSP violation is reported there)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def test_page_shows_the_api_answer_as_a_heat_map(server: RunningServer, browser, tmp_path: Path) -> None:
    text = "배우 연기는 좋은데 스토리가 너무 지루했다 ㅠㅠ"
    expected = httpx.post(f"{server.url}/v1/predict", json={"text": text}).json()
    page = browser.new_page(viewport={"width": 900, "height": 700})
    page.goto(server.url + "/")
    page.fill("#text", text)
    page.click("#submit")
    page.wait_for_selector(".result .tok")

    assert page.inner_text(".result .label") == expected["label"]
    for label, p in expected["probabilities"].items():
        assert page.inner_text(f'.prob[data-label="{label}"]') == f"{p * 100:.1f}%"
    painted = page.eval_on_selector_all(
        ".result .tok", "spans => spans.map(s => [+s.dataset.start, +s.dataset.end, +s.dataset.weight, s.textContent])"
    )
    by_span: dict[tuple[int, int], float] = {}
    for token in expected["tokens"]:
        key = (token["start"], token["end"])
        by_span[key] = by_span.get(key, 0.0) + token["attention"]
    assert [(start, end) for start, end, _, _ in painted] == sorted(by_span)
    for start, end, weight, shown in painted:
        assert shown == text[start:end]
        assert weight == pytest.approx(by_span[(start, end)], abs=1e-5)
    assert page.inner_text(".result .heat") == text  # the user's own text, every character kept
    assert "attention" in page.get_attribute(".result .tok", "title")
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert (tmp_path / "page.png").stat().st_size > 10_000
    page.close()


def test_batch_mode_shows_one_result_per_line(server: RunningServer, browser) -> None:
    lines = ["정말 재미있어요", "최악이다", "그냥 그랬음"]
    expected = httpx.post(f"{server.url}/v1/predict/batch", json={"texts": lines}).json()["predictions"]
    page = browser.new_page()
    page.goto(server.url + "/")
    page.check('input[name="mode"][value="batch"]')
    page.fill("#text", "\n".join(lines))
    page.click("#submit")
    page.locator(".result").nth(2).wait_for()  # not wait_for_function: the page's CSP forbids its eval
    assert page.locator(".result").count() == 3
    assert page.eval_on_selector_all(".result .label", "ls => ls.map(l => l.textContent)") == [
        p["label"] for p in expected
    ]
    page.close()


def test_an_api_error_is_shown_to_the_user(server: RunningServer, browser) -> None:
    page = browser.new_page(viewport={"width": 375, "height": 740})  # phone width
    page.goto(server.url + "/")
    page.fill("#text", "너무 길다 " * 100)
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    message = page.inner_text("#error")
    assert "422" in message and str(LIMIT) in message
    assert page.query_selector(".result") is None
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling on a phone
    page.close()


def test_examples_are_one_click_away_and_assets_are_local(server: RunningServer, browser) -> None:
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    console = console_errors(page)
    page.goto(server.url + "/")
    page.click(".example >> nth=0")
    page.wait_for_selector(".result .tok")
    assert page.input_value("#text") == page.inner_text(".example >> nth=0")
    assert requested and all(url.startswith(server.url) for url in requested)
    assert not [m for m in console if "Content Security Policy" in m], console  # the page works under its CSP
    page.close()


def test_api_docs_render_without_internet(server: RunningServer, browser) -> None:
    """Swagger UI lists the routes, under its CSP, while every request that leaves this server is refused."""
    page = browser.new_page()
    elsewhere: list[str] = []
    console = console_errors(page)

    def only_this_server(route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(server.url + "/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/v1/predict" in paths and "/v1/predict/batch" in paths
    assert not elsewhere
    assert not [m for m in console if "Content Security Policy" in m], console
    page.close()


def test_redoc_renders_under_its_csp(server: RunningServer, browser) -> None:
    """ReDoc renders; the CSP blocks only what would leave this server (its logo on cdn.redoc.ly)."""
    page = browser.new_page()
    console = console_errors(page)
    page.goto(server.url + "/redoc")
    page.wait_for_selector("h2:has-text('Classify several texts in one call')")
    violations = [m for m in console if "Content Security Policy" in m]
    remote = re.compile(r"'https?://(?!127\.0\.0\.1)")
    assert all(remote.search(m) for m in violations), violations
    page.close()

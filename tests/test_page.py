"""The attention viewer page in real headless Chromium (Debian's package, driven by Playwright)."""

from __future__ import annotations

import contextlib
import re
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.launch import RunningServer, running_server
from tests.conftest import FIXTURES

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


def playwright_error() -> type[Exception]:
    return pytest.importorskip("playwright.sync_api").Error


def console_errors(page) -> list[str]:
    """The page's console errors from now on (a CSP violation is reported there)."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def painted_tokens(page) -> list[list]:
    return page.eval_on_selector_all(
        ".result .tok", "spans => spans.map(s => [+s.dataset.start, +s.dataset.end, +s.dataset.weight, s.textContent])"
    )


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
    painted = painted_tokens(page)
    by_span: dict[tuple[int, int], float] = {}
    for token in expected["tokens"]:
        key = (token["start"], token["end"])
        by_span[key] = by_span.get(key, 0.0) + token["attention"]
    assert [(start, end) for start, end, _, _ in painted] == sorted(by_span)
    for start, end, weight, shown in painted:
        assert shown == text[start:end]
        assert weight == pytest.approx(by_span[(start, end)], abs=1e-5)
    assert page.inner_text(".result .heat") == text  # the user's own text, every character kept
    assert "어텐션" in page.get_attribute(".result .tok", "title")  # the weight shows on hover
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    assert (tmp_path / "page.png").stat().st_size > 10_000
    page.close()


@pytest.fixture(scope="module")
def kiwi_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A small Kiwi model (a few seconds to train): Kiwi's contracted endings overlap the morpheme before them."""
    pytest.importorskip("kiwipiepy")
    from training.config import TrainConfig
    from training.data import read_labelled
    from training.pipeline import train

    bundle = tmp_path_factory.mktemp("kiwi") / "bundle"
    config = TrainConfig(
        tokenizer="kiwi", epochs=1, vocab_size=2000, embedding_dim=16, lstm_units=16, attention_units=8,
        pretrain_embeddings=False, language_model_epochs=0,
    )  # fmt: skip
    data, cache = read_labelled(FIXTURES / "nsmc_train_3k.tsv"), tmp_path_factory.mktemp("kiwi-token-cache")
    train(data, bundle, config, names="negative,positive", cache_dir=cache, quiet=True)
    with running_server(bundle, bundle.parent / "server.log") as running:
        yield running


def test_tokens_whose_spans_overlap_are_painted_once_with_their_weights(kiwi_server: RunningServer, browser) -> None:
    """Kiwi gives 화나요 as 화 (0-1), 나 (1-2) and 어요 (1-3): the page paints 나요 once with both weights, where
    it used to drop 어요 and leave 요 unshaded."""
    text = "진짜 화나요 ㅋㅋ 잘 봐요"
    tokens = httpx.post(f"{kiwi_server.url}/v1/predict", json={"text": text}).json()["tokens"]
    spans = sorted((token["start"], token["end"]) for token in tokens)
    assert any(a_start < b_start < a_end < b_end or (a_start == b_start and a_end < b_end)
               for (a_start, a_end), (b_start, b_end) in zip(spans, spans[1:]))  # fmt: skip
    page = browser.new_page()
    page.goto(kiwi_server.url + "/")
    page.fill("#text", text)
    page.click("#submit")
    page.wait_for_selector(".result .tok")

    painted = painted_tokens(page)
    assert page.inner_text(".result .heat") == text
    assert all(shown == text[start:end] for start, end, _, shown in painted)
    assert all(end <= next_start for (_, end, _, _), (next_start, _, _, _) in zip(painted, painted[1:]))
    for token in tokens:  # every token is painted, inside one span that holds its weight
        holder = [weight for start, end, weight, _ in painted if start <= token["start"] and token["end"] <= end]
        assert len(holder) == 1 and holder[0] >= token["attention"] - 1e-5
    assert sum(weight for _, _, weight, _ in painted) == pytest.approx(1.0, abs=1e-4)
    page.close()


def test_spans_after_an_emoji_land_on_their_tokens(server: RunningServer, browser) -> None:
    """The API counts code points and JavaScript strings count UTF-16 units: an emoji must not shift the map."""
    text = "😀😀 이 영화 정말 재미있어요 👍 𠀀 최고"
    expected = httpx.post(f"{server.url}/v1/predict", json={"text": text}).json()
    page = browser.new_page()
    page.goto(server.url + "/")
    page.get_by_label("분석할 글").fill(text)  # the text box has a label, not only a placeholder
    page.focus("#submit")
    page.keyboard.press("Enter")
    page.wait_for_selector(".result .tok")

    painted = painted_tokens(page)
    assert painted and all(shown == text[start:end] for start, end, _, shown in painted)
    assert page.inner_text(".result .heat") == text
    strongest = max(expected["tokens"], key=lambda token: token["attention"])
    top = page.locator(".result .top li").first
    assert top.locator("bdi").inner_text() == strongest["text"]
    assert top.inner_text().endswith(f"{strongest['attention'] * 100:.1f}%")  # weights readable without a mouse
    assert page.evaluate("document.activeElement.id") == "submit"  # focus stays where the user was
    assert expected["label"] in page.inner_text("#status")  # the live status line announces the answer
    page.close()


def test_a_newer_request_wins_over_a_slower_older_one(server: RunningServer, browser) -> None:
    first, second = "최악의 영화. 돈 아깝고 시간 아깝다", "이 영화 정말 재미있어요"
    page = browser.new_page()
    held: list = []
    done: list[str] = []
    page.on("requestfinished", lambda request: done.append(request.post_data or ""))
    page.on("requestfailed", lambda request: done.append(request.post_data or ""))

    def hold_the_first(route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)  # answered only after the newer request has been shown

    page.route("**/v1/predict", hold_the_first)
    page.goto(server.url + "/")
    page.fill("#text", first)
    page.click("#submit")
    page.locator("#submit:has-text('분석 중')").wait_for()
    page.fill("#text", second)
    page.press("#text", "Control+Enter")
    page.wait_for_selector(".result .tok")
    assert page.inner_text(".result .heat") == second

    with contextlib.suppress(playwright_error()):  # the page may have cancelled it already
        held[0].continue_()
    for _ in range(100):
        if any(first in body for body in done):
            break
        page.wait_for_timeout(50)
    assert any(first in body for body in done)
    page.wait_for_timeout(300)  # a late answer would be painted by now
    assert page.inner_text(".result .heat") == second
    assert page.inner_text("#submit") == "분석하기"
    page.close()


def test_a_truncated_text_greys_out_what_the_model_did_not_read(server: RunningServer, browser) -> None:
    text = "정말 좋아요 " * 40
    expected = httpx.post(f"{server.url}/v1/predict", json={"text": text}).json()
    max_len = httpx.get(f"{server.url}/v1/model").json()["max_len"]
    assert expected["truncated"]
    page = browser.new_page()
    page.goto(server.url + "/")
    page.locator("#model-info:has-text('토크나이저')").wait_for()  # max_len is known before the first answer
    page.fill("#text", text)
    page.click("#submit")
    page.wait_for_selector(".result .unread")
    cut = expected["tokens"][max_len - 1]["end"]
    assert page.inner_text(".result .unread") == text[cut:]
    assert page.inner_text(".result .heat") == text
    assert all(end <= cut for _, end, _, _ in painted_tokens(page))
    assert f"{max_len}개" in page.inner_text(".result .flags")
    page.close()


def test_errors_name_the_line_and_an_unreachable_server(server: RunningServer, browser) -> None:
    page = browser.new_page()
    page.goto(server.url + "/")
    page.check('input[name="mode"][value="batch"]')
    page.fill("#text", "좋아요\n\n" + "너무 길다 " * 100)  # the long text is the box's third line
    page.click("#submit")
    page.wait_for_selector("#error:not([hidden])")
    message = page.inner_text("#error")
    assert "422" in message and "3번째 줄" in message and str(LIMIT) in message

    page.route("**/v1/predict", lambda route: route.abort())
    page.check('input[name="mode"][value="single"]')
    page.fill("#text", "재미있어요")
    page.click("#submit")
    page.locator("#error:has-text('서버에 연결할 수 없습니다')").wait_for()
    assert page.query_selector(".result") is None

    # A 200 that is not the API's answer (a proxy's or captive portal's page) is not a connection failure.
    page.route(
        "**/v1/predict/batch", lambda route: route.fulfill(status=200, body="<html></html>", content_type="text/html")
    )
    page.check('input[name="mode"][value="batch"]')
    page.fill("#text", "재미있어요\n지루해요")
    page.click("#submit")
    page.locator("#error:has-text('서버의 답을 해석할 수 없습니다')").wait_for()
    page.close()


def test_a_batch_waits_two_minutes_for_its_answer_and_a_single_text_thirty_seconds(
    server: RunningServer, browser
) -> None:
    """A legal batch (64 texts of 2,000 characters) takes the server tens of seconds: the page used to give up on it
    at 30 s. The page's clock is run forward while the server's answer is held back."""
    page = browser.new_page()
    page.clock.install()
    page.goto(server.url + "/")
    page.route("**/v1/predict/batch", lambda route: None)  # never answered
    page.route("**/v1/predict", lambda route: None)
    page.check('input[name="mode"][value="batch"]')
    page.fill("#text", "재미있어요\n지루해요")
    page.click("#submit")
    page.clock.run_for(60_000)
    assert page.locator("#error").is_hidden()  # still waiting after a minute
    page.clock.run_for(61_000)
    page.locator("#error:has-text('서버가 120초 안에 답하지 않았습니다. 줄 수를 줄이거나')").wait_for()

    page.check('input[name="mode"][value="single"]')
    page.fill("#text", "재미있어요")
    page.click("#submit")
    page.clock.run_for(31_000)
    page.locator("#error:has-text('서버가 30초 안에 답하지 않았습니다. 다시 시도하세요.')").wait_for()
    page.close()


def test_batch_mode_shows_one_result_per_line(server: RunningServer, browser) -> None:
    lines = ["정말 재미있어요", "최악이다", "그냥 그랬음"]
    expected = httpx.post(f"{server.url}/v1/predict/batch", json={"texts": lines}).json()["predictions"]
    page = browser.new_page()
    page.goto(server.url + "/")
    page.check('input[name="mode"][value="batch"]')
    # Lines that show nothing are skipped like empty ones: a zero-width space, the blank filler U+3164.
    page.fill("#text", f"{lines[0]}\n\u200b\n{lines[1]}\n\u3164 \n\n{lines[2]}")
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


def test_a_busy_or_too_large_answer_gets_a_korean_hint(server: RunningServer, browser) -> None:
    page = browser.new_page()
    page.goto(server.url + "/")
    busy = "service busy: 60 texts are waiting for the model and 5 more would pass the limit of 64"
    assert page.evaluate("([status, body]) => describeError(status, body)", [503, {"detail": busy}]) == (
        f"오류 503: 서버가 바쁩니다. 잠시 후 다시 시도하세요 ({busy})"
    )
    assert page.evaluate("describeError(413, {detail: 'too large'})") == (
        "오류 413: 보낸 글이 너무 큽니다. 줄 수를 줄이거나 나눠서 보내세요 (too large)"
    )
    assert page.evaluate("describeError(500, null)") == "오류 500: 서버 내부 오류입니다"
    assert page.evaluate("describeError(418, null)") == "오류 418: 서버가 이유를 알려 주지 않았습니다"
    timeout = "new DOMException('timeout', 'TimeoutError')"
    assert page.evaluate(f"describeFailure({timeout}, [], ['a', 'b'], 120000)") == (
        "서버가 120초 안에 답하지 않았습니다. 줄 수를 줄이거나 짧게 나눠서 다시 보내세요."
    )
    assert (
        page.evaluate(f"describeFailure({timeout}, [], ['a'], 30000)")
        == "서버가 30초 안에 답하지 않았습니다. 다시 시도하세요."
    )
    more = "{loc: ['body'], msg: 'and 151 more problems not listed', type: 'more_problems', ctx: {count: 151}}"
    assert page.evaluate(f"describeError(422, {{detail: [{more}]}})") == "오류 422: 그 밖에도 문제가 151개 더 있습니다"
    page.close()


def test_input_problems_are_explained_in_korean(server: RunningServer, browser) -> None:
    page = browser.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(server.url + "/")
    page.fill("#text", "  \n ")
    page.click("#submit")
    page.locator("#error:has-text('분석할 글을 입력하세요')").wait_for()
    assert not [url for url in requested if "/v1/predict" in url]  # refused before any request

    for text, expected in [
        ("좋아요\u0007 최고", "오류 422: 4번째 글자가 제어 문자(U+0007)입니다"),
        ("가" * (LIMIT + 1), f"오류 422: {LIMIT + 1}자입니다. {LIMIT}자까지 분석할 수 있습니다"),
        ("\u200b\u200b", "오류 422: 보이는 글자가 없습니다"),
        # The API counts code points; the page counts what the user sees: a family emoji is one character, and
        # Hangul pasted from a Mac (decomposed, NFD) is one syllable of two code points here.
        ("\U0001f468\u200d\U0001f469\u200d\U0001f467 좋다\u0007", "오류 422: 5번째 글자가 제어 문자(U+0007)입니다"),
        (
            unicodedata.normalize("NFD", "가" * (LIMIT // 2 + 1)),
            f"오류 422: 유니코드 코드 포인트 {LIMIT + 2}개입니다 (보이는 글자로는 {LIMIT // 2 + 1}자). "
            f"코드 포인트 {LIMIT}개까지",
        ),
    ]:
        page.fill("#text", text)
        page.click("#submit")
        page.locator(f"#error:has-text('{expected}')").wait_for()
    page.close()


def test_the_top_list_keeps_tokens_readable(server: RunningServer, browser) -> None:
    """A long unbroken token wraps on a phone, each token is isolated from the text direction around it,
    repeats say which occurrence they are, and a token of invisible characters is named by its code points."""
    text = "지루했다 지루했다 지루했다 שלום " + "https://example.com/" + "a" * 120
    page = browser.new_page(viewport={"width": 375, "height": 740})
    page.goto(server.url + "/")
    page.fill("#text", text)
    page.click("#submit")
    page.wait_for_selector(".result .top li")

    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    items = page.eval_on_selector_all(".result .top li", "items => items.map(i => [i.firstChild.tagName, i.innerText])")
    assert all(tag == "BDI" for tag, _ in items)
    repeats = sorted(shown for _, shown in items if shown.startswith("지루했다 ("))
    assert [shown.split(")")[0] for shown in repeats] == [f"지루했다 ({n}번째" for n in range(1, len(repeats) + 1)]
    assert repeats, items
    assert page.evaluate("visibleForm('\u200b\u202e')") == "U+200B U+202E"
    assert page.evaluate("visibleForm('영화')") == "영화"
    page.close()


def test_model_details_are_fetched_again_after_a_failed_first_try(server: RunningServer, browser) -> None:
    """One failed GET /v1/model (a restart, a network blip) must not leave the header broken and a truncated
    text without its unread part for the rest of the visit."""
    page = browser.new_page()
    failures = []

    def fail_once(route) -> None:
        if failures:
            route.continue_()
        else:
            failures.append(route.request.url)
            route.abort()

    page.route("**/v1/model", fail_once)
    page.goto(server.url + "/")
    page.locator("#model-info:has-text('서버에 연결할 수 없습니다')").wait_for()
    page.fill("#text", "정말 좋아요 " * 40)
    page.click("#submit")
    page.wait_for_selector(".result .unread")
    assert "토크나이저" in page.inner_text("#model-info") and len(failures) == 1
    page.close()


def test_high_contrast_mode_keeps_the_shading_and_the_bars(server: RunningServer, browser) -> None:
    page = browser.new_page()
    page.emulate_media(forced_colors="active")
    page.goto(server.url + "/")
    page.fill("#text", "배우 연기는 좋은데 스토리가 너무 지루했다")
    page.click("#submit")
    page.wait_for_selector(".result .tok")
    shades = page.eval_on_selector_all(".result .tok", "spans => spans.map(s => getComputedStyle(s).backgroundColor)")
    assert any(shade.startswith("rgba(232, 89, 12") for shade in shades), shades
    fill = page.eval_on_selector(".result .bar > span", "s => getComputedStyle(s).backgroundColor")
    assert fill not in ("rgba(0, 0, 0, 0)", "transparent")
    page.close()


def test_an_example_replaces_the_text_undoably(server: RunningServer, browser) -> None:
    page = browser.new_page()
    page.goto(server.url + "/")
    page.fill("#text", "내가 쓰던 리뷰")
    page.click(".example >> nth=1")
    page.wait_for_selector(".result .tok")
    assert page.input_value("#text") == page.inner_text(".example >> nth=1")
    page.focus("#text")
    page.keyboard.press("Control+z")
    assert page.input_value("#text") == "내가 쓰던 리뷰"
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
    assert not console  # no CSP violation, no missing asset (the favicon included)
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

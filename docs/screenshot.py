"""Regenerate docs/screenshot.png, the README's picture of the viewer page, from a real server and real Chromium.

    .venv/bin/python docs/screenshot.py [--bundle model/default] [--out docs/screenshot.png]

Run it from the repo root whenever the default model changes, so the picture shows what the page really shows:
the service is started on a free loopback port (`app.launch.running_server`), Debian's chromium is driven by
Playwright the way tests/test_page.py does, and three reviews are classified in batch mode.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # docs/ is not a package: make `app` importable when run as a script

from playwright.sync_api import sync_playwright  # noqa: E402

from app.launch import running_server  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
VIEWPORT = {"width": 900, "height": 700}
LINES = [
    "배우들 연기가 정말 좋았고 스토리도 탄탄해서 시간 가는 줄 몰랐어요",
    "최악의 영화. 돈 아깝고 시간 아깝다 ㅡㅡ",
    "배우 연기는 좋은데 스토리가 너무 지루했다",
]
RESULT_TIMEOUT_MS = 60_000  # the first predictions can be slow on a busy machine


def take_screenshot(bundle: Path, out: Path) -> None:
    """Serve `bundle`, classify LINES in the page's batch mode, and save a full-page screenshot to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="screenshot-") as workdir,
        running_server(bundle.resolve(), Path(workdir) / "server.log", env={"LOG_LEVEL": "warning"}) as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(server.url + "/")
            page.check('input[name="mode"][value="batch"]')
            page.fill("#text", "\n".join(LINES))
            page.click("#submit")
            page.locator(".result").nth(len(LINES) - 1).wait_for(timeout=RESULT_TIMEOUT_MS)  # CSP forbids eval
            page.screenshot(path=str(out), full_page=True)
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundle", type=Path, default=ROOT / "model" / "default", help="model bundle to serve (default: model/default)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=ROOT / "docs" / "screenshot.png",
        help="where to write the PNG (default: docs/screenshot.png)",
    )
    args = parser.parse_args(argv)
    take_screenshot(args.bundle, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

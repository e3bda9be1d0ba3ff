"""The explain CLI: terminal colours, a PNG with real Hangul glyphs, an escaped standalone HTML page."""

from __future__ import annotations

import contextlib
import html
import io
import re
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from PIL import Image

from model.predictor import Predictor
from tests.conftest import ROOT, stop_cli_midway
from training import explain as explain_cli
from training.explain import HIGH, explain, format_weight, korean_font, render_html, write_png

TEXT = '이 영화 정말 재밌었어요!! <b>배우</b> & "연기" 최고'
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MISSING_GLYPH = r"Glyph .* missing from font"


@pytest.fixture(scope="module")
def outputs(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """Run the CLI in-process once with missing glyphs turned into errors; returns (stdout, png, html)."""
    out = tmp_path_factory.mktemp("explain")
    stdout = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(stdout):
        warnings.filterwarnings("error", message=MISSING_GLYPH)
        files = ["--png", str(out / "x.png"), "--html", str(out / "x.html")]
        code = explain_cli.main(["--bundle", str(tiny_bundle), TEXT, *files, "--color", "always"])
    assert code == 0
    return stdout.getvalue(), out / "x.png", out / "x.html"


@pytest.fixture(scope="module")
def predictor(tiny_bundle: Path) -> Predictor:
    return Predictor.load(tiny_bundle, tokenizer_workers=1)


def test_terminal_shows_label_probabilities_and_coloured_tokens(outputs: tuple[str, Path, Path]) -> None:
    printed = outputs[0]
    plain = ANSI.sub("", printed)
    assert re.search(r"label: (negative|positive)", plain)
    assert "negative 0." in plain and "positive 0." in plain
    assert "48;2;" in printed  # 24-bit background colours
    for word in ("영화", "배우", "연기", "최고"):
        assert word in plain
    assert TEXT in plain  # the whole text, in order, once the colours are stripped


def test_output_to_a_pipe_or_file_is_plain_text_with_the_weights(tiny_bundle: Path) -> None:
    stdout = io.StringIO()  # not a terminal, like `> file` or `| less`
    with contextlib.redirect_stdout(stdout):
        assert explain_cli.main(["--bundle", str(tiny_bundle), TEXT]) == 0
    printed = stdout.getvalue()
    assert not ANSI.search(printed)
    assert TEXT in printed.splitlines()
    assert re.search(r"^tokens \(as the model read them\): .*영화 [0-9.]+", printed, re.MULTILINE)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "text must not be empty or only whitespace and invisible characters"),
        ("   ", "text must not be empty or only whitespace and invisible characters"),
        ("\u200b\ufeff", "text must not be empty or only whitespace and invisible characters"),
        ("영화\x01좋다", "text contains the control character U+0001 at position 2"),
        ("영화\udcff", "lone surrogate U+DCFF at position 2 (U+D800-U+DFFF), which is not valid Unicode (a terminal"),
    ],
)
def test_texts_the_api_refuses_are_refused_in_the_same_words(
    tiny_bundle: Path, text: str, says: str, capsys: pytest.CaptureFixture
) -> None:
    """Invalid UTF-8 in the arguments arrives as lone surrogates (Python's surrogateescape)."""
    with pytest.raises(SystemExit) as stopped:
        explain_cli.main(["--bundle", str(tiny_bundle), text])
    assert stopped.value.code == 2
    assert says in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["-_-", "--color", "never"], "the following arguments are required: text; a text that starts with \"-\" "
         "goes after \"--\": python -m training.explain --color never -- -_-"),
        (["--;"], "the following arguments are required: text; a text that starts with \"-\" goes after \"--\": "
         "python -m training.explain -- '--;'"),
        ([], "the following arguments are required: text"),  # nothing starts with "-": no hint
        (["--bundel", "영화"], "unrecognized arguments: --bundel"),  # a misspelt option is no text
        # with a space, argparse reads it as the text: its other errors get no hint
        (["-_- 별로", "--png", "x.jpg"], "--png x.jpg: the picture is written as PNG; give a file name ending in .png"),
    ],
)  # fmt: skip
def test_a_text_read_as_an_option_gets_a_hint_to_pass_it_after_double_dash(
    argv: list[str], says: str, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as stopped:
        explain_cli.main(argv)
    assert stopped.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: {says}\n")


def test_a_text_starting_with_a_dash_is_explained_after_double_dash(tiny_bundle: Path) -> None:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert explain_cli.main(["--bundle", str(tiny_bundle), "--", "-_- 영화"]) == 0
    assert "-_- 영화" in stdout.getvalue().splitlines()


def test_png_is_written_with_hangul_glyphs(outputs: tuple[str, Path, Path]) -> None:
    png = outputs[1]
    assert korean_font() is not None
    assert png.stat().st_size > 10_000
    with Image.open(png) as image:
        pixels = image.convert("RGB")
        assert pixels.width == explain_cli.WIDTH and pixels.height > 150
        colours = pixels.getcolors(maxcolors=1 << 20)
    assert len(colours) > 50  # text, boxes and colour bar, not a blank canvas
    assert any(sum(abs(a - b) for a, b in zip(rgb, HIGH)) < 30 for _, rgb in colours)  # a strongest-token box


def test_missing_glyph_check_catches_a_font_without_hangul(
    predictor: Predictor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(explain_cli, "korean_font", lambda: None)
    with pytest.warns(UserWarning, match=MISSING_GLYPH):
        write_png(explain(predictor, "영화 최고"), tmp_path / "tofu.png")


def test_html_is_standalone_escaped_and_has_every_weight(outputs: tuple[str, Path, Path], predictor: Predictor) -> None:
    page = outputs[2].read_text("utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<b>" not in page and "</b>" not in page
    assert not re.search(r"(src|href)=|<link|<script|url\(", page)  # no external assets
    explanation = explain(predictor, TEXT)
    for segment in explanation.segments:
        assert html.escape(segment.text, quote=True) in page
        assert f'title="{html.escape(segment.describe(), quote=True)}"' in page
        for _, weight in segment.parts:
            assert format_weight(weight) in page
    assert "&lt;" in page and "&amp;" in page and "&quot;" in page


def test_text_past_the_length_limit_is_marked_unread(predictor: Predictor) -> None:
    explanation = explain(predictor, " ".join(["영화"] * (predictor.max_len + 3)))
    assert explanation.truncated
    assert [segment.read for segment in explanation.segments].count(False) == 3
    assert "not read" in render_html(explanation)


def test_missing_bundle_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "training.explain", "--bundle", str(tmp_path / "nowhere"), "영화"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "cannot load the model bundle" in result.stderr and "nowhere" in result.stderr
    assert "--bundle" in result.stderr and not result.stdout


def run_explain(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "training.explain", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_a_published_root_is_explained_with_its_current_version(published_root: Path) -> None:
    result = run_explain("--bundle", str(published_root), "정말 재미있는 영화", "--color", "never")
    assert result.returncode == 0, result.stderr[-1500:]
    assert "재미있는" in result.stdout


def test_an_unwritable_output_is_one_error_line_before_the_model_loads(tiny_bundle: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("", "utf-8")
    cases = {
        ("--png", str(blocker / "x.png")): f"--png {blocker / 'x.png'}: cannot be written",
        ("--html", str(tmp_path)): f"--html {tmp_path}: is a directory; give a file name",
        ("--png", str(tmp_path / "x.jpg")): f"--png {tmp_path / 'x.jpg'}: the picture is written as PNG; give a file",
    }
    for option, message in cases.items():
        result = run_explain("--bundle", str(tiny_bundle), "영화", "--color", "never", *option)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert not result.stdout and "Traceback" not in result.stderr and "loading" not in result.stderr


def test_ctrl_c_while_the_model_loads_exits_130_with_one_line(tiny_bundle: Path, tmp_path: Path) -> None:
    """Loading takes seconds (TensorFlow's import, the JVM's start, the network's first trace): a Ctrl-C then
    ends the run with one line, no traceback, and no explanation half printed."""
    args = ["--bundle", str(tiny_bundle), "정말 재미있는 영화", "--color", "never"]
    code, output = stop_cli_midway(args, tmp_path, signal.SIGINT, "loading bundle", 0.5, module="training.explain")
    assert code == 130, output[-2000:]
    assert output.rstrip().endswith("interrupted")
    assert "Traceback" not in output and "tokens:" not in output

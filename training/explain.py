"""Show what the model attended to in one text: its label, probabilities and every token coloured by weight.

python -m training.explain --bundle model/default "이 영화 정말 재밌다" --png explain.png --html explain.html
"""

from __future__ import annotations

import argparse
import functools
import html
import os
import re
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from logging import Logger
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import matplotlib

matplotlib.use("Agg")
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap, Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from model.layout import BundleError  # noqa: E402
from model.registry import RegistryError, check_servable  # noqa: E402
from model.tokenizer import TokenizerError, exit_process, text_problem  # noqa: E402
from training.data import DataError  # noqa: E402
from training.progress import check_output_file, cli_logger, load_predictor, run_until_ctrl_c  # noqa: E402
from training.reports import korean_font  # noqa: E402

if TYPE_CHECKING:  # TensorFlow is imported only once the arguments are read
    from model.predictor import Predictor

DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "model" / "default"
LOW, HIGH = (255, 255, 255), (253, 141, 60)  # white to orange: black text stays readable on both ends
COLOURMAP = LinearSegmentedColormap.from_list("attention", [tuple(c / 255 for c in LOW), tuple(c / 255 for c in HIGH)])
SCALE_NOTE = "colour relative to the strongest token"

# PNG layout, in pixels at DPI.
DPI = 110
WIDTH = 1100
MARGIN = 24
TOKEN_PT, WEIGHT_PT, TITLE_PT = 15, 7.5, 12
PAD = 4  # inside a token box, each side
GAP = 2  # between boxes of tokens written together
LINE_GAP = 10


@dataclass(frozen=True)
class Segment:
    """A stretch of the text and the tokens read there.

    Tokens the tagger rewrote (stems, normalised forms) share a neighbour's span, so tokens with the
    same span are shown as one segment whose weight is the sum of theirs.
    """

    start: int
    end: int
    text: str
    parts: tuple[tuple[str, float], ...]  # (form, attention) per token in the span
    oov: bool  # some token here is unknown to the vocabulary
    read: bool  # False for tokens past max_len: the model never saw them

    @property
    def weight(self) -> float:
        return sum(weight for _, weight in self.parts)

    def describe(self) -> str:
        return " + ".join(f"{form} {format_weight(weight)}" for form, weight in self.parts)


@dataclass(frozen=True)
class Explanation:
    text: str
    label: str
    probabilities: dict[str, float]
    segments: list[Segment]
    truncated: bool

    @property
    def peak(self) -> float:
        """The strongest segment's weight: colours are scaled to it so long texts still show contrast."""
        return max((segment.weight for segment in self.segments), default=0.0)

    def intensity(self, segment: Segment) -> float:
        return segment.weight / self.peak if self.peak > 0 else 0.0

    def pieces(self) -> list[tuple[str, Segment | None]]:
        """The whole text in order: segments, and the characters between them (None).

        The aligner gives tokens identical or disjoint spans, so skipping an overlapping segment loses nothing.
        """
        pieces: list[tuple[str, Segment | None]] = []
        cursor = 0
        for segment in self.segments:
            if segment.start < cursor:
                continue
            if segment.start > cursor:
                pieces.append((self.text[cursor : segment.start], None))
            pieces.append((segment.text, segment))
            cursor = segment.end
        if cursor < len(self.text):
            pieces.append((self.text[cursor:], None))
        return pieces


def format_weight(weight: float) -> str:
    return f"{weight:.3f}"


def colour(intensity: float) -> tuple[int, int, int]:
    """Background for an intensity in [0, 1]; the same scale in the terminal, PNG and HTML."""
    return tuple(round(low + (high - low) * min(1.0, max(0.0, intensity))) for low, high in zip(LOW, HIGH))


def explain(predictor: Predictor, text: str) -> Explanation:
    """Predict one text through the Predictor and group its tokens by span."""
    encoded = predictor.preprocess([text])[0]
    prediction = predictor.predict_encoded([encoded])[0]
    spans: dict[tuple[int, int], list[int]] = {}
    for index, token in enumerate(prediction.tokens):
        spans.setdefault((token.start, token.end), []).append(index)
    segments = [
        Segment(
            start=start,
            end=end,
            text=text[start:end],
            parts=tuple((encoded.tokens[i].form, prediction.tokens[i].attention) for i in indices),
            oov=any(prediction.tokens[i].oov for i in indices),
            read=indices[0] < len(encoded.ids),
        )
        for (start, end), indices in sorted(spans.items())
    ]
    return Explanation(text, prediction.label, prediction.probabilities, segments, prediction.truncated)


def _probability_line(explanation: Explanation) -> str:
    return "  ".join(f"{name} {p:.3f}" for name, p in explanation.probabilities.items())


def render_terminal(explanation: Explanation, coloured: bool = True) -> str:
    """Label, probabilities, the text on 24-bit background colours, a legend and every token's weight;
    not `coloured` (output to a file or pipe): the plain text and the weights."""
    reset = "\x1b[0m"

    def paint(text: str, intensity: float) -> str:
        r, g, b = colour(intensity)
        return f"\x1b[38;2;0;0;0;48;2;{r};{g};{b}m{text}{reset}"

    def piece(text: str, segment: Segment | None) -> str:
        if segment is None or not coloured:
            return text
        return paint(text, explanation.intensity(segment)) if segment.read else f"\x1b[2m{text}{reset}"

    body = "".join(piece(text, segment) for text, segment in explanation.pieces())
    legend = "".join(paint("  ", step / 8) for step in range(9))
    lines = [f"label: {explanation.label}", f"probabilities: {_probability_line(explanation)}", "", body, ""]
    if coloured:
        lines.append(f"attention {legend} 0 to {format_weight(explanation.peak)} ({SCALE_NOTE}; dim = not read)")
    read = "  ".join(segment.describe() for segment in explanation.segments if segment.read)
    lines.append(f"tokens (as the model read them): {read}")  # forms: stems and normalised spellings
    if explanation.truncated:
        cut = "dim tokens were" if coloured else "tokens past the last one listed were"
        lines.append(f"note: the text is longer than the model reads; {cut} cut off")
    return "\n".join(lines)


def write_png(explanation: Explanation, path: Path) -> Path:
    """The text laid out in token boxes coloured by weight, each weight under its box, and a colour bar."""
    korean = korean_font()
    families = [korean, "DejaVu Sans"] if korean else ["DejaVu Sans"]
    token_font = FontProperties(family=families, size=TOKEN_PT)
    weight_font = FontProperties(family=families, size=WEIGHT_PT)
    measurer = RendererAgg(WIDTH, 100, DPI)

    def width(text: str, font: FontProperties) -> float:
        return measurer.get_text_width_height_descent(text, font, ismath=False)[0]

    box_height = TOKEN_PT * DPI / 72 * 1.45
    line_height = box_height + WEIGHT_PT * DPI / 72 * 1.6 + LINE_GAP
    space = max(10.0, width("a b", token_font) - width("ab", token_font))

    def lines_of(text: str) -> list[str]:
        """A piece wider than a line (a long unspaced token) broken into line-sized parts."""
        parts, current = [], ""
        for char in text:
            if current and width(current + char, token_font) > WIDTH - 2 * (MARGIN + PAD):
                parts.append(current)
                current = ""
            current += char
        return [*parts, current]

    placed: list[tuple[float, int, float, str, Segment | None, str]] = []  # x, line, box, text, segment, weight
    x, line = float(MARGIN), 0
    for text, segment in explanation.pieces():
        if segment is None and not text.strip():
            if "\n" in text:
                x, line = float(MARGIN), line + 1
            elif x > MARGIN:
                x += space
            continue
        for index, part in enumerate(lines_of(text)):
            label = format_weight(segment.weight) if segment is not None and segment.read and index == 0 else ""
            box = max(width(part, token_font), width(label, weight_font) if label else 0.0) + 2 * PAD
            if x + box > WIDTH - MARGIN and x > MARGIN:
                x, line = float(MARGIN), line + 1
            placed.append((x, line, box, part, segment, label))
            x += box + GAP
    title_height, bar_height = 70, 70
    height = title_height + (line + 1) * line_height + bar_height

    figure = Figure(figsize=(WIDTH / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, WIDTH)
    axes.set_ylim(height, 0)
    axes.axis("off")
    title = f"{explanation.label}    ({_probability_line(explanation)})"
    axes.text(MARGIN, 28, title, fontproperties=FontProperties(family=families, size=TITLE_PT, weight="bold"))
    if explanation.truncated:
        axes.text(MARGIN, 52, "grey tokens were past the model's length limit and not read", fontproperties=weight_font)
    for x, line, box, text, segment, label in placed:
        top = title_height + line * line_height
        if segment is not None and segment.read:
            fill = tuple(c / 255 for c in colour(explanation.intensity(segment)))
            edge = "#888888" if segment.oov else "#dddddd"
            axes.add_patch(Rectangle((x, top), box, box_height, facecolor=fill, edgecolor=edge, linewidth=0.8))
            axes.text(
                x + box / 2,
                top + box_height + 3,
                label,
                ha="center",
                va="top",
                color="#555555",
                fontproperties=weight_font,
            )
        colour_text = "black" if segment is not None and segment.read else "#999999"
        axes.text(
            x + box / 2,
            top + box_height / 2,
            text,
            ha="center",
            va="center_baseline",
            color=colour_text,
            fontproperties=token_font,
        )
    bar = figure.add_axes((MARGIN / WIDTH, 28 / height, 0.4, 14 / height))
    scale = ScalarMappable(Normalize(0.0, explanation.peak or 1.0), COLOURMAP)
    colourbar = figure.colorbar(scale, cax=bar, orientation="horizontal")
    colourbar.ax.tick_params(labelsize=WEIGHT_PT)
    colourbar.set_label(f"attention weight ({SCALE_NOTE}; grey border = unknown token)", fontproperties=weight_font)
    colourbar.ax.xaxis.set_label_position("top")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI)
    return path


HTML_STYLE = """
body { font-family: "Noto Sans KR", "NanumGothic", "Nanum Gothic", "Malgun Gothic", "Apple SD Gothic Neo", sans-serif;
       margin: 2em; color: #222; max-width: 60em; }
h1 { font-size: 1.3em; margin-bottom: 0.2em; }
.probabilities { color: #555; margin-top: 0; }
.text { font-size: 1.4em; line-height: 2.2; white-space: pre-wrap; }
.token { padding: 0.15em 0.05em; border-radius: 3px; }
.oov { text-decoration: underline dotted #666; }
.unread { color: #999; }
.legend { display: flex; align-items: center; gap: 0.6em; color: #555; font-size: 0.9em; }
.bar { display: inline-block; width: 14em; height: 1em; border: 1px solid #ccc; }
table { border-collapse: collapse; margin-top: 1.5em; }
td, th { padding: 0.2em 0.8em; text-align: left; border-bottom: 1px solid #eee; }
td.weight { text-align: right; font-variant-numeric: tabular-nums; }
"""


def render_html(explanation: Explanation) -> str:
    """A standalone page (inline CSS, no external assets); every token a span titled with its weight."""
    escape = functools.partial(html.escape, quote=True)
    spans = []
    for text, segment in explanation.pieces():
        if segment is None:
            spans.append(escape(text))
        elif not segment.read:
            spans.append(f'<span class="token unread" title="not read (past the length limit)">{escape(text)}</span>')
        else:
            r, g, b = colour(explanation.intensity(segment))
            classes = "token oov" if segment.oov else "token"
            spans.append(
                f'<span class="{classes}" style="background: rgb({r}, {g}, {b})" '
                f'title="{escape(segment.describe())}">{escape(text)}</span>'
            )
    rows = "\n".join(
        f"<tr><td>{escape(segment.text)}</td><td>{escape(form)}</td>"
        f'<td class="weight">{format_weight(weight) if segment.read else "not read"}</td>'
        f"<td>{'unknown' if segment.oov else ''}</td></tr>"
        for segment in explanation.segments
        for form, weight in segment.parts
    )
    gradient = f"linear-gradient(to right, rgb{LOW}, rgb{HIGH})"
    note = "<p>The text is longer than the model reads; grey tokens were cut off.</p>" if explanation.truncated else ""
    return f"""<!DOCTYPE html>
<html lang="ko">
<head>
<meta charset="utf-8">
<title>{escape(explanation.label)}: attention explanation</title>
<style>{HTML_STYLE}</style>
</head>
<body>
<h1>{escape(explanation.label)}</h1>
<p class="probabilities">{escape(_probability_line(explanation))}</p>
<p class="text">{"".join(spans)}</p>
{note}
<div class="legend">attention <span>0</span><span class="bar" style="background: {gradient}"></span>
<span>{format_weight(explanation.peak)}</span> ({SCALE_NOTE}; dotted underline = unknown token)</div>
<table>
<tr><th>text</th><th>token</th><th>weight</th><th></th></tr>
{rows}
</table>
</body>
</html>
"""


class ExplainParser(argparse.ArgumentParser):
    """Its errors for a text that starts with "-" (reviews do: "-_-"), which argparse reads as an option, say how
    to pass that text."""

    given: tuple[str, ...] = ()  # the arguments being parsed

    def parse_known_args(
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self.given = tuple(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        if text := self._text_read_as_option(message):
            rest = list(self.given)
            rest.remove(text)
            command = " ".join([self.prog, *map(shlex.quote, rest), "--", shlex.quote(text)])
            message += f'; a text that starts with "-" goes after "--": {command}'
        super().error(message)

    def _text_read_as_option(self, message: str) -> str | None:
        """The argument this error is about that argparse took for an option though it names none: it starts with
        "-" and has no space (`-_-`, `-1점`; `-_- 별로` and `-1` are read as texts)."""
        if not message.startswith("the following arguments are required: text"):
            return None  # (an unrecognized word after the text is a text not quoted whole, not this)
        options_end = self.given.index("--") if "--" in self.given else len(self.given)
        for arg in self.given[:options_end]:
            if arg.startswith("-") and " " not in arg and not re.match(r"--?[A-Za-z]|-\d+$", arg):
                return arg
        return None


def main(argv: list[str] | None = None) -> int:
    parser = ExplainParser(prog="python -m training.explain", description=__doc__.split("\n")[0])
    parser.add_argument("text", help="the text to explain")
    parser.add_argument(
        "--bundle",
        type=Path,
        default=DEFAULT_BUNDLE,
        help="bundle directory, or a ROOT of published versions (default: model/default)",
    )
    parser.add_argument("--png", type=Path, help="also write the highlighted text as a PNG here")
    parser.add_argument("--html", type=Path, help="also write the highlighted text as a standalone HTML page here")
    parser.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the terminal output: auto (default) when writing to a terminal and NO_COLOR is not set",
    )
    args = parser.parse_args(argv)
    if (problem := text_problem(args.text)) is not None:  # the texts the API refuses, in the same words
        kind, message, values = problem
        hint = " (a terminal or shell that does not send UTF-8?)" if kind == "invalid_unicode" else ""
        parser.error(message.format(**values) + hint)
    if args.png is not None and args.png.suffix.lower() != ".png":
        parser.error(f"--png {args.png}: the picture is written as PNG; give a file name ending in .png")
    for path, option in ((args.png, "--png"), (args.html, "--html")):
        if path is not None:
            try:
                check_output_file(path, option)  # before the seconds the model takes to load
            except DataError as error:
                parser.error(str(error))
    log = cli_logger("training")
    return run_until_ctrl_c(lambda: run(args, log), log)  # Ctrl-C while TensorFlow or the JVM loads


def run(args: argparse.Namespace, log: Logger) -> int:
    """Explain and write as `args` say; the exit status."""
    try:
        check_servable(args.bundle)  # a mistyped path answers at once, not after TensorFlow's import
        log.info("loading bundle %s", args.bundle)
        predictor = load_predictor(args.bundle, tokenizer_workers=1)
    except (BundleError, RegistryError, TokenizerError) as error:
        log.error(
            "error: cannot load the model bundle: %s (train one with python -m training.train, or pass --bundle DIR)",
            error,
        )
        return 2
    explanation = explain(predictor, args.text)
    terminal = sys.stdout.isatty() and not os.environ.get("NO_COLOR")  # https://no-color.org
    coloured = args.color == "always" or (args.color == "auto" and terminal)
    sys.stdout.write(render_terminal(explanation, coloured) + "\n")
    try:
        if args.png:
            if korean_font() is None:
                log.warning("no Korean font found (install koreanize-matplotlib or fonts-nanum): Hangul will be boxes")
            log.info("PNG written to %s", write_png(explanation, args.png))
        if args.html:
            args.html.parent.mkdir(parents=True, exist_ok=True)
            args.html.write_text(render_html(explanation), "utf-8")
            log.info("HTML written to %s", args.html)
    except OSError as error:
        log.error("error: cannot write %s: %s", error.filename or "the output", error.strerror or error)
        return 1
    return 0


if __name__ == "__main__":
    exit_process(main())

"""Korean morpheme tokenizers (konlpy) whose tokens keep their character span in the input."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

TAGGERS = ("okt", "komoran", "hannanum", "kkma", "mecab")
_OKT_OPTIONS = {"norm", "stem"}
_WORD = re.compile(r"\S+")
_ASTRAL = re.compile("([\U00010000-\U0010ffff]+)")  # emoji and friends; Komoran/Kkma/Hannanum choke on them
log = logging.getLogger(__name__)
_tagger_lock = threading.Lock()


class TokenizerError(ValueError):
    """The tokenizer name or its options are not usable here."""


@dataclass(frozen=True)
class Token:
    """One token: `text` is exactly `source[start:end]`; `form` is what the vocabulary looks up."""

    text: str
    start: int
    end: int
    form: str


def _make_tagger(name: str, options: dict) -> Callable[[str], list[str]]:
    """Return a function text -> morphemes for the named konlpy tagger (JVM started once)."""
    if name not in TAGGERS:
        raise TokenizerError(f"unknown tokenizer {name!r}; choose one of {', '.join(TAGGERS)}")
    unknown = set(options) - (_OKT_OPTIONS if name == "okt" else set())
    if unknown:
        raise TokenizerError(f"tokenizer {name!r} does not take option(s) {sorted(unknown)}")
    from konlpy import tag

    with _tagger_lock:
        if name == "okt":
            okt = tag.Okt()
            norm, stem = bool(options.get("norm", False)), bool(options.get("stem", False))
            return lambda text: [m for m, _ in okt.pos(text, norm=norm, stem=stem)]
        if name == "mecab":
            try:
                tagger = tag.Mecab()
            except Exception as error:  # konlpy raises bare Exceptions when mecab-ko is absent
                raise TokenizerError(f"mecab is not installed on this machine: {error}") from error
        else:
            tagger = {"komoran": tag.Komoran, "hannanum": tag.Hannanum, "kkma": tag.Kkma}[name]()
    return lambda text: _around_astral(tagger.morphs, text)


def _around_astral(morphs: Callable[[str], list[str]], text: str) -> list[str]:
    """Tag the text between runs of non-BMP characters; each such run is one morpheme."""
    result: list[str] = []
    for index, part in enumerate(_ASTRAL.split(text)):
        if index % 2:
            result.append(part)
        elif part.strip():
            result.extend(morphs(part))
    return result


def align(text: str, morphemes: Sequence[str]) -> list[Token]:
    """Give every morpheme a span in `text`.

    A morpheme that occurs verbatim at or just after the cursor (within the current word or the
    next one) takes that span. A morpheme the tagger rewrote (stemmed, normalised, conjugated)
    is not in the text; it takes the gap of unclaimed characters before the next aligned morpheme,
    or, when there is no gap, the span of the token before it. Whitespace morphemes are dropped.
    """
    morphemes = [m for m in morphemes if m.strip()]
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    positions: list[tuple[int, int] | None] = []
    cursor = 0
    word_index = 0
    for morpheme in morphemes:
        while word_index < len(words) and words[word_index][1] <= cursor:
            word_index += 1
        if not morpheme or word_index >= len(words):
            positions.append(None)
            continue
        window_end = words[min(word_index + 1, len(words) - 1)][1]
        found = text.find(morpheme, max(cursor, words[word_index][0]), window_end)
        if found < 0:
            positions.append(None)
            continue
        positions.append((found, found + len(morpheme)))
        cursor = found + len(morpheme)
    return _fill_gaps(text, morphemes, positions)


def _fill_gaps(text: str, morphemes: Sequence[str], positions: list[tuple[int, int] | None]) -> list[Token]:
    tokens: list[Token] = []
    previous_end = 0
    for index, (morpheme, span) in enumerate(zip(morphemes, positions)):
        if span is None:
            next_start = next((p[0] for p in positions[index + 1 :] if p is not None), len(text))
            gap = text[previous_end:next_start]
            stripped_start = previous_end + (len(gap) - len(gap.lstrip()))
            stripped_end = previous_end + len(gap.rstrip())
            if stripped_end > stripped_start:
                span = (stripped_start, stripped_end)
            elif tokens:
                span = (tokens[-1].start, tokens[-1].end)
            else:
                continue
        else:
            previous_end = span[1]
        tokens.append(Token(text=text[span[0] : span[1]], start=span[0], end=span[1], form=morpheme))
    return tokens


class MorphTokenizer:
    """A konlpy tagger by name (`okt` by default; Okt takes `norm` and `stem` options).

    Example:
    >>> MorphTokenizer("okt").tokenize("영화 최고")[0]
    Token(text='영화', start=0, end=2, form='영화')
    """

    def __init__(self, name: str = "okt", options: dict | None = None, workers: int = 2):
        self.name = name
        self.options = dict(options or {})
        self.workers = max(1, workers)
        self._morphemes = _make_tagger(name, self.options)

    def config(self) -> dict:
        return {"name": self.name, "options": self.options}

    def tokenize(self, text: str) -> list[Token]:
        if not text.strip():
            return []
        try:
            morphemes = self._morphemes(text)
        except Exception as error:  # a tagger bug must not fail the request: fall back to words
            log.warning("%s failed on a text of %d chars (%s); splitting on whitespace", self.name, len(text), error)
            morphemes = text.split()
        return align(text, morphemes)

    def tokenize_many(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[list[Token]]:
        """Tokenize in order, spread over `workers` threads (JVM calls release the GIL)."""
        if self.workers == 1 or len(texts) < 64:
            return [self.tokenize(text) for text in texts]
        chunk = max(256, len(texts) // (self.workers * 8))
        chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
        results: list[list[Token]] = []
        with ThreadPoolExecutor(self.workers) as pool:
            for tokens in pool.map(lambda part: [self.tokenize(t) for t in part], chunks):
                results.extend(tokens)
                if progress is not None:
                    progress(len(results))
        return results

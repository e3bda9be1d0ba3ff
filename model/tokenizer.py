"""Korean morpheme tokenizers (konlpy) whose tokens keep their character span in the input."""

from __future__ import annotations

import logging
import os
import re
import shlex
import sys
import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

TAGGERS = ("okt", "komoran", "hannanum", "kkma", "mecab", "kiwi")
_JVM_TAGGERS = {"okt", "komoran", "hannanum", "kkma"}  # konlpy's Java taggers; mecab and kiwi are native code
_OKT_OPTIONS = {"norm", "stem"}
_WORD = re.compile(r"\S+")
_ASTRAL = re.compile("([\U00010000-\U0010ffff]+)")  # emoji and friends; Komoran/Kkma/Hannanum choke on them
log = logging.getLogger(__name__)
# Unicode spaces (U+3000 and friends) become ASCII spaces before tagging: Okt drops the word after an
# ideographic space. One character for one, so spans in the original text stay valid.
_SPACES = dict.fromkeys(  # every character str.isspace() accepts but " " (tests/test_tokenizer.py checks the list)
    map(
        ord,
        "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
        "\u2009\u200a\u2028\u2029\u202f\u205f\u3000",
    ),
    " ",
)
_tagger_lock = threading.Lock()
# JHannanum keeps per-analysis state in shared objects: two threads in it at once end in its
# "phonemeChange: exit", a System.exit that takes the whole Python process down. Its calls take turns,
# across every tokenizer in the process (a hot reload briefly holds two).
_SERIAL_LOCKS = {"hannanum": threading.Lock()}
# Okt allocates short-lived objects fast. With a parallel collector and a 768 MB young generation it
# tokenizes NSMC 1.3x as fast on two threads as with konlpy's start (G1, its default young generation;
# 1.2x on one thread; `python -m benchmarks.jvm`), for about 0.5 GB more resident memory. JPype asks
# for full collections (System.gc()) as Python collects: about one per 1,000 texts, each pausing every
# tagger thread for 40-60 ms. Those requests are ignored; the JVM collects when its heap needs it.
# konlpy would start the JVM with G1 and -Xmx1024m, so it is started here first. The environment
# variable JVM_OPTIONS replaces these (e.g. to trade the speed back for memory).
DEFAULT_JVM_OPTIONS = ("-XX:+UseParallelGC", "-Xmn768m", "-Xmx2g", "-XX:+DisableExplicitGC")
PARALLEL_MIN_TEXTS = 8  # below this, handing texts to the threads costs more than it saves
KIWI_CHUNK = 4096  # texts per Kiwi batch call, so long runs report progress
# konlpy's taggers take time that grows much faster than a word's length: Okt spent 0.2 s on a 140-character
# word without spaces, 4.7 s on 1,000 and 21 s on 2,000, blocking a model thread. A longer word is tagged in
# pieces (2,000 characters: 0.6 s). 140 is NSMC's limit for a whole review, so every NSMC text tags as it did.
LONGEST_WHOLE_WORD = 140
LONG_WORD_PIECE = 50
_LONG_WORD = re.compile(rf"\S{{{LONGEST_WHOLE_WORD + 1},}}")


# Characters Unicode counts as letters or symbols that show as nothing: the Hangul fillers (U+3164 is the
# "transparent character" Korean users type for a blank name) and the blank braille pattern.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Format characters (zero-width space, byte order mark, joiners) and marks that only combine with a letter.
_NOT_SHOWN_ALONE = {"Cf", "Mn", "Me"}


def has_visible_text(text: str) -> bool:
    """Whether `text` has a character that shows on its own: not whitespace, not an invisible format
    character, not a combining mark, not a blank filler. Texts without one are refused where they come in
    (the API, the explain CLI): there is nothing to classify."""
    return any(
        not char.isspace() and char not in _BLANK_LETTERS and unicodedata.category(char) not in _NOT_SHOWN_ALONE
        for char in text
    )


# Control characters (C0 other than tab, newline and carriage return, NUL included; DEL; C1): refused, not
# stripped, so that token spans always index the text exactly as submitted.
_CONTROL = {code for code in [*range(0x20), *range(0x7F, 0xA0)] if chr(code) not in "\t\n\r"}


def text_problem(text: str) -> tuple[str, str, dict] | None:
    """Why `text` cannot be answered meaningfully, as (kind, message template, its values); None when it can.
    The API and the explain CLI refuse the same texts with the same words."""
    if not has_visible_text(text):
        return "blank_text", "text must not be empty or only whitespace and invisible characters", {}
    control = next((i for i, char in enumerate(text) if ord(char) in _CONTROL), None)
    if control is not None:
        return (
            "control_character",
            "text contains the control character {name} at position {position}; "
            "only tab, newline and carriage return are allowed",
            {"name": f"U+{ord(text[control]):04X}", "position": control},
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return (
            "invalid_unicode",
            "text contains the lone surrogate {name} at position {position} (U+D800-U+DFFF), which is not valid "
            "Unicode",
            {"name": f"U+{ord(text[error.start]):04X}", "position": error.start},
        )
    return None


class TokenizerError(ValueError):
    """The tokenizer name or its options are not usable here."""


@dataclass(frozen=True)
class Token:
    """One token: `text` is exactly `source[start:end]`; `form` is what the vocabulary looks up."""

    text: str
    start: int
    end: int
    form: str


def _make_tagger(name: str, options: dict, kiwi: Any = None) -> Callable[[str], list[Token]]:
    """Return a function text -> tokens for the named tagger.

    konlpy's taggers (their JVM started once) return morphemes that `align` places in the text;
    Kiwi (`kiwi`, from kiwipiepy, no JVM) reports each morpheme's span itself.
    """
    if name not in TAGGERS:
        raise TokenizerError(f"unknown tokenizer {name!r}; choose one of {', '.join(TAGGERS)}")
    unknown = set(options) - (_OKT_OPTIONS if name == "okt" else set())
    if unknown:
        raise TokenizerError(f"tokenizer {name!r} does not take option(s) {sorted(unknown)}")
    if name == "kiwi":
        return lambda text: _kiwi_tokens(text, kiwi.tokenize(text))
    from konlpy import tag

    with _tagger_lock:
        if name in _JVM_TAGGERS:
            start_jvm()
        if name == "okt":
            okt = tag.Okt()
            norm, stem = bool(options.get("norm", False)), bool(options.get("stem", False))

            def morphs(text: str) -> list[str]:
                return [m for m, _ in okt.pos(text, norm=norm, stem=stem)]
        else:
            if name == "mecab":
                try:
                    tagger = tag.Mecab()
                except Exception as error:  # konlpy raises bare Exceptions when mecab-ko is absent
                    raise TokenizerError(f"mecab is not installed on this machine: {error}") from error
            else:
                tagger = {"komoran": tag.Komoran, "hannanum": tag.Hannanum, "kkma": tag.Kkma}[name]()
            analyse = _holding(_SERIAL_LOCKS[name], tagger.morphs) if name in _SERIAL_LOCKS else tagger.morphs

            def morphs(text: str) -> list[str]:
                return _around_astral(analyse, text)

    return lambda text: align(text, morphs(_cut_long_words(text.translate(_SPACES))))


def _cut_long_words(text: str) -> str:
    """`text` with every word longer than `LONGEST_WHOLE_WORD` split by spaces into pieces of at most
    `LONG_WORD_PIECE` characters. A piece starts with a combining mark or a joiner only inside a run of them
    longer than a piece. `align` places the morphemes in the original text, so the spaces added here never
    reach a span."""

    def joins_previous(char: str) -> bool:
        return unicodedata.category(char) in _NOT_SHOWN_ALONE

    def pieces(match: re.Match) -> str:
        word, start, parts = match.group(), 0, []
        while len(word) - start > LONG_WORD_PIECE:
            end = start + LONG_WORD_PIECE
            while end > start + 1 and joins_previous(word[end]):
                end -= 1
            if joins_previous(word[end]):  # no character to cut before in the whole piece
                end = start + LONG_WORD_PIECE
            parts.append(word[start:end])
            start = end
        return " ".join([*parts, word[start:]])

    return _LONG_WORD.sub(pieces, text)


def jvm_options() -> list[str]:
    """The JVM_OPTIONS environment variable split like a shell would, or `DEFAULT_JVM_OPTIONS` when it is unset."""
    configured = os.environ.get("JVM_OPTIONS")
    if configured is None:
        return list(DEFAULT_JVM_OPTIONS)
    try:
        return shlex.split(configured)
    except ValueError as error:  # an unclosed quote
        raise TokenizerError(f"JVM_OPTIONS={configured!r} cannot be split into options: {error}") from error


_failed_jvm_start: list[str] = []  # why the JVM did not start, once it has failed to in this process


def start_jvm() -> None:
    """Start the JVM for konlpy's taggers with `jvm_options()`, unless it runs already.

    The JVM is one per process and its options are fixed when it starts. A start that failed is not tried
    again: JPype cannot create a second JVM in the process, so a retry would fail with a misleading message
    (and the JVM would print its complaint about the options once more).

    Whatever the options, the JVM leaves signals to Python: `-Xrs` keeps Java's SIGINT/SIGTERM handlers
    (which end the process at once) out, so uvicorn's graceful shutdown and a training run's Ctrl-C work, and
    JPype's `interrupt=False` turns Ctrl-C into KeyboardInterrupt. At exit the JVM is not destroyed: JPype
    would wait forever for a finished thread that used it (the server loads models in worker threads).
    """
    import jpype
    import jpype.config
    import konlpy

    if jpype.isJVMStarted():
        return
    if _failed_jvm_start:
        raise TokenizerError(_failed_jvm_start[0])
    options = jvm_options()
    java = Path(konlpy.__file__).parent / "java"  # konlpy's jars, classes and dictionaries
    jpype.config.destroy_jvm = False
    try:
        jpype.startJVM(
            jpype.getDefaultJVMPath(),
            "-Dfile.encoding=UTF8",
            "-Xrs",
            *options,
            classpath=[str(java), str(java / "bin"), str(java / "*")],
            convertStrings=True,  # konlpy's taggers expect Python strings back
            interrupt=False,
        )
    except RuntimeError as error:  # the JVM says why on stderr; JPype only says that it failed
        _failed_jvm_start.append(f"the JVM did not start with options {options} (JVM_OPTIONS): {error}")
        raise TokenizerError(_failed_jvm_start[0]) from error


def exit_process(code: int) -> NoReturn:
    """End a command-line run with exit status `code`. Once konlpy's JVM has run in the process, Python's own
    shutdown is skipped: JPype's thread that releases the Python objects Java held can call into Python while
    the interpreter finalizes, and that aborts it ("Fatal Python error: PyGILState_Release", SIGABRT) in place
    of `code`. A Ctrl-C while a training run was starting the JVM and its tagger (after fit, with the tokens
    from the cache) did so in about half the tries. Logs and output are flushed first, and every `finally`
    has run by now."""
    jpype = sys.modules.get("jpype")
    if jpype is None or not jpype.isJVMStarted():
        sys.exit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def uses_jvm(name: str) -> bool:
    """Whether the tagger `name` runs in konlpy's JVM (mecab and kiwi are native code)."""
    return name in _JVM_TAGGERS


def preload(name: str, options: dict | None = None) -> threading.Thread | None:
    """Load a konlpy tagger's classes and dictionaries in a daemon thread while the caller goes on.

    A tagger's first call loads them, once per JVM (Okt: 3.0-3.5 s on a day this machine ran slow). `python
    -m app` calls this before it imports TensorFlow (4.5-5 s that day), so the two overlap and the model's
    own tokenizer starts warm: that day the median cold start went from 13.5 s to 11.8 s
    (`benchmarks.cold_start`). The JVM itself starts in the calling thread: JPype waits at exit for the
    thread that started it, but attaches any other thread that calls Java as a daemon. Returns the thread,
    or None for a tagger without a JVM. A failure is left for the real load to report.
    """
    if not uses_jvm(name):
        return None
    try:
        with _tagger_lock:
            start_jvm()
    except TokenizerError as error:  # bad JVM_OPTIONS: the real load reports it where it is handled
        log.debug("not preloading the %s tagger: %s", name, error)
        return None

    def first_call() -> None:
        try:
            _make_tagger(name, dict(options or {}))("미리 불러 둡니다")
        except Exception as error:  # the model's own tokenizer will fail the same way, with the context
            log.debug("preloading the %s tagger failed: %s", name, error)

    thread = threading.Thread(target=first_call, name=f"{name}-preload", daemon=True)
    thread.start()
    return thread


def composed(text: str) -> tuple[str, list[tuple[int, int]]] | None:
    """`text` with its decomposed sequences composed, and for each character of the result the span of
    `text` it came from; None when nothing composes (the usual case, at the cost of one check).

    Text pasted from macOS and some editors arrives decomposed (NFD): Hangul as conjoining jamo, accents
    as combining marks. Tagged as it is, none of its forms is in the vocabulary and every answer is the
    same guess. Each run of characters that NFC joins is replaced by its composition. A single character
    is kept as it is: NFC would also rewrite e.g. CJK compatibility ideographs, which NSMC's training
    texts contain as written, so texts that were already composed tokenize exactly as in training.
    """
    if unicodedata.is_normalized("NFC", text):
        return None
    characters: list[str] = []
    sources: list[tuple[int, int]] = []
    start = 0
    while start < len(text):
        end = start + 1
        while end < len(text) and len(unicodedata.normalize("NFC", text[start : end + 1])) <= len(
            unicodedata.normalize("NFC", text[start:end])
        ):
            end += 1  # the next character joins this run
        run = unicodedata.normalize("NFC", text[start:end]) if end - start > 1 else text[start]
        characters += run
        sources += [(start, end)] * len(run)
        start = end
    if len(characters) == len(text):
        return None  # nothing joined (NFC would only have rewritten single characters)
    return "".join(characters), sources


# Invisible characters that text pasted from the web or a word processor carries and that mean nothing to
# a classifier: zero-width space, soft hyphen, byte order mark, word joiner, and the direction marks,
# embeddings and isolates. Other format characters stay: the tags of a subdivision flag (🏴 + U+E0067...),
# for example, are part of what shows.
_SKIPPED = frozenset("\u200b\u00ad\ufeff\u2060\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_JOINERS = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner


def _skipped(text: str, index: int) -> bool:
    """Whether the tagger skips `text[index]`: one of `_SKIPPED`, or a joiner next to a letter (between Hangul,
    where it only splits a word) or at either end; a joiner between symbols is part of an emoji sequence such
    as 👨‍👩‍👧 and stays."""
    char = text[index]
    if char in _SKIPPED:
        return True
    if char not in _JOINERS:
        return False
    if not 0 < index < len(text) - 1:
        return True
    return any(unicodedata.category(text[side]).startswith("L") for side in (index - 1, index + 1))


def readable(text: str) -> tuple[str, list[tuple[int, int]]] | None:
    """What the tagger reads for `text`, and for each of its characters the span of `text` it came from;
    None when the tagger reads `text` as it is (the usual case, at the cost of a check or two).

    Invisible characters are skipped (`_skipped`: zero-width space, soft hyphen, byte order mark, word joiner,
    direction marks, a joiner between Hangul). Tagged as they were, each became a token of its own that split
    the word around it ("재미\u200b없다" read as 재미 / U+200B / 없다) and took attention; now a skipped
    character lies inside the span of the token around it, or between tokens like a space. Then decomposed
    sequences are composed (`composed`).
    """
    kept = None if text.isprintable() else [i for i in range(len(text)) if not _skipped(text, i)]
    if kept is None or len(kept) == len(text):
        return composed(text)
    visible = "".join(text[i] for i in kept)
    joined = composed(visible)
    if joined is None:
        return visible, [(i, i + 1) for i in kept]
    result, sources = joined
    return result, [(kept[start], kept[end - 1] + 1) for start, end in sources]


def _tagged(text: str, read: tuple[str, list[tuple[int, int]]] | None) -> str:
    """What the tagger reads for `text`, given `readable(text)` (`read`)."""
    return text if read is None else read[0]


def _in_source(text: str, read: tuple[str, list[tuple[int, int]]] | None, tokens: list[Token]) -> list[Token]:
    """Tokens of what the tagger read (`read`, from `readable(text)`; None: `text` itself) moved back onto the
    characters of `text` they came from, marks with their base (`_marks_with_their_base`)."""
    if read is not None:
        sources = read[1]
        moved = []
        for token in tokens:
            start, end = sources[token.start][0], sources[max(token.start, token.end - 1)][1]
            moved.append(Token(text[start:end], start, end, token.form))
        tokens = moved
    return _marks_with_their_base(text, tokens)


def _only_marks(text: str) -> bool:
    return all(unicodedata.category(char) in ("Mn", "Me") for char in text)


def _attaches(text: str, base: Token, token: Token) -> bool:
    """Whether `token` is only marks and follows `base` with nothing but skipped characters between them."""
    gap = range(base.end, token.start)
    return base.end <= token.start and _only_marks(token.text) and all(_skipped(text, index) for index in gap)


def _marks_with_their_base(text: str, tokens: list[Token]) -> list[Token]:
    """A token made only of combining marks right after another token (the keycap of 1️⃣, an accent that has no
    composed form, a variation selector; skipped characters such as a joiner may lie between) shares that token's
    span, as the tokens of a rewritten word do: on screen they are one character, which the tagger split. The
    model still reads both tokens."""
    if not any(_only_marks(token.text[:1]) and _only_marks(token.text) for token in tokens):
        return tokens  # the usual case
    joined: list[Token] = []
    for token in tokens:
        base = joined[-1] if joined else None
        if base is None or not _attaches(text, base, token):
            joined.append(token)
            continue
        start, end = base.start, token.end
        for index in range(len(joined) - 1, -1, -1):  # every token sharing the base's span (a rewritten word)
            if (joined[index].start, joined[index].end) != (base.start, base.end):
                break
            joined[index] = Token(text[start:end], start, end, joined[index].form)
        joined.append(Token(text[start:end], start, end, token.form))
    return joined


def _holding(lock: threading.Lock, analyse: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    def serialised(text: str) -> list[str]:
        with lock:
            return analyse(text)

    return serialised


def _start_kiwi(workers: int) -> Any:
    """A Kiwi analyser whose batch calls use `workers` native threads."""
    try:
        from kiwipiepy import Kiwi
    except ImportError as error:
        raise TokenizerError(
            "tokenizer 'kiwi' needs kiwipiepy and kiwipiepy_model: pip install -r requirements-kiwi.txt"
        ) from error
    return Kiwi(num_workers=workers)


def _kiwi_tokens(text: str, morphemes: Iterable[Any]) -> list[Token]:
    """Kiwi's morphemes with their spans. A morpheme Kiwi infers without writing (the copula 이 in `0라`:
    length 0) takes the span of the morpheme it was read from: the next one if that starts there, else the
    one before, else the character at its place."""
    found = [(m.form, m.start, m.start + m.len) for m in morphemes]
    following: list[tuple[int, int] | None] = []  # the next written morpheme's span, for each morpheme
    written: tuple[int, int] | None = None
    for _, start, end in reversed(found):
        following.append(written)
        if end > start:
            written = (start, end)
    following.reverse()
    tokens: list[Token] = []
    previous: tuple[int, int] | None = None
    for (form, start, end), after in zip(found, following):
        if end > start:
            previous = (start, end)
        elif after is not None and after[0] == start:
            start, end = after
        elif previous is not None and previous[1] == start:
            start, end = previous
        else:
            start, end = (start, start + 1) if start < len(text) else (max(start - 1, 0), start)
        tokens.append(Token(text[start:end], start, end, form))
    return tokens


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

    A morpheme found verbatim after the cursor, within the current word or the next one, takes
    that span; each consecutive miss widens the search by one word so a run of rewritten words
    cannot derail the rest. A morpheme the tagger rewrote (stemmed, normalised, conjugated) is not
    in the text: see `_fill_gaps`. Whitespace morphemes are dropped.
    """
    morphemes = [m for m in morphemes if m.strip()]
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    spans: list[tuple[int, int] | None] = []
    cursor = word_index = misses = 0
    for morpheme in morphemes:
        while word_index < len(words) and words[word_index][1] <= cursor:
            word_index += 1
        found = -1
        if word_index < len(words):
            window_end = words[min(word_index + 1 + misses, len(words) - 1)][1]
            found = text.find(morpheme, max(cursor, words[word_index][0]), window_end)
        if found < 0:
            misses += 1
            spans.append(None)
            continue
        misses = 0
        spans.append((found, found + len(morpheme)))
        cursor = found + len(morpheme)
    _fill_gaps(text, spans)
    _cover_skipped_characters(text, spans)
    return [Token(text[s[0] : s[1]], s[0], s[1], m) for m, s in zip(morphemes, spans) if s is not None]


def _fill_gaps(text: str, spans: list[tuple[int, int] | None]) -> None:
    """Give each run of unaligned morphemes the words between its aligned neighbours, in order.

    With as many morphemes as words each takes one word; with fewer, each takes a group of words (after
    leaving the tail of a word the token before ends in to that token);
    with more, neighbours share a word (Komoran's 했다 -> 하/았/다 gives 했, 했, 다). With no
    characters in between, a morpheme shares the span of the token before (or after) it.
    """
    index = 0
    while index < len(spans):
        if spans[index] is not None:
            index += 1
            continue
        run_end = index
        while run_end < len(spans) and spans[run_end] is None:
            run_end += 1
        gap_start = spans[index - 1][1] if index else 0  # type: ignore[index]
        gap_end = spans[run_end][0] if run_end < len(spans) else len(text)  # type: ignore[index]
        pieces = [(m.start(), m.end()) for m in _WORD.finditer(text, gap_start, gap_end)]
        count = run_end - index
        if count < len(pieces) and index and pieces[0][0] == gap_start and not text[gap_start - 1].isspace():
            # The rest of the word the token before ends in (Okt's norm shortened 하하하하하하 to 하하하): with words
            # to spare, it stays with that token (`_cover_skipped_characters`) instead of pulling the morphemes
            # after it across a space.
            pieces = pieces[1:]
        neighbour = spans[index - 1] if index else (spans[run_end] if run_end < len(spans) else None)
        for j in range(count):
            if pieces:
                first = j * len(pieces) // count
                last = max(first + 1, (j + 1) * len(pieces) // count)
                spans[index + j] = (pieces[first][0], pieces[last - 1][1])
            else:
                spans[index + j] = neighbour
        index = run_end


def _cover_skipped_characters(text: str, spans: list[tuple[int, int] | None]) -> None:
    """Give the characters of a word that no morpheme took to the token(s) ending just before them.

    Okt's normaliser shortens repeated characters (ㅋㅋㅋㅋㅋㅋ -> ㅋㅋㅋ, also in ㅋㅋㅋㅋㅋㅋ영화), so the
    characters it dropped would belong to no token and stay unshaded in the heat map, though the model
    read them as that token.
    """
    covered = [False] * len(text)
    for span in spans:
        if span is not None:
            covered[span[0] : span[1]] = [True] * (span[1] - span[0])
    tails = {}
    for span in spans:
        if span is not None and span[1] not in tails:
            tail = span[1]
            while tail < len(text) and not covered[tail] and not text[tail].isspace():
                tail += 1
            tails[span[1]] = tail
    for index, span in enumerate(spans):
        if span is not None:
            spans[index] = (span[0], tails[span[1]])


class MorphTokenizer:
    """A morpheme tagger by name: konlpy's `okt` (the default; it takes `norm` and `stem` options),
    `komoran`, `hannanum`, `kkma` or `mecab`, or `kiwi` (kiwipiepy: native code, no JVM).

    Example:
    >>> MorphTokenizer("okt").tokenize("영화 최고")[0]
    Token(text='영화', start=0, end=2, form='영화')
    """

    def __init__(self, name: str = "okt", options: dict | None = None, workers: int = 2):
        self.name = name
        self.options = dict(options or {})
        self.workers = max(1, workers)
        self._kiwi = _start_kiwi(self.workers) if name == "kiwi" else None
        self._tag = _make_tagger(name, self.options, self._kiwi)
        self._threads: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.fallbacks = 0  # texts the tagger failed on, split on whitespace instead

    def config(self) -> dict:
        return {"name": self.name, "options": self.options}

    def tokenize(self, text: str) -> list[Token]:
        if not text.strip():
            return []
        try:
            read = readable(text)
            if not _tagged(text, read).strip():
                return []  # only invisible characters and spaces
            return _in_source(text, read, self._tag(_tagged(text, read)))
        except Exception as error:  # a tagger bug must not fail the request: fall back to words
            log.warning("%s failed on a text of %d chars (%s); splitting on whitespace", self.name, len(text), error)
            self.fallbacks += 1
            return align(text, text.split())

    def tokenize_many(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[list[Token]]:
        """Tokenize in order, spread over `workers` threads (JVM calls release the GIL): the calling thread and
        `workers - 1` helpers take chunks of the texts until none is left.

        The calling thread works too, so a call never waits for the helpers: when they are busy with another
        call (a large batch), a micro-batch of single requests is tokenized by its own thread instead of
        queueing behind that batch's chunks. The helpers live as long as the tokenizer, so a small batch is
        split too without paying for new threads or new JVM thread attachments each call. `progress` hears
        the number of texts done so far.
        """
        if len(texts) >= PARALLEL_MIN_TEXTS and self._kiwi is not None:
            return self._kiwi_many(texts, progress)
        if self.workers == 1 or len(texts) < PARALLEL_MIN_TEXTS:
            return [self.tokenize(text) for text in texts]
        chunk = min(256, -(-len(texts) // self.workers))
        chunks = [texts[i : i + chunk] for i in range(0, len(texts), chunk)]
        tokenized: list[list[list[Token]]] = [[] for _ in chunks]
        claimed = done = 0
        lock = threading.Lock()

        def take_chunks() -> None:
            nonlocal claimed, done
            while True:
                with lock:
                    index, claimed = claimed, claimed + 1
                if index >= len(chunks):
                    return
                tokenized[index] = [self.tokenize(text) for text in chunks[index]]
                with lock:
                    done += len(chunks[index])
                    if progress is not None:
                        progress(done)

        helpers = [self._pool().submit(take_chunks) for _ in range(self.workers - 1)]
        try:
            take_chunks()
        except BaseException:  # Ctrl-C or a failure here: the helpers take no more chunks, and report nothing
            with lock:
                claimed = len(chunks)
                progress = None
            raise
        for helper in helpers:
            if not helper.cancel():  # one still queued behind another call has nothing left to take
                helper.result()
        return [tokens for part in tokenized for tokens in part]

    @property
    def native_batches(self) -> bool:
        """True when batches run on the tagger's own native threads (Kiwi), so worker processes add nothing."""
        return self._kiwi is not None

    def _kiwi_many(self, texts: Sequence[str], progress: Callable[[int], None] | None) -> list[list[Token]]:
        """Kiwi's batch mode: its native threads analyse the texts in parallel (it holds the GIL otherwise)."""
        results: list[list[Token]] = []
        for start in range(0, len(texts), KIWI_CHUNK):
            part = list(texts[start : start + KIWI_CHUNK])
            reads = [readable(text) for text in part]
            try:
                analysed = self._kiwi.tokenize([_tagged(text, read) for text, read in zip(part, reads)])
                results += [
                    _in_source(text, read, _kiwi_tokens(_tagged(text, read), morphemes))
                    for text, read, morphemes in zip(part, reads, analysed)
                ]
            except Exception:  # find the text at fault one by one, each with the per-text fallback
                results += [self.tokenize(text) for text in part]
            if progress is not None:
                progress(len(results))
        return results

    def _pool(self) -> ThreadPoolExecutor:
        with self._pool_lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.workers - 1, thread_name_prefix=f"{self.name}-tokenizer")
            return self._threads

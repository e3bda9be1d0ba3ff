"""Tokenizers keep character spans into the original text; the vocabulary maps forms to ids."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import model.tokenizer as tokenizer_module
from model.tokenizer import (
    DEFAULT_JVM_OPTIONS,
    LONG_WORD_PIECE,
    LONGEST_WHOLE_WORD,
    PARALLEL_MIN_TEXTS,
    MorphTokenizer,
    Token,
    TokenizerError,
    align,
    composed,
    jvm_options,
    preload,
    readable,
)
from model.vocab import PAD_ID, UNK_ID, Vocabulary
from tests.conftest import FIXTURES, ROOT
from training.data import read_labelled

SAMPLES = [
    "이 영화 정말 재미있어요",
    "배우들 연기가 최고!!! 10점 만점에 10점",
    "The acting was great, 진짜 👍👍 강추",
    "띄어쓰기    여러    칸   그리고\t탭",
    "ㅋㅋㅋㅋㅋㅋ 안돼욬ㅋㅋ 😂🎬 1,234원",
    "  앞뒤 공백  ",
]


@pytest.fixture(scope="module")
def okt() -> MorphTokenizer:
    return MorphTokenizer("okt")


def assert_spans_point_at_text(text: str, tokens) -> None:
    for token in tokens:
        assert 0 <= token.start < token.end <= len(text)
        assert text[token.start : token.end] == token.text


@pytest.mark.parametrize("text", SAMPLES)
def test_okt_spans_point_at_the_original_text(okt: MorphTokenizer, text: str) -> None:
    tokens = okt.tokenize(text)
    assert tokens
    assert_spans_point_at_text(text, tokens)
    assert [t.text for t in tokens] == [t.form for t in tokens]  # no norm/stem: forms are the surface


def test_okt_finds_the_expected_pieces(okt: MorphTokenizer) -> None:
    tokens = okt.tokenize("The acting was great, 진짜 👍 10점")
    assert [t.text for t in tokens][:4] == ["The", "acting", "was", "great"]
    assert "👍" in [t.text for t in tokens]
    assert "10" in [t.text for t in tokens]


@pytest.mark.parametrize("text", SAMPLES)
def test_normalising_and_stemming_still_give_valid_spans(text: str) -> None:
    tokenizer = MorphTokenizer("okt", {"norm": True, "stem": True})
    tokens = tokenizer.tokenize(text)
    assert_spans_point_at_text(text, tokens)


def test_stemmed_form_keeps_the_surface_span() -> None:
    tokens = MorphTokenizer("okt", {"stem": True}).tokenize("정말 재미있어요")
    stemmed = [t for t in tokens if t.form == "재미있다"]
    assert stemmed and stemmed[0].text == "재미있어요"


@pytest.mark.parametrize("name", ["komoran", "hannanum", "kkma"])
def test_other_taggers_are_selectable_and_keep_spans(name: str) -> None:
    text = "재미있었다 그랬던 배우들이 좋았어요 👍"
    tokens = MorphTokenizer(name).tokenize(text)
    assert len(tokens) >= 4
    assert_spans_point_at_text(text, tokens)


HANNANUM_IN_TWO_THREADS = """
import json, sys
from model.tokenizer import MorphTokenizer
rows = MorphTokenizer("hannanum", workers=2).tokenize_many(json.load(sys.stdin))
print(json.dumps([[token.form for token in row] for row in rows]))
"""


def test_hannanum_survives_being_called_from_two_threads() -> None:
    """Unguarded, JHannanum prints "phonemeChange: exit" within a few hundred of these texts and ends the
    process (with status 0, so only the missing output shows it). It runs in a child for that reason."""
    texts = read_labelled(FIXTURES / "nsmc_train_3k.tsv").texts
    child = subprocess.run(
        [sys.executable, "-c", HANNANUM_IN_TWO_THREADS],
        input=json.dumps(texts),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert "phonemeChange" not in child.stdout + child.stderr
    assert child.returncode == 0 and child.stdout.strip(), child.stderr[-2000:]
    threaded = json.loads(child.stdout)
    one_thread = MorphTokenizer("hannanum", workers=1)
    assert threaded[:300] == [[token.form for token in one_thread.tokenize(text)] for text in texts[:300]]
    assert len(threaded) == len(texts)


# Ends with os._exit: what is tested is the JVM's arguments, and once in a CI run the child then aborted while
# exiting ("FATAL: exception not rethrown", SIGABRT; jpype-project/jpype#765), after printing its answer.
JVM_ARGUMENTS_AFTER_OKT = """
import json, os, sys, jpype
from model.tokenizer import MorphTokenizer
forms = [token.form for token in MorphTokenizer("okt").tokenize("이 영화 정말 재미있어요")]
runtime = jpype.JClass("java.lang.management.ManagementFactory").getRuntimeMXBean()
print(json.dumps({"forms": forms, "arguments": [str(a) for a in runtime.getInputArguments()]}))
sys.stdout.flush()
os._exit(0)
"""


def jvm_after_okt(jvm_options: str | None) -> dict:
    """Forms of a sample text and the JVM's input arguments, from a fresh process (the JVM is one per
    process, and this one may be running already) whose JVM_OPTIONS variable is `jvm_options`."""
    env = {key: value for key, value in os.environ.items() if key != "JVM_OPTIONS"}
    if jvm_options is not None:
        env["JVM_OPTIONS"] = jvm_options
    child = subprocess.run(
        [sys.executable, "-c", JVM_ARGUMENTS_AFTER_OKT], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
    assert child.returncode == 0, child.stderr[-2000:]
    return json.loads(child.stdout)


def test_the_jvm_starts_with_the_tuned_options(okt: MorphTokenizer) -> None:
    """konlpy would start the JVM itself (G1, -Xmx1024m) if its tagger came first."""
    answer = jvm_after_okt(None)
    assert set(DEFAULT_JVM_OPTIONS) <= set(answer["arguments"])
    assert "-Xmx1024m" not in answer["arguments"]
    assert answer["forms"] == [token.form for token in okt.tokenize("이 영화 정말 재미있어요")]


def test_a_jvm_option_it_refuses_is_named_in_the_error() -> None:
    env = {**os.environ, "JVM_OPTIONS": "-Xmx512m -Xbogus"}
    code = "from model.tokenizer import MorphTokenizer; MorphTokenizer('okt')"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert child.returncode == 1
    assert "TokenizerError: the JVM did not start with options ['-Xmx512m', '-Xbogus'] (JVM_OPTIONS)" in child.stderr
    assert "Unrecognized option: -Xbogus" in child.stderr


def test_jvm_options_with_an_unclosed_quote_are_refused(monkeypatch) -> None:
    monkeypatch.setenv("JVM_OPTIONS", "-Dname='unclosed")
    with pytest.raises(TokenizerError, match='JVM_OPTIONS="-Dname=\'unclosed" cannot be split into options'):
        jvm_options()


def test_jvm_options_from_the_environment_replace_the_defaults(okt: MorphTokenizer) -> None:
    answer = jvm_after_okt("-XX:+UseSerialGC  -Xmx512m")
    assert {"-XX:+UseSerialGC", "-Xmx512m"} <= set(answer["arguments"])
    assert not set(DEFAULT_JVM_OPTIONS) & set(answer["arguments"])
    assert answer["forms"] == [token.form for token in okt.tokenize("이 영화 정말 재미있어요")]


CLASSES_AFTER_PRELOAD = """
import json, sys, jpype
from app.__main__ import preload_tokenizer
from model.tokenizer import MorphTokenizer
from pathlib import Path
preload_tokenizer(Path(sys.argv[1]))  # reads the bundle's config.json: okt with norm and stem
keras_imported = "keras" in sys.modules  # the preload must run beside TensorFlow's import, not after it
preloading = [t for t in __import__("threading").enumerate() if t.name == "okt-preload"]
for thread in preloading:
    thread.join()
classes = jpype.JClass("java.lang.management.ManagementFactory").getClassLoadingMXBean()
before = classes.getLoadedClassCount()
forms = [token.form for token in MorphTokenizer("okt", {"norm": True, "stem": True}).tokenize("재미있었어요")]
after = classes.getLoadedClassCount()
print(json.dumps({"keras_imported": keras_imported, "preloading": len(preloading), "before": before, "after": after,
                  "forms": forms}))
"""


def okt_stemmed() -> MorphTokenizer:
    return MorphTokenizer("okt", {"norm": True, "stem": True})


def test_preloading_loads_the_served_taggers_classes_before_the_model_needs_them(tmp_path) -> None:
    """`python -m app` preloads the bundle's tagger while TensorFlow imports; afterwards the model's own
    tagger finds Okt's classes and dictionaries loaded (a cold first call loads thousands of classes)."""
    root = tmp_path / "models"  # a ROOT of versions: the config is read through `current`
    version = root / "versions" / "20260101-120000-1a2b3c4d"
    version.mkdir(parents=True)
    (version / "config.json").write_text((ROOT / "model" / "default" / "config.json").read_text())
    (root / "current").symlink_to(f"versions/{version.name}")
    child = subprocess.run(
        [sys.executable, "-c", CLASSES_AFTER_PRELOAD, str(root)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert child.returncode == 0, child.stderr[-2000:]
    answer = json.loads(child.stdout)
    assert answer == answer | {"keras_imported": False, "preloading": 1}
    # A started JVM has about 1,100 classes loaded; Okt's first call loads about 900 more, a second Okt none.
    assert answer["before"] > 1800
    assert answer["after"] - answer["before"] < 50
    assert answer["forms"] == [token.form for token in okt_stemmed().tokenize("재미있었어요")]


PRELOAD_THEN_LOAD = """
from model.tokenizer import MorphTokenizer, TokenizerError, preload
print("preload:", preload("okt"))
try:
    MorphTokenizer("okt").tokenize("안녕")
except TokenizerError as error:
    print("load:", error)
"""


def test_preloading_leaves_a_model_dir_it_cannot_read_to_the_model_load(tmp_path) -> None:
    """A missing bundle, or a path the system refuses (too long), is reported by the model load, not here."""
    from app.__main__ import preload_tokenizer

    assert preload_tokenizer(tmp_path / "missing") is None
    assert preload_tokenizer(tmp_path / ("a" * 300)) is None


def test_preloading_skips_taggers_without_a_jvm_and_a_jvm_that_will_not_start(monkeypatch) -> None:
    assert preload("kiwi") is None and preload("mecab") is None and preload("no such tagger") is None
    env = {**os.environ, "JVM_OPTIONS": "-Xbogus"}  # the model's load reports it; preloading stays quiet
    child = subprocess.run(
        [sys.executable, "-c", PRELOAD_THEN_LOAD], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
    assert child.returncode == 0, child.stderr[-2000:]
    assert child.stdout.splitlines() == [
        "preload: None",
        "load: the JVM did not start with options ['-Xbogus'] (JVM_OPTIONS): Unable to start JVM",
    ]
    # The JVM was not started a second time (JPype cannot), so it complained about the option only once.
    assert child.stderr.count("Unrecognized option: -Xbogus") == 1


@pytest.mark.parametrize("text", ["ㅋㅋㅋㅋㅋㅋㅋㅋㅋㅋ 개웃김", "재밌었어욬ㅋㅋㅋㅋ", "가" * 30])
def test_repeats_the_normaliser_shortened_stay_with_their_token(text: str) -> None:
    """Okt's norm reads ㅋㅋㅋㅋㅋㅋ as ㅋㅋㅋ; the characters it dropped belong to that token, not to none."""
    tokens = okt_stemmed().tokenize(text)
    assert_spans_point_at_text(text, tokens)
    covered = {i for token in tokens for i in range(token.start, token.end)}
    assert covered == {i for i, char in enumerate(text) if not char.isspace()}
    assert len(tokens[-1].form) < len(tokens[-1].text) or len(tokens[0].form) < len(tokens[0].text)


def test_a_shortened_repeat_stays_in_its_word_instead_of_pulling_the_next_token_across_the_space() -> None:
    """Okt's norm reads 하하하하하하하하 as 하하 + 하 and stems 웃겨 to 웃기다: the five 하 it dropped belong to the
    last 하 token, not to 웃기다 (whose span was "하하하하하 웃겨", across the space)."""
    text = "하하하하하하하하 웃겨"
    tokens = okt_stemmed().tokenize(text)
    assert_spans_point_at_text(text, tokens)
    assert [(t.form, t.text) for t in tokens] == [("하하", "하하"), ("하", "하하하하하하"), ("웃기다", "웃겨")]
    assert [t.text for t in align("가나다라 마", ["가", "X"])] == ["가나다라", "마"]  # the tail stays with 가
    assert align("가나다라", ["가", "X"])[1].text == "나다라"  # no word to spare: the morpheme takes the tail


@pytest.mark.parametrize("length", [LONGEST_WHOLE_WORD + 1, 2000])
def test_a_word_longer_than_a_whole_nsmc_review_is_tagged_in_pieces(length: int) -> None:
    """Okt's time grows much faster than a word's length: 2,000 characters without a space took it 21 s, and a
    model thread with them. Such a word is tagged as pieces of LONG_WORD_PIECE characters, so its tokens are
    those of its pieces tagged one by one, each in its place."""
    tokenizer = okt_stemmed()
    word = ("영화가정말재미있었어요배우들연기도좋고" * 200)[:length]
    tokens = tokenizer.tokenize(f"리뷰 {word} 최고")
    assert [t.text for t in tokens][:1] + [t.text for t in tokens][-1:] == ["리뷰", "최고"]
    apart = [
        Token(token.text, token.start + 3 + at, token.end + 3 + at, token.form)
        for at in range(0, length, LONG_WORD_PIECE)
        for token in tokenizer.tokenize(word[at : at + LONG_WORD_PIECE])
    ]
    assert tokens[1:-1] == apart


def test_a_word_up_to_a_whole_nsmc_review_is_tagged_whole() -> None:
    from konlpy.tag import Okt

    word = ("영화가정말재미있었어요배우들연기도좋고" * 20)[:LONGEST_WHOLE_WORD]
    tokens = okt_stemmed().tokenize(word)
    assert [t.form for t in tokens] == [m for m, _ in Okt().pos(word, norm=True, stem=True)]
    assert_spans_point_at_text(word, tokens)


def test_a_piece_of_a_long_word_never_starts_with_a_combining_mark_or_a_joiner() -> None:
    for word in ["e\u0301" * 200, "👨\u200d👩\u200d👧" * 60, "가" * 300]:
        cut = tokenizer_module._cut_long_words(f"앞 {word} 뒤")
        pieces = cut.split(" ")[1:-1]
        assert "".join(pieces) == word and max(map(len, pieces)) <= LONG_WORD_PIECE
        assert not any(unicodedata.category(piece[0]) in {"Mn", "Me", "Cf"} for piece in pieces)
    marks = "a" + "\u0301" * 499  # marks only, after one letter: no better place than every 50th character
    assert [len(piece) for piece in tokenizer_module._cut_long_words(marks).split(" ")] == [LONG_WORD_PIECE] * 10


def test_rewritten_morphemes_take_the_gap() -> None:
    tokens = align("했다", ["하", "았", "다"])
    assert [(t.text, t.form) for t in tokens] == [("했", "하"), ("했", "았"), ("다", "다")]


def test_a_run_of_rewritten_words_keeps_one_word_each() -> None:
    text = "재미있었고 슬펐고 웃겼고 좋았다 정말 최고였다 배우들이 연기를 잘했다"
    tokens = MorphTokenizer("okt", {"norm": True, "stem": True}).tokenize(text)
    assert [t.text for t in tokens[:5]] == ["재미있었고", "슬펐고", "웃겼고", "좋았다", "정말"]
    assert all(" " not in t.text for t in tokens)
    assert tokens[-1].text == "했다" and tokens[-1].form == "하다"


def test_more_words_than_rewritten_morphemes_are_grouped() -> None:
    tokens = align("가 나 다 라", ["가", "X", "라"])
    assert [t.text for t in tokens] == ["가", "나 다", "라"]


def test_unicode_spaces_do_not_swallow_words(okt: MorphTokenizer) -> None:
    text = "\u3000전각 공백\u00a0그리고\u2003엠"
    tokens = okt.tokenize(text)
    assert [t.text for t in tokens] == ["전각", "공백", "그리고", "엠"]
    assert_spans_point_at_text(text, tokens)


def test_whitespace_only_and_empty_texts_have_no_tokens(okt: MorphTokenizer) -> None:
    assert okt.tokenize("") == []
    assert okt.tokenize(" \n\t ") == []


def test_threads_give_the_same_tokens_in_order(okt: MorphTokenizer) -> None:
    texts = SAMPLES * 30
    assert MorphTokenizer("okt", workers=2).tokenize_many(texts) == [okt.tokenize(t) for t in texts]


def test_progress_counts_every_text_once_in_order(okt: MorphTokenizer) -> None:
    heard: list[int] = []
    tokens = MorphTokenizer("okt", workers=3).tokenize_many(SAMPLES * 30, progress=heard.append)
    assert len(tokens) == len(SAMPLES) * 30
    assert heard == sorted(heard) and heard[-1] == len(tokens) and len(heard) == 3  # one report per chunk


def test_an_interrupted_call_stops_its_helper_after_the_chunk_in_hand() -> None:
    """Ctrl-C reaches the calling thread only; the helper used to tokenize every chunk left (seconds on a large
    file) and log progress after the run had said it was interrupted."""
    tokenizer = MorphTokenizer("okt", workers=2)
    texts = [f"정말 재미있는 영화 {i}" for i in range(3000)]  # 12 chunks of 256
    tokenized, reports, caller = [], [], threading.get_ident()
    real_tokenize = tokenizer.tokenize

    def counting(text: str) -> list[Token]:
        tokenized.append(text)
        return real_tokenize(text)

    def interrupt_the_caller(done: int) -> None:
        reports.append(done)
        if threading.get_ident() == caller:
            raise KeyboardInterrupt

    tokenizer.tokenize = counting  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        tokenizer.tokenize_many(texts, progress=interrupt_the_caller)
    reported = len(reports)
    tokenizer._pool().submit(lambda: None).result()  # the helper has put down what it was doing
    assert len(reports) == reported  # nothing reported after the interruption
    assert len(tokenized) <= 4 * 256  # at most the chunks in hand, not the 3,000 texts


def test_a_small_call_does_not_queue_behind_a_large_one_for_the_helper_threads() -> None:
    """A micro-batch tokenized while a large batch holds the helper threads is done by its own thread; before,
    its chunks waited in the pool's queue until every text of the large batch was tokenized."""
    reviews = " ".join(read_labelled(FIXTURES / "nsmc_test_1k.tsv").texts)
    large = [reviews[i * 500 : i * 500 + 2000] for i in range(64)]  # seconds of work for each thread
    small = SAMPLES * 4
    large_texts_done = []

    class Counting(MorphTokenizer):
        def tokenize(self, text: str) -> list[Token]:
            tokens = super().tokenize(text)
            if len(text) == 2000:
                large_texts_done.append(text)
            return tokens

    tokenizer = Counting("okt", workers=2)
    expected = tokenizer.tokenize_many(small)  # the JVM and the helper thread are started
    with ThreadPoolExecutor(1) as elsewhere:
        running = elsewhere.submit(tokenizer.tokenize_many, large)
        time.sleep(0.2)  # the large call's chunks are taken by its thread and the helpers
        assert tokenizer.tokenize_many(small) == expected
        done_before_small = len(large_texts_done)
        assert len(running.result()) == len(large)
    assert done_before_small < len(large) // 2


def test_unknown_tokenizer_and_options_are_refused() -> None:
    with pytest.raises(TokenizerError, match="unknown tokenizer 'jieba'"):
        MorphTokenizer("jieba")
    with pytest.raises(TokenizerError, match="does not take option"):
        MorphTokenizer("komoran", {"stem": True})


def test_vocabulary_keeps_frequent_forms_and_maps_the_rest_to_unk(tmp_path) -> None:
    vocab = Vocabulary.build([["a", "b", "a"], ["a", "c", "b"], ["d"]], min_count=2, max_size=10)
    assert vocab.tokens == ["<pad>", "<unk>", "a", "b"]
    assert vocab.lookup(["a", "zzz", "b"]) == [2, UNK_ID, 3]
    assert PAD_ID == 0
    vocab.save(tmp_path / "v.json")
    assert Vocabulary.load(tmp_path / "v.json").tokens == vocab.tokens
    assert len(Vocabulary.build([["a", "b", "c", "a", "b", "c"]], min_count=1, max_size=3)) == 3


@pytest.fixture(scope="module")
def kiwi() -> MorphTokenizer:
    return MorphTokenizer("kiwi")


@pytest.mark.parametrize("text", SAMPLES)
def test_kiwi_spans_point_at_the_original_text(kiwi: MorphTokenizer, text: str) -> None:
    tokens = kiwi.tokenize(text)
    assert tokens
    assert_spans_point_at_text(text, tokens)


def test_kiwi_contractions_share_their_syllable_and_emoji_stay_whole(kiwi: MorphTokenizer) -> None:
    tokens = kiwi.tokenize("재밌었다😀\u3000최고")
    assert [(t.form, t.text) for t in tokens][:3] == [("재밌", "재밌"), ("었", "었"), ("다", "다")]
    assert ("😀", "😀") in [(t.form, t.text) for t in tokens]
    assert tokens[-1].text == "최고"
    contracted = kiwi.tokenize("했다")  # 하 + 었 both come from the one syllable 했
    assert [(t.form, t.start, t.end) for t in contracted][:2] == [("하", 0, 1), ("었", 0, 1)]


@pytest.mark.parametrize("text", ["0라", "나야"])
def test_kiwi_morphemes_it_infers_take_the_span_they_were_read_from(kiwi: MorphTokenizer, text: str) -> None:
    """Kiwi reads the copula 이 into 라 and 야 with length 0; an empty span would vanish from the heat map."""
    tokens = kiwi.tokenize(text)
    assert_spans_point_at_text(text, tokens)
    inferred = [t for t in tokens if t.form == "이"]
    assert inferred and inferred[0].text == text[-1] and (inferred[0].start, inferred[0].end) == (1, 2)


def test_kiwi_batches_match_one_by_one_across_threads(kiwi: MorphTokenizer) -> None:
    texts = SAMPLES * 30 + ["", "  "]
    expected = [kiwi.tokenize(t) for t in texts]
    assert kiwi.native_batches
    assert kiwi.tokenize_many(texts) == expected
    with ThreadPoolExecutor(3) as pool:  # micro-batches call it from several threads at once
        assert list(pool.map(kiwi.tokenize_many, [texts] * 3)) == [expected] * 3


def test_kiwi_takes_no_options() -> None:
    with pytest.raises(TokenizerError, match="does not take option"):
        MorphTokenizer("kiwi", {"norm": True})


@settings(max_examples=150, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80))
def test_kiwi_spans_hold_for_arbitrary_unicode(kiwi: MorphTokenizer, text: str) -> None:
    assert_spans_point_at_text(text, kiwi.tokenize(text))


REVIEW = "스토리가 너무 지루하고 뻔했다. 배우 연기는 정말 좋았어요 😀"


@pytest.mark.parametrize("name", ["okt", "kiwi"])
def test_decomposed_text_reads_like_composed_text_and_keeps_its_spans(name: str) -> None:
    """Hangul pasted as conjoining jamo (NFD, as from macOS) gets the composed text's forms, and its spans
    still index the text as submitted, one text at a time and in a batch."""
    tokenizer = MorphTokenizer(name, {"norm": True, "stem": True} if name == "okt" else {})
    decomposed = unicodedata.normalize("NFD", REVIEW)
    assert len(decomposed) > len(REVIEW)
    expected = [t.form for t in tokenizer.tokenize(REVIEW)]
    for tokens in [tokenizer.tokenize(decomposed), *tokenizer.tokenize_many([decomposed] * PARALLEL_MIN_TEXTS)]:
        assert [t.form for t in tokens] == expected
        assert_spans_point_at_text(decomposed, tokens)
        assert unicodedata.normalize("NFC", "".join(t.text for t in tokens)) == "".join(
            t.text for t in tokenizer.tokenize(REVIEW)
        )


def test_composition_joins_runs_and_leaves_single_characters_alone() -> None:
    assert composed(REVIEW) is None
    assert composed("x\u0301") is None  # already NFC: no precomposed x with an acute
    assert composed("아깝\uf933") is None  # NFC would rewrite the compatibility ideograph; NSMC writes it so
    assert composed("e\u0301t\u1100\u1161") == ("ét가", [(0, 2), (2, 3), (3, 5)])


INVISIBLE = ["\u200b", "\u00ad", "\ufeff", "\u2060", "\u200e", "\u200d"]  # ZWSP, soft hyphen, BOM, WJ, LRM, ZWJ


@pytest.mark.parametrize("name", ["okt", "kiwi"])
def test_invisible_format_characters_inside_words_are_skipped_not_tokens(name: str) -> None:
    """A zero-width space or soft hyphen pasted from the web used to become a token of its own, which split the
    word around it and took attention. The tagger now reads the text without them, and the token around one
    spans it, so the spans still index the text as submitted. A joiner inside an emoji sequence is kept."""
    tokenizer = MorphTokenizer(name, {"norm": True, "stem": True} if name == "okt" else {})
    expected = [t.form for t in tokenizer.tokenize(REVIEW)]
    for char in INVISIBLE:
        text = REVIEW.replace("지루", f"{char}지{char}루{char}").replace("좋았", f"좋{char}았")
        for tokens in [tokenizer.tokenize(text), *tokenizer.tokenize_many([text] * PARALLEL_MIN_TEXTS)]:
            assert [t.form for t in tokens] == expected, repr(char)
            assert_spans_point_at_text(text, tokens)
            assert any(char in t.text for t in tokens)  # inside a token's span, not cut out of the text
    family, scotland = (
        "가족 👨\u200d👩\u200d👧 영화",
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    )
    assert "👨\u200d👩\u200d👧" in [t.text for t in tokenizer.tokenize(family)]
    assert readable(f"{scotland} 최고") is None  # a flag's tag characters are format characters too, and stay
    assert tokenizer.tokenize("\u200b\ufeff \u200b") == []


@pytest.mark.parametrize("name", ["okt", "kiwi"])
def test_marks_the_tagger_split_from_their_character_share_its_span(name: str) -> None:
    """A keycap (1 + U+FE0F + U+20E3) or an accent without a composed form shows as one character; split by the
    tagger, its pieces used to be shaded apart, the marks as a token of their own. The model still reads both
    forms; only the span is shared, as for the tokens of a rewritten word."""
    tokenizer = MorphTokenizer(name, {"norm": True, "stem": True} if name == "okt" else {})
    text = "평점 1\ufe0f\u20e3점 만점에 가\u0301나다 최고였어요"
    for tokens in [tokenizer.tokenize(text), *tokenizer.tokenize_many([text] * PARALLEL_MIN_TEXTS)]:
        assert_spans_point_at_text(text, tokens)
        keycap = {(t.start, t.end) for t in tokens if t.form in ("1", "\ufe0f", "\u20e3", "\ufe0f\u20e3")}
        assert keycap == {(3, 6)}  # both taggers split it: Okt in two, Kiwi in three
        assert {(t.start, t.end) for t in tokens if "\u0301" in t.form} == {(12, 14)}
    joiner = tokenizer.tokenize("좋다 가\u200d\u20e3")  # the joiner is skipped: the mark still joins its base
    assert_spans_point_at_text("좋다 가\u200d\u20e3", joiner)
    assert {(t.start, t.end) for t in joiner if t.start >= 3} == {(3, 6)}
    alone = tokenizer.tokenize("\u0301시작")  # a mark with nothing before it keeps its own span
    assert_spans_point_at_text("\u0301시작", alone)


def test_reading_without_invisible_characters_maps_back_to_the_source() -> None:
    assert readable(REVIEW) is None and readable("줄\n바꿈") is None
    assert readable("재미\u200b없다") == ("재미없다", [(0, 1), (1, 2), (3, 4), (4, 5)])
    text = "e\u0301\u200bt\u1100\u1161"  # a combining accent, a zero-width space, conjoining jamo
    assert readable(text) == ("ét가", [(0, 2), (3, 4), (4, 6)])


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        alphabet=st.one_of(
            st.characters(codec="utf-8", exclude_categories=["Cs"]),
            st.sampled_from([*INVISIBLE, "\u200c", "\u0301", "\u1100", "\u1161", "가", "👨"]),
        ),
        max_size=60,
    )
)
def test_what_the_tagger_reads_maps_every_character_back_to_its_source(text: str) -> None:
    read = readable(text)
    if read is None:
        return
    result, sources = read
    assert len(sources) == len(result) < len(text)  # characters skipped, or runs composed
    assert all(0 <= start < end <= len(text) for start, end in sources)
    assert all(a[1] <= b[0] or a == b for a, b in zip(sources, sources[1:]))  # in order, never overlapping
    assert not set(result) & set(INVISIBLE[:-1])  # none of the always-skipped characters is read


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=60))
def test_composition_maps_every_character_back_to_its_source(text: str) -> None:
    joined = composed(unicodedata.normalize("NFD", text))
    if joined is None:
        return
    result, sources = joined
    source = unicodedata.normalize("NFD", text)
    assert len(sources) == len(result) < len(source)
    assert unicodedata.normalize("NFC", result) == unicodedata.normalize("NFC", source)
    assert sources[0][0] == 0 and sources[-1][1] == len(source)
    assert all(a[1] <= b[0] or a == b for a, b in zip(sources, sources[1:]))


def test_the_spaces_table_lists_every_unicode_space() -> None:
    """Written out (scanning all of Unicode cost 0.1 s in every process); it must still be complete."""
    every = {code for code in range(0x110000) if chr(code).isspace() and code != 0x20}
    assert set(tokenizer_module._SPACES) == every and set(tokenizer_module._SPACES.values()) == {" "}


def test_sigterm_after_the_jvm_started_ends_the_process_as_python_would() -> None:
    """Without -Xrs, the JVM's own SIGTERM handler ran its shutdown inside a live Python process and crashed
    it (SIGSEGV, an hs_err file); the signal's default action must apply, as to any Python program."""
    code = (
        "import os, signal, time\n"
        "from model.tokenizer import MorphTokenizer\n"
        "MorphTokenizer('okt').tokenize('영화')\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "time.sleep(5)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "JAVA_TOOL_OPTIONS": "-XX:ErrorFile=/dev/null"},  # a crash leaves no hs_err file here
    )
    assert child.returncode == -signal.SIGTERM, child.stdout[-2000:] + child.stderr[-2000:]
    assert "fatal error" not in child.stdout + child.stderr

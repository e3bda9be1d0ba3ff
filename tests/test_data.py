"""Reading users' data files, the token cache, and the report pictures, on real files and the real tokenizer."""

from __future__ import annotations

import logging
import os
import subprocess
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import pytest

from model.tokenizer import MorphTokenizer
from training.config import TrainConfig
from training.data import DataError, held_out_fraction, names_of_labels, read_labelled, sorted_label_values
from training.reports import plot_confusion_matrix, plot_learning_curve
from training.tokens import tokenize_cached, tokenize_in_processes, write_cache_file


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding)
    return path


def test_an_unpaired_quote_in_a_tsv_does_not_join_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = ['"최고의 배우 연기', "그냥 그래요", "지루했다", '"인생 영화" 강추합니다']
    path = write(
        tmp_path / "quotes.tsv", "document\tlabel\n" + "".join(f"{row}\t{i % 2}\n" for i, row in enumerate(rows))
    )
    with caplog.at_level(logging.WARNING, logger="training.data"):
        data = read_labelled(path)
    assert data.texts == rows  # every row its own text, quotes kept as written
    assert data.labels == ["0", "1", "0", "1"]
    assert "double quote without a closing one" in caplog.text and "data row 1" in caplog.text


def test_a_single_quote_that_never_closes_in_a_tsv_is_read_as_a_character(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With no second quote to end it, the quoted text runs to the end of the file, which CSV quoting refuses
    ("EOF inside string"): the file is read again with quotes as ordinary characters, and the log names the row."""
    rows = ["좋다", '"이거 뭐야 ㅋㅋ', "싫다", "최고"]
    path = write(tmp_path / "one.tsv", "document\tlabel\n" + "".join(f"{row}\t{i % 2}\n" for i, row in enumerate(rows)))
    with caplog.at_level(logging.WARNING, logger="training.data"):
        data = read_labelled(path)
    assert (data.texts, data.labels) == (rows, ["0", "1", "0", "1"])
    assert "the double quote that opens a text at line 3 never closes" in caplog.text  # the header is line 1
    both = write(tmp_path / "both.tsv", 'document\tlabel\n"두 줄\n셀"\t1\n"닫히지 않음\t0\n')
    with pytest.raises(DataError, match="cannot be parsed as TSV"):  # a line break inside quotes as well
        read_labelled(both)


def test_quoted_line_breaks_of_an_excel_unicode_export_stay_in_their_cell(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Excel's "Unicode text" export: UTF-16, CRLF, and a cell with line breaks in double quotes."""
    path = tmp_path / "excel.txt"
    path.write_bytes(
        'document\tlabel\r\n"좋은 영화\r\n정말 최고"\t1\r\n별로\t0\r\n"재미 없음\r\n비추"\t0\r\n'.encode("utf-16")
    )
    with caplog.at_level(logging.WARNING, logger="training.data"):
        data = read_labelled(path)
    assert data.texts == ["좋은 영화\r\n정말 최고", "별로", "재미 없음\r\n비추"]
    assert data.labels == ["1", "0", "0"] and "double quote" not in caplog.text


def test_quoted_tsv_fields_are_still_read_as_csv_quoting_when_the_quotes_pair_up(tmp_path: Path) -> None:
    path = write(tmp_path / "paired.tsv", 'document\tlabel\n"좋다\t정말"\t1\n싫다\t0\n')
    assert read_labelled(path).texts == ["좋다\t정말", "싫다"]  # NSMC's own reading: CSV quoting


def test_a_json_file_holding_one_array_of_objects_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "reviews.json", '[{"document": "좋아요", "label": 1},\n {"document": "싫어요", "label": 0}]'
    )
    data = read_labelled(path)
    assert (data.texts, data.labels) == (["좋아요", "싫어요"], ["1", "0"])


def test_a_boolean_label_is_refused_in_plain_words(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bools.jsonl", '{"document": "좋아요", "label": true}\n{"document": "싫어요", "label": false}\n'
    )
    with pytest.raises(DataError) as refused:
        read_labelled(path)
    assert "2 missing or invalid label(s), first at data row 1: True (true and false are not labels" in str(
        refused.value
    )


def test_rows_that_repeat_the_header_are_left_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two exports joined with `cat`: the second header line must not train as a class called "label"."""
    export = "document,label\n좋아요,positive\n싫어요,negative\n"
    path = write(tmp_path / "joined.csv", export + export)
    with caplog.at_level(logging.WARNING, logger="training.data"):
        data = read_labelled(path)
    assert data.labels == ["positive", "negative", "positive", "negative"]
    assert data.data_rows == [1, 2, 4, 5]  # messages about later rows still point at the file's rows
    assert "left out 1 row(s) that repeat the header line (document, label), first at data row 3" in caplog.text


def test_labels_spelled_as_raw_values_or_as_names_map_to_the_names(tmp_path: Path) -> None:
    data = read_labelled(write(tmp_path / "test.csv", "document,label\n좋다,2\n싫다,1\n"))
    assert names_of_labels(data, ["1", "2"], ["0", "1"], "the model's") == ["1", "0"]  # raw 2 is "1", raw 1 is "0"
    mixed = read_labelled(write(tmp_path / "mixed.csv", "document,label\n좋다,positive\n싫다,0\n"))
    assert names_of_labels(mixed, ["0", "1"], ["negative", "positive"], "the model's") == ["positive", "negative"]
    with pytest.raises(DataError, match=r"labels \['positive'\] are not among the model's \['0', '1', 'neg', 'pos'\]"):
        names_of_labels(mixed, ["0", "1"], ["neg", "pos"], "the model's")


def test_spreadsheet_spellings_of_integer_labels_are_one_class(tmp_path: Path) -> None:
    path = write(tmp_path / "floats.csv", "document,label\n좋다,1\n최고,1.0\n싫다,0.0\n별로, 0 \n")
    assert read_labelled(path).labels == ["1", "1", "0", "0"]


def test_validation_holds_out_a_tenth_but_at_most_max_val_rows() -> None:
    defaults = asdict(TrainConfig())
    assert held_out_fraction(defaults, 150_000) == defaults["val_fraction"]  # no limit by default
    limited = {**defaults, "max_val_rows": 3000}
    assert held_out_fraction(limited, 150_000) * 150_000 == pytest.approx(3000)  # NSMC
    assert held_out_fraction(limited, 3_000) == defaults["val_fraction"]  # a small file: its tenth
    before_the_limit = {key: value for key, value in defaults.items() if key != "max_val_rows"}  # an older bundle
    assert held_out_fraction(before_the_limit, 150_000) == defaults["val_fraction"]


def test_label_values_sort_as_numbers_only_when_all_are_integers() -> None:
    assert sorted_label_values(["10", "2", "-1"]) == ["-1", "2", "10"]
    assert sorted_label_values(["1", "²"]) == ["1", "²"]  # "²".isdigit(), but int() refuses it: text order
    assert sorted_label_values(["positive", "negative"]) == ["negative", "positive"]


def test_a_file_that_is_not_utf8_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = write(tmp_path / "excel.tsv", "document\tlabel\n정말 좋다\t1\n", encoding="cp949")
    with pytest.raises(DataError, match=r"not UTF-8 .*iconv -f cp949 -t utf-8") as refused:
        read_labelled(path)
    assert f"`iconv -f cp949 -t utf-8 {path} > {tmp_path / 'utf8-excel.tsv'}`" in str(refused.value)  # runs anywhere
    assert "(invalid start byte at byte 15, line 2)" in str(refused.value)  # just after the header


def test_the_first_byte_that_is_not_utf8_is_placed_in_the_whole_file(tmp_path: Path) -> None:
    """pandas reports the offset within the chunk it was decoding; the message counts from the file's start."""
    rows = "".join(f"좋은 영화 {i}\t1\n" for i in range(20_000))
    path = tmp_path / "mixed.tsv"
    path.write_bytes(("document\tlabel\n" + rows).encode() + "한 줄만 CP949\t0\n".encode("cp949"))
    offset = len(("document\tlabel\n" + rows).encode())
    with pytest.raises(DataError, match=rf"at byte {offset:,}, line 20,002\)"):
        read_labelled(path)


def test_utf16_that_cannot_be_read_is_called_utf16(tmp_path: Path) -> None:
    text = "document\tlabel\n정말 좋다\t1\n"
    no_mark = tmp_path / "no-mark.tsv"
    no_mark.write_bytes(text.encode("utf-16-le"))
    with pytest.raises(
        DataError, match=r"iconv -f utf-16le -t utf-8 .*\(it looks like UTF-16 without a byte order mark\)"
    ):
        read_labelled(no_mark)
    cut = tmp_path / "cut.tsv"
    cut.write_bytes(text.encode("utf-16") + "\ud800".encode("utf-16-le", "surrogatepass"))  # a lone surrogate
    with pytest.raises(DataError, match=r"starts with UTF-16's byte order mark but is not valid UTF-16 \(.* line 3\)"):
        read_labelled(cut)


@pytest.mark.parametrize("name", ["excel-unicode-text.tsv", "export.csv", "lines.jsonl"])
def test_a_utf16_file_with_its_byte_order_mark_is_read(tmp_path: Path, name: str) -> None:
    """Excel's "Unicode text" export is UTF-16 with a byte order mark."""
    content = {
        ".tsv": "document\tlabel\n정말 좋다\t1\n지루하다\t0\n",
        ".csv": 'document,label\n"정말, 좋다",1\n지루하다,0\n',
        ".jsonl": '{"document": "정말 좋다", "label": 1}\n{"document": "지루하다", "label": 0}\n',
    }[Path(name).suffix]
    data = read_labelled(write(tmp_path / name, content, encoding="utf-16"))
    assert data.texts[1] == "지루하다" and data.labels == ["1", "0"]


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        (
            "extra-field.tsv",
            "document\tlabel\n좋다\t1\n싫다\t0\textra\n",
            "cannot be parsed as TSV (Expected 2 fields in line 3, saw 3)",
        ),
        (
            "broken.jsonl",
            '{"document": "좋다", "label": 1}\n\n{"document": "싫다", "label": 0\n',
            "cannot be parsed as JSONL (line 3, column 30: Expecting ',' delimiter)",
        ),
        (
            "big-number.jsonl",
            '{"document": "좋다", "label": 1}\n{"document": "싫다", "label": 99999999999999999999999999}\n',
            "cannot be parsed as JSONL (Value is too big! at position 67)",  # every line an object: pandas' reason
        ),
        (
            "null-line.jsonl",
            '{"document": "좋다", "label": 1}\nnull\n',
            "cannot be parsed as JSONL (line 2 is not a JSON object)",
        ),
        (
            "semicolons.csv",
            "document;label\n좋다;1\n싫다, 정말;0\n",
            "its first line has no comma but a semicolon: a .csv file is read with commas between fields",
        ),
        (
            "no-header.tsv",
            "9976970\t아 더빙.. 진짜 짜증나네요 목소리\t0\n3819312\t흠...포스터보고 초딩영화줄\t1\n",
            "no text column 'document' (columns found: '9976970', '아 더빙.. 진짜 짜증나네요 목소리', '0'); see "
            "--text-column; if its first line is data rather than column names, add a header line",
        ),
    ],
)
def test_a_file_that_cannot_be_read_as_its_type_says_where_and_why(
    tmp_path: Path, name: str, content: str, says: str
) -> None:
    with pytest.raises(DataError) as refused:
        read_labelled(write(tmp_path / name, content))
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_jsonl_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = write(
        tmp_path / "notepad.jsonl", '\ufeff{"document": "좋다", "label": "pos"}\n{"document": "싫다", "label": "neg"}\n'
    )
    assert read_labelled(path).texts == ["좋다", "싫다"]


def test_the_token_cache_is_keyed_by_the_texts_not_the_file(tmp_path: Path) -> None:
    """One file read with another --text-column has other texts: they must be tokenized, not read from cache."""
    tokenizer = MorphTokenizer("okt", workers=1)
    log = logging.getLogger("test.tokens")
    reviews, summaries = ["배우 연기가 정말 좋았다", "지루했다"], ["좋음", "나쁨"]
    assert [t.text for t in tokenize_cached(reviews, tokenizer, tmp_path, log, "reviews")[0]] == [
        "배우",
        "연기",
        "가",
        "정말",
        "좋았다",
    ]
    tokens = tokenize_cached(summaries, tokenizer, tmp_path, log, "summaries")
    assert [[t.text for t in row] for row in tokens] == [["좋음"], ["나쁨"]]
    assert len(list(tmp_path.glob("*.json.gz"))) == 2
    again = tokenize_cached(reviews, tokenizer, tmp_path, log, "reviews")  # from the cache this time
    assert [t.text for t in again[1]] == ["지루했다"]


def test_a_cache_that_cannot_be_written_or_read_only_costs_time(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The token cache saves time; a --cache-dir that is a file (or a read-only home) must not end the run."""
    tokenizer, log, texts = MorphTokenizer("okt", workers=1), logging.getLogger("test.tokens"), ["정말 좋았다"]
    a_file = tmp_path / "cache-is-a-file"
    a_file.write_text("not a directory", "utf-8")
    with caplog.at_level(logging.WARNING):
        tokens = tokenize_cached(texts, tokenizer, a_file, log, "data")
    assert [t.text for t in tokens[0]] == ["정말", "좋았다"]
    assert f"could not cache the tokens in {a_file}" in caplog.text and "going on without the cache" in caplog.text
    cache = tmp_path / "cache"
    tokenize_cached(texts, tokenizer, cache, log, "data")
    [cached] = cache.glob("*.json.gz")
    cached.write_bytes(cached.read_bytes()[:20])  # cut short, as a full disk or a killed copy leaves it
    with caplog.at_level(logging.WARNING):
        again = tokenize_cached(texts, tokenizer, cache, log, "data")
    assert again == tokens and f"token cache {cached} cannot be read" in caplog.text
    assert [p.name for p in cache.iterdir()] == [cached.name] and len(cached.read_bytes()) > 20  # written anew


def test_a_partial_cache_file_is_removed_however_its_write_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C mid-write removes this process's partial file; the next write removes those that killed
    processes left (12 MB each for NSMC's tokens) once they are an hour old, but not one another live run is
    writing, nor a file the cache did not name (--cache-dir can be any folder)."""
    log, cache, key = logging.getLogger("test.tokens"), tmp_path / "cache", "0123456789abcdef" * 2
    cache.mkdir()
    ended = subprocess.Popen(["true"])
    ended.wait()  # its pid names no process now
    live = os.getppid()  # pytest's parent runs as long as this test
    files = {
        f"{key}.json.{ended.pid}.partial": (2, False),  # a killed run's tokens
        f"{key}.{ended.pid}.partial": (0.5, True),  # a killed run's encoder, but written half an hour ago
        f"{key}.json.{live}.partial": (2, True),  # a live run's
        f"{key}.{live}.partial": (25, False),  # a day old: that pid has been reused since
        f"notes.{ended.pid}.partial": (48, True),  # not the cache's
        "movie.mp4.partial": (48, True),
    }
    for name, (hours_old, _) in files.items():
        (cache / name).write_bytes(b"half a file")
        os.utime(cache / name, (time.time() - hours_old * 3600,) * 2)
    kept = sorted(name for name, (_, stays) in files.items() if stays)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_cache_file(cache / "mine.json.gz", b"payload", log, "the tokens")
    assert sorted(p.name for p in cache.iterdir()) == kept
    monkeypatch.undo()
    write_cache_file(cache / "mine.json.gz", b"payload", log, "the tokens")
    assert sorted(p.name for p in cache.iterdir()) == sorted([*kept, "mine.json.gz"])


def test_report_pictures_draw_korean_label_names(tmp_path: Path) -> None:
    report = {
        "labels": ["부정", "중립", "긍정"],
        "confusion_matrix": [[5, 1, 0], [1, 4, 1], [0, 2, 6]],
        "accuracy": 0.75,
    }
    history = {"loss": [0.9, 0.7], "val_loss": [0.8, 0.75], "accuracy": [0.5, 0.6], "val_accuracy": [0.55, 0.6]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)" for each box it draws
        assert plot_confusion_matrix(report, tmp_path / "confusion.png").stat().st_size > 5_000
        assert plot_learning_curve(history, tmp_path / "curve.png").stat().st_size > 5_000


def test_a_directory_given_as_the_data_file_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory; give the data file"):
        read_labelled(tmp_path)


def test_texts_the_tagger_failed_on_are_not_cached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whitespace fallback (a tagger error, such as Kkma running out of heap) must not outlive the run."""
    tokenizer = MorphTokenizer("okt", workers=1)
    real_tagger = tokenizer._tag

    def out_of_memory_on_one(text: str) -> list:
        if "고장" in text:
            raise RuntimeError("java.lang.OutOfMemoryError: Java heap space")
        return real_tagger(text)

    monkeypatch.setattr(tokenizer, "_tag", out_of_memory_on_one)
    with caplog.at_level(logging.WARNING):
        tokens = tokenize_cached(
            ["정말 좋았다", "고장 난 문장"], tokenizer, tmp_path, logging.getLogger("test"), "data"
        )
    assert [t.text for t in tokens[1]] == ["고장", "난", "문장"]
    assert tokenizer.fallbacks == 1
    assert "failed on 1 text(s)" in caplog.text and "not cached" in caplog.text
    assert list(tmp_path.glob("*.json.gz")) == []


def test_worker_processes_tokenize_like_the_tokenizer_itself() -> None:
    """The path large training files take (one JVM per process), on a few texts."""
    texts = ["배우 연기가 정말 좋았다", "최악의 영화 ㅡㅡ", "", "OST가 좋아요"] * 3
    tokenizer = MorphTokenizer("okt", workers=2)
    rows, fallbacks = tokenize_in_processes(texts, tokenizer, progress=lambda done: None)
    assert fallbacks == 0
    assert rows == [[(t.form, t.start, t.end) for t in tokenizer.tokenize(text)] for text in texts]

"""Reading and validating labelled text files (TSV, CSV, JSON Lines or a JSON array of objects)."""

from __future__ import annotations

import csv
import functools
import hashlib
import json
import logging
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SEPARATORS = {".tsv": "\t", ".txt": "\t", ".csv": ","}
JSON_LINES = {".jsonl", ".ndjson", ".json"}
FILE_TYPES = ".tsv/.txt, .csv, .jsonl or .json (one array of objects)"
INTEGRAL_FLOAT = re.compile(r"-?\d+\.0+")  # "1.0": a spreadsheet's spelling of the label 1
log = logging.getLogger(__name__)


class DataError(ValueError):
    """The data file cannot be used for training or evaluation; the message says why."""


@dataclass(frozen=True)
class LabelledTexts:
    path: Path
    texts: list[str]
    labels: list[str]
    sha256: str
    data_rows: list[int]  # each text's row in the file, counting data rows from 1, for messages that point at one

    def fingerprint(self) -> dict:
        return {"file": self.path.name, "sha256": self.sha256, "rows": len(self.texts)}


# pandas' row counts the file's lines from 0, blank lines included: the file's line number, less one.
_UNCLOSED_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


def _lines_are_whole_rows(path: Path, separator: str) -> bool:
    """Whether every line of the file that is not blank holds as many fields as its header line, quotes taken
    as ordinary characters (as pandas reads it then: a line of spaces is skipped)."""
    text = path.read_text(_encoding_of(path))
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip(" ")]  # pandas' line breaks only
    return all(line.count(separator) >= lines[0].count(separator) for line in lines)


def _read_separated(path: Path, separator: str) -> pd.DataFrame:
    """CSV quoting, as NSMC is read; but in a TSV, a text that spans lines and holds tabs can only come from a
    double quote that opens a text and never closes, which joins the following rows, their tabs included, into
    it (or, when no later quote ends it, runs to the end of the file, which CSV quoting refuses). Such a file is
    read again with quotes taken as ordinary characters, and the log says so. A quoted text with line breaks
    and no tab is kept: Excel's "Unicode text" export writes a cell with line breaks so."""
    read = functools.partial(
        pd.read_csv, path, sep=separator, keep_default_na=False, dtype=str, encoding=_encoding_of(path)
    )
    try:
        frame = read()
    except pd.errors.ParserError as error:  # one quote that never closes swallows the rest of the file
        unclosed = _UNCLOSED_QUOTE.search(str(error))
        if separator != "\t" or unclosed is None:
            raise
        try:
            literal = read(quoting=csv.QUOTE_NONE)
        except pd.errors.ParserError:
            raise error from None
        if not _lines_are_whole_rows(path, separator):  # quotes that hold line breaks too: no reading is right
            raise error from None
        log.warning(
            "warning: %s: the double quote that opens a text at line %d never closes; read again with quotes as "
            "ordinary characters: %s rows",
            path,
            int(unclosed.group(1)) + 1,
            f"{len(literal):,}",
        )
        return literal
    if separator != "\t":
        return frame
    joined = frame.apply(
        lambda column: column.str.contains("\n", regex=False) & column.str.contains("\t", regex=False)
    ).any(axis=1)
    if not joined.any():
        return frame
    try:
        literal = read(quoting=csv.QUOTE_NONE)
    except pd.errors.ParserError:
        return frame  # the quotes were deliberate: texts with tabs or line breaks inside quotes
    log.warning(
        "warning: %s: a double quote without a closing one joined lines of the file into %d text(s), first at data "
        "row %d; read again with quotes as ordinary characters: %s rows instead of %s",
        path,
        int(joined.sum()),
        int(joined.to_numpy().argmax()) + 1,
        f"{len(literal):,}",
        f"{len(frame):,}",
    )
    return literal


def _encoding_of(path: Path) -> str:
    """UTF-16 when the file starts with its byte order mark (what Excel's "Unicode text" export writes), else
    UTF-8 (with or without its own mark)."""
    with path.open("rb") as handle:
        return "utf-16" if handle.read(2) in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"


def _not_decodable(path: Path, error: UnicodeDecodeError) -> str:
    """Where the file stops being the encoding it was read in, counted from its start (pandas reports offsets
    within a chunk), and how to convert it."""
    raw = path.read_bytes()
    encoding = "utf-16" if _encoding_of(path) == "utf-16" else "utf-8"
    try:
        raw.decode(encoding)
    except UnicodeDecodeError as whole:
        error = whole
    line = raw[: error.start].decode(encoding, "replace").count("\n") + 1
    where = f"{error.reason} at byte {error.start:,}, line {line:,}"
    source, converted = shlex.quote(str(path)), shlex.quote(str(path.with_name(f"utf8-{path.name}")))
    if encoding == "utf-16":
        return f"{path}: the file starts with UTF-16's byte order mark but is not valid UTF-16 ({where})"
    if raw.count(0) > len(raw) // 4:  # every other byte NUL: UTF-16 without its byte order mark
        source_encoding, kind = "utf-16le", "it looks like UTF-16 without a byte order mark"
    else:
        source_encoding, kind = "cp949", "for a Korean Windows file"
    return (
        f"{path}: the file is not UTF-8 ({where}); save it as UTF-8, for example with "
        f"`iconv -f {source_encoding} -t utf-8 {source} > {converted}` ({kind})"
    )


_SEPARATOR_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon"}
_C_PARSER_PREFIX = re.compile(r"^Error tokenizing data\. C error: ")


def _first_bad_json_line(path: Path) -> str | None:
    """The first line of a JSONL file that is not one JSON object, with json's reason (pandas names neither);
    None when every line is one (pandas refused the file for another reason)."""
    with path.open(encoding=_encoding_of(path)) as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                if not isinstance(json.loads(line.rstrip("\r\n")), dict):
                    return f"line {number} is not a JSON object"
            except json.JSONDecodeError as error:
                return f"line {number}, column {error.colno}: {error.msg}"
    return None


def _header_hint(path: Path, columns: list[str]) -> str:
    """Why a file's columns may not be what was meant: another separator than its type's, or no header row."""
    separator = SEPARATORS.get(path.suffix.lower())
    if separator is not None:
        with path.open(encoding=_encoding_of(path), errors="replace") as handle:
            header = handle.readline()
        others = [char for char in _SEPARATOR_NAMES if char != separator and char in header]
        if others and separator not in header:
            return (
                f"; its first line has no {_SEPARATOR_NAMES[separator]} but a {_SEPARATOR_NAMES[others[0]]}: a "
                f"{path.suffix} file is read with {_SEPARATOR_NAMES[separator]}s between fields"
            )
    if columns and not any(name.isidentifier() for name in columns):
        return "; if its first line is data rather than column names, add a header line that names the columns"
    return ""


def _is_json_array(path: Path) -> bool:
    """The file holds one JSON array (what `json.dump` of a list writes) rather than one object per line."""
    with path.open(encoding=_encoding_of(path), errors="replace") as handle:
        return handle.read(4096).lstrip().startswith("[")


def _read_frame(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    array = suffix in JSON_LINES and _is_json_array(path)
    try:
        if array:
            return pd.read_json(path, orient="records", dtype=False, encoding=_encoding_of(path))
        if suffix in JSON_LINES:
            return pd.read_json(path, lines=True, dtype=False, encoding=_encoding_of(path))
        if suffix in SEPARATORS:
            return _read_separated(path, SEPARATORS[suffix])
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except UnicodeDecodeError as error:
        raise DataError(_not_decodable(path, error)) from None
    except (ValueError, TypeError, pd.errors.ParserError) as error:  # TypeError: a JSONL line that is no object
        bad_line = _first_bad_json_line(path) if suffix in JSON_LINES and not array else None
        where = bad_line or _C_PARSER_PREFIX.sub("", str(error)).strip()
        raise DataError(f"{path}: cannot be parsed as {suffix[1:].upper()} ({where}){_header_hint(path, [])}") from None
    raise DataError(f"{path}: unknown file type {suffix!r}; use {FILE_TYPES}")


def _label_text(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        return text[: text.index(".")] if INTEGRAL_FLOAT.fullmatch(text) else text
    return None


def read_labelled(path: str | Path, text_column: str = "document", label_column: str = "label") -> LabelledTexts:
    """Read a file and check it: it exists, has rows, has both columns, text values are strings
    and every row has a label. Raises `DataError` naming the file and the problem."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path}: is a directory; give the data file")
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    frame = _read_frame(path)
    if frame.empty:
        raise DataError(f"{path}: the file has no data rows")
    for role, column in (("text", text_column), ("label", label_column)):
        if column not in frame.columns:
            found = ", ".join(map(repr, map(str, frame.columns)))
            raise DataError(
                f"{path}: no {role} column {column!r} (columns found: {found}); see --{role}-column"
                + _header_hint(path, [str(name) for name in frame.columns])
            )
    texts = frame[text_column].tolist()
    bad_texts = [i for i, value in enumerate(texts) if not isinstance(value, str)]
    if bad_texts:
        example = texts[bad_texts[0]]
        raise DataError(
            f"{path}: column {text_column!r} has {len(bad_texts)} non-text value(s), first at data row "
            f"{bad_texts[0] + 1}: {example!r}"
        )
    labels = [_label_text(value) for value in frame[label_column].tolist()]
    bad_labels = [i for i, label in enumerate(labels) if not label]
    if bad_labels:
        example = frame[label_column].tolist()[bad_labels[0]]  # a Python value, not numpy's np.True_
        hint = " (true and false are not labels: use words or integers)" if isinstance(example, bool) else ""
        raise DataError(
            f"{path}: column {label_column!r} has {len(bad_labels)} missing or invalid label(s), first at data "
            f"row {bad_labels[0] + 1}: {example!r}{hint}"
        )
    repeated = [i for i, (text, label) in enumerate(zip(texts, labels)) if (text, label) == (text_column, label_column)]
    if repeated:  # two exports joined with `cat`: the second header line would train as a class of its own
        log.warning(
            "warning: %s: left out %d row(s) that repeat the header line (%s, %s), first at data row %d",
            path, len(repeated), text_column, label_column, repeated[0] + 1,
        )  # fmt: skip
    kept = sorted(set(range(len(texts))) - set(repeated))
    texts, labels = [texts[i] for i in kept], [labels[i] for i in kept]
    return LabelledTexts(path, texts, labels, hashlib.sha256(path.read_bytes()).hexdigest(), [i + 1 for i in kept])


def split_seed(train_config: dict) -> int:
    """The seed of a training run's train/validation split: `split_seed`, or `seed` when that was not set."""
    chosen = train_config.get("split_seed")
    return train_config["seed"] if chosen is None else chosen


def held_out_fraction(train_config: dict, rows: int) -> float:
    """The share of a file's `rows` that a training run holds out for validation: `val_fraction`, but no more
    than `max_val_rows` rows (0: no limit, as for bundles trained before the limit existed; each class's
    share is rounded, so the count can differ from it by one per class)."""
    fraction, most = train_config["val_fraction"], train_config.get("max_val_rows", 0)
    return min(fraction, most / rows) if most and rows else fraction


def labels_differing_only_in_case(values: list[str]) -> list[list[str]]:
    """Groups of distinct label values that are the same word in another case (`Positive`, `positive`): most
    likely one class spelled two ways, which would train as two."""
    groups: dict[str, list[str]] = {}
    for value in values:
        groups.setdefault(value.casefold(), []).append(value)
    return [spellings for spellings in groups.values() if len(spellings) > 1]


def names_of_labels(data: LabelledTexts, values: Sequence[str], names: Sequence[str], of_what: str) -> list[str]:
    """The class name of each label of `data`, a file that may spell its labels as the raw `values` a model was
    trained on or as their `names`; a label that is neither stops the run."""
    mapping = {name: name for name in names}
    mapping.update(zip(values, names))  # a raw value spelled like another class's name is that raw value
    unknown = sorted(set(data.labels) - set(mapping))
    if unknown:
        raise DataError(f"{data.path}: labels {unknown} are not among {of_what} {sorted(mapping)}")
    return [mapping[label] for label in data.labels]


def sorted_label_values(labels: list[str]) -> list[str]:
    """Distinct label values in a stable order: numeric order when all are integers, else text order."""
    distinct = set(labels)
    try:  # not str.isdigit(): it accepts "²", which int() refuses
        return sorted(distinct, key=lambda value: (int(value), value))
    except ValueError:
        return sorted(distinct)

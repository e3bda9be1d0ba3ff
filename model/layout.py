"""A bundle's file names, its manifest check and its error, without Keras: `python -m app` checks the served
bundle's files and reads its config.json (to preload its tokenizer) before it imports TensorFlow, and the registry
needs no network to find a bundle.

Layout::

    model.keras     the explainer network (loaded with safe_mode=True)
    vocab.json      the vocabulary, id order
    config.json     labels in order, tokenizer and options, max_len, network sizes
    metrics.json    training and evaluation metrics
    manifest.json   format, version, created_at, training-data fingerprint, sha256 of every file
    *.png           report pictures (learning curve, confusion matrix)
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path

MODEL_FILE, VOCAB_FILE, CONFIG_FILE, METRICS_FILE, MANIFEST_FILE = (
    "model.keras",
    "vocab.json",
    "config.json",
    "metrics.json",
    "manifest.json",
)
REQUIRED_FILES = (MODEL_FILE, VOCAB_FILE, CONFIG_FILE, METRICS_FILE)
BUNDLE_FORMAT = "attnclf-bundle/1"


class BundleError(Exception):
    """A bundle that cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json_object(path: Path) -> dict:
    try:
        value = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise BundleError(path, "file is missing") from None
    except OSError as error:  # a directory, no permission
        raise BundleError(path, f"cannot be read ({error.strerror or error})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleError(path, f"not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise BundleError(path, "expected a JSON object")
    return value


def verified_manifest(bundle_dir: Path) -> dict:
    """The bundle's manifest, once its format is known and every file it lists is there with its sha256."""
    manifest = read_json_object(bundle_dir / MANIFEST_FILE)
    if manifest.get("format") != BUNDLE_FORMAT:
        raise BundleError(
            bundle_dir / MANIFEST_FILE, f"incompatible format {manifest.get('format')!r}, expected {BUNDLE_FORMAT!r}"
        )
    if not isinstance(manifest.get("version"), str):
        raise BundleError(bundle_dir / MANIFEST_FILE, "must name the bundle's version")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(name in files for name in REQUIRED_FILES):
        raise BundleError(bundle_dir / MANIFEST_FILE, f"must list sha256 for each of {', '.join(REQUIRED_FILES)}")
    for name, expected in files.items():
        if Path(name).name != name:
            raise BundleError(bundle_dir / MANIFEST_FILE, f"lists a file outside the bundle: {name!r}")
        if not (bundle_dir / name).is_file():
            raise BundleError(bundle_dir / name, "file is missing")
        try:
            digest = sha256_file(bundle_dir / name)
        except OSError as error:
            raise BundleError(bundle_dir / name, f"cannot be read ({error.strerror or error})") from None
        if digest != expected:
            raise BundleError(bundle_dir / name, "sha256 does not match manifest.json (file corrupt or changed)")
    return manifest


def tokenizer_of(bundle_dir: Path) -> tuple[str, dict | None]:
    """The tokenizer name and options that a bundle's config.json names, read without Keras."""
    try:
        tokenizer = json.loads((bundle_dir / CONFIG_FILE).read_text("utf-8"))["tokenizer"]
        return tokenizer["name"], tokenizer.get("options")
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BundleError(bundle_dir / CONFIG_FILE, f"names no tokenizer that can be read ({error})") from None


def labels_of(bundle_dir: Path) -> tuple[list[str], list[str]]:
    """The raw label values a bundle was trained on and their names, in order, read from config.json without Keras
    (a file of other labels is refused before the model loads)."""
    config = read_json_object(bundle_dir / CONFIG_FILE)
    names, values = config.get("labels"), config.get("label_values") or config.get("labels")
    if not isinstance(names, list) or not isinstance(values, list) or len(names) != len(values):
        raise BundleError(bundle_dir / CONFIG_FILE, "names no labels that can be read")
    return [str(value) for value in values], [str(name) for name in names]


def check_destination(out: Path, make_parent: bool = True) -> None:
    """Refuse, before any work, a place a new bundle cannot go: a file, a directory of other files (replacing it
    would delete them), or a parent the bundle cannot be written in. Nothing, an empty directory or an earlier
    bundle is fine. Creates the missing parent directories, as writing would, unless `make_parent` is false (a
    check before hours of training, which may fail and should then leave no empty folders behind)."""
    if out.is_symlink():
        raise BundleError(
            out,
            f"is a symbolic link (to {os.readlink(out)}); writing would replace the link, not what it points at: give "
            "the directory itself, or publish into a ROOT with --publish",
        )
    if out.exists() and not out.is_dir():
        raise BundleError(out, "is a file; give a directory for the bundle")
    if out.is_dir() and not (out / MANIFEST_FILE).is_file() and any(out.iterdir()):
        raise BundleError(
            out,
            "holds files but is not a bundle (no manifest.json), and writing would replace them; give a new "
            "or empty directory, or an earlier bundle to replace",
        )
    try:
        if make_parent:
            out.parent.mkdir(parents=True, exist_ok=True)
        check_can_create_in(out.parent)
    except OSError as error:
        raise BundleError(out, f"cannot be written ({error.strerror or error})") from None


def check_can_create_in(folder: Path) -> None:
    """Raise OSError unless files can be created in `folder`, or in the folders that making it would make, without
    making anything: its nearest existing ancestor must be a directory this process can write in."""
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:  # a dangling link stops the climb too
        existing = existing.parent
    if not existing.is_dir():  # a file, a dangling link or a loop: making the folders would fail there
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(existing))
    os.rmdir(tempfile.mkdtemp(prefix=".probe-", dir=existing))  # creating is the sure test (permissions, ACLs, mounts)


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory's entries (renames, new links), to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)

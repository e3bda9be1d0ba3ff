"""A self-describing model bundle: one directory (layout in `model.layout`), every file checked against its
manifest at load."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import keras

from model.attention import FinalStateAttention  # noqa: F401  (registers the layer for loading)
from model.layout import (
    BUNDLE_FORMAT,
    CONFIG_FILE,
    MANIFEST_FILE,
    METRICS_FILE,
    MODEL_FILE,
    VOCAB_FILE,
    BundleError,
    check_destination,
    fsync_path,
    read_json_object,
    sha256_file,
    verified_manifest,
)
from model.network import PROBABILITIES
from model.vocab import Vocabulary


@dataclass(frozen=True)
class BundleConfig:
    labels: list[str]
    tokenizer: dict
    max_len: int
    network: dict = field(default_factory=dict)
    label_values: list[str] | None = None  # the raw values in the training data, one per label

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Bundle:
    """A loaded, verified bundle."""

    path: Path
    model: keras.Model
    vocab: Vocabulary
    config: BundleConfig
    metrics: dict
    manifest: dict

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        path = Path(path)
        if not path.is_dir():
            raise BundleError(path, "no bundle directory here")
        manifest = verified_manifest(path)
        raw_config = read_json_object(path / CONFIG_FILE)
        try:
            config = BundleConfig(**raw_config)
        except TypeError as error:
            raise BundleError(path / CONFIG_FILE, f"incompatible config ({error})") from None
        try:
            vocab = Vocabulary.load(path / VOCAB_FILE)
        except (ValueError, KeyError, TypeError) as error:
            raise BundleError(path / VOCAB_FILE, f"not a vocabulary ({error})") from None
        try:
            model = keras.saving.load_model(path / MODEL_FILE, safe_mode=True, compile=False)
        except Exception as error:  # Keras raises many types for a bad archive
            raise BundleError(path / MODEL_FILE, f"cannot be loaded ({type(error).__name__}: {error})") from None
        outputs = model.output[PROBABILITIES].shape[-1] if isinstance(model.output, dict) else None
        if outputs != len(config.labels):
            raise BundleError(
                path / CONFIG_FILE, f"lists {len(config.labels)} labels but model.keras outputs {outputs} classes"
            )
        embedding_rows = model.get_layer("embedding").input_dim
        if embedding_rows != len(vocab):
            raise BundleError(path / VOCAB_FILE, f"has {len(vocab)} tokens but model.keras embeds {embedding_rows}")
        return cls(path, model, vocab, config, read_json_object(path / METRICS_FILE), manifest)


def write_bundle(
    out: str | Path,
    model: keras.Model,
    vocab: Vocabulary,
    config: BundleConfig,
    metrics: dict,
    data_fingerprint: dict,
    extra_files: dict[str, Path] | None = None,
) -> Path:
    """Write a bundle to a temporary sibling of `out`, then move it into place.

    A failure while writing leaves `out` as it was. An existing bundle at `out` is replaced only
    once the new one is complete (renamed aside, the new one renamed in, the old one removed); an
    interruption between the two renames puts the old one back.
    """
    out = Path(out)
    check_destination(out)
    staging = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        model.save(staging / MODEL_FILE)
        vocab.save(staging / VOCAB_FILE)
        (staging / CONFIG_FILE).write_text(json.dumps(config.to_dict(), ensure_ascii=False, indent=2), "utf-8")
        (staging / METRICS_FILE).write_text(json.dumps(metrics, ensure_ascii=False, indent=2), "utf-8")
        for name, source in (extra_files or {}).items():
            shutil.copyfile(source, staging / name)
        created = datetime.now(UTC)
        model_sha = sha256_file(staging / MODEL_FILE)
        manifest = {
            "format": BUNDLE_FORMAT,
            "version": f"{created:%Y%m%d-%H%M%S}-{model_sha[:8]}",
            "created_at": created.isoformat(timespec="seconds"),
            "data": data_fingerprint,
            "files": {p.name: sha256_file(p) for p in sorted(staging.iterdir()) if p.is_file()},
        }
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), "utf-8")
        for item in staging.iterdir():
            fsync_path(item)
        Bundle.load(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    retired = out.parent / f".{out.name}.retired-{uuid.uuid4().hex[:8]}"
    try:
        if out.exists():
            os.rename(out, retired)
        os.rename(staging, out)
    except BaseException:  # Ctrl-C or an error between the two renames: the earlier bundle goes back
        if retired.exists() and not out.exists():
            os.rename(retired, out)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(retired, ignore_errors=True)
    fsync_path(out.parent)  # the renames survive a power cut, not only a crash
    return out

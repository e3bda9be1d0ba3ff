"""Building model ROOTs for tests: copies of a published ROOT, republished, relabelled and corrupted versions."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from model.registry import VERSIONS, list_versions, point_current


def copy_root(root: Path, dest: Path, current: int | None = None) -> tuple[Path, list[str]]:
    """A private copy of a ROOT (symlinks kept) and its versions; `current` re-points it at versions[current]."""
    shutil.copytree(root, dest, symlinks=True)
    versions = list_versions(dest)
    if current is not None:
        point_current(dest, versions[current])
    return dest, versions


def add_version(
    root: Path, source: str, version: str, *, flip_model_byte: bool = False, labels: list[str] | None = None
) -> str:
    """Add `source` again under a new version name, optionally with a corrupt model.keras or other labels.

    Relabelling updates config.json's sha256 in the manifest (the bundle stays valid); a flipped byte does not.
    """
    target = root / VERSIONS / version
    shutil.copytree(root / VERSIONS / source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["version"] = version
    if flip_model_byte:
        model = bytearray((target / "model.keras").read_bytes())
        model[len(model) // 2] ^= 0xFF
        (target / "model.keras").write_bytes(bytes(model))
    if labels is not None:
        config = json.loads((target / "config.json").read_text())
        config["labels"] = labels
        (target / "config.json").write_text(json.dumps(config))
        manifest["files"]["config.json"] = hashlib.sha256((target / "config.json").read_bytes()).hexdigest()
    (target / "manifest.json").write_text(json.dumps(manifest))
    return version

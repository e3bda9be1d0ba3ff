"""Bundles: a round trip gives identical predictions; damaged bundles are refused with their own message."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import model.bundle as bundle_module
from model.bundle import CONFIG_FILE, MANIFEST_FILE, METRICS_FILE, Bundle, BundleError, sha256_file, write_bundle
from model.layout import check_destination, tokenizer_of
from model.predictor import Predictor

TEXTS = ["이 영화 정말 재미있어요", "최악의 영화. 시간 아깝다", "배우 연기는 좋은데 스토리가 별로", "ㅋㅋㅋ"]


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_bundle, tmp_path / "copy"))


def _rewrite(bundle: Path, name: str, content: str, update_manifest: bool) -> None:
    (bundle / name).write_text(content, "utf-8")
    if update_manifest:
        manifest = json.loads((bundle / MANIFEST_FILE).read_text("utf-8"))
        manifest["files"][name] = sha256_file(bundle / name)
        (bundle / MANIFEST_FILE).write_text(json.dumps(manifest), "utf-8")


def test_round_trip_gives_identical_predictions(tiny_bundle: Path, bundle_copy: Path) -> None:
    first, second = Predictor.load(tiny_bundle), Predictor.load(bundle_copy)
    assert first.version == second.version
    for a, b in zip(first.predict(TEXTS), second.predict(TEXTS)):
        assert a.label == b.label
        np.testing.assert_allclose(list(a.probabilities.values()), list(b.probabilities.values()), atol=1e-6)
        np.testing.assert_allclose([t.attention for t in a.tokens], [t.attention for t in b.tokens], atol=1e-6)


def test_bundle_describes_itself(tiny_bundle: Path) -> None:
    bundle = Bundle.load(tiny_bundle)
    assert bundle.config.labels == ["negative", "positive"]
    assert bundle.config.label_values == ["0", "1"]
    assert bundle.config.tokenizer["name"] == "okt"
    assert bundle.manifest["data"]["train"]["rows"] == 3000
    assert len(bundle.manifest["data"]["train"]["sha256"]) == 64
    assert bundle.manifest["created_at"] and bundle.version
    assert {"learning_curve.png", "confusion_matrix.png"} <= set(bundle.manifest["files"])
    assert 0.0 <= bundle.metrics["test"]["accuracy"] <= 1.0


def test_the_tokenizer_is_read_from_the_config_file_alone(bundle_copy: Path) -> None:
    """`python -m app` preloads this tagger before it imports TensorFlow."""
    assert tokenizer_of(bundle_copy) == ("okt", Bundle.load(bundle_copy).config.tokenizer["options"])
    config = json.loads((bundle_copy / CONFIG_FILE).read_text("utf-8"))
    (bundle_copy / CONFIG_FILE).write_text(json.dumps({**config, "tokenizer": "okt"}), "utf-8")
    with pytest.raises(BundleError, match=r"config\.json: names no tokenizer"):
        tokenizer_of(bundle_copy)
    with pytest.raises(BundleError, match=r"config\.json: names no tokenizer .*No such file"):
        tokenizer_of(bundle_copy / "missing")


def test_corrupt_manifest_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / MANIFEST_FILE).write_text("{not json", "utf-8")
    with pytest.raises(BundleError, match=r"manifest\.json: not valid JSON"):
        Bundle.load(bundle_copy)


def test_a_manifest_without_a_version_is_refused(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / MANIFEST_FILE).read_text("utf-8"))
    del manifest["version"]
    (bundle_copy / MANIFEST_FILE).write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(BundleError, match=r"manifest\.json: must name the bundle's version"):
        Bundle.load(bundle_copy)


def test_missing_file_is_refused(bundle_copy: Path) -> None:
    (bundle_copy / "vocab.json").unlink()
    with pytest.raises(BundleError, match=r"vocab\.json: file is missing"):
        Bundle.load(bundle_copy)


def test_changed_file_is_refused(bundle_copy: Path) -> None:
    with (bundle_copy / "model.keras").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match=r"model\.keras: sha256 does not match"):
        Bundle.load(bundle_copy)


def test_wrong_label_count_is_refused(bundle_copy: Path) -> None:
    config = json.loads((bundle_copy / CONFIG_FILE).read_text("utf-8"))
    config["labels"] = ["negative", "neutral", "positive"]
    _rewrite(bundle_copy, CONFIG_FILE, json.dumps(config), update_manifest=True)
    with pytest.raises(BundleError, match="lists 3 labels but model.keras outputs 2 classes"):
        Bundle.load(bundle_copy)


def test_incompatible_format_and_missing_directory_are_refused(bundle_copy: Path, tmp_path: Path) -> None:
    manifest = json.loads((bundle_copy / MANIFEST_FILE).read_text("utf-8"))
    manifest["format"] = "attnclf-bundle/99"
    (bundle_copy / MANIFEST_FILE).write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(BundleError, match="incompatible format"):
        Bundle.load(bundle_copy)
    with pytest.raises(BundleError, match="no bundle directory here"):
        Bundle.load(tmp_path / "nothing")


def test_manifest_may_not_point_outside_the_bundle(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / MANIFEST_FILE).read_text("utf-8"))
    manifest["files"]["../outside.json"] = "0" * 64
    (bundle_copy / MANIFEST_FILE).write_text(json.dumps(manifest), "utf-8")
    with pytest.raises(BundleError, match="outside the bundle"):
        Bundle.load(bundle_copy)


def test_metrics_are_covered_by_the_manifest(bundle_copy: Path) -> None:
    _rewrite(bundle_copy, METRICS_FILE, json.dumps({"test": {"accuracy": 0.99}}), update_manifest=False)
    with pytest.raises(BundleError, match="metrics.json: sha256 does not match"):
        Bundle.load(bundle_copy)


def test_an_interruption_between_the_two_renames_puts_the_earlier_bundle_back(
    tiny_bundle: Path, bundle_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replacing a bundle renames the old one aside, then the new one in; Ctrl-C in between must not lose both."""
    source = Bundle.load(tiny_bundle)
    before = {p.name: p.read_bytes() for p in bundle_copy.iterdir()}
    real_rename, renames = bundle_module.os.rename, []

    def rename_then_interrupt(src, dst) -> None:
        renames.append(Path(dst).name)
        if len(renames) == 2:  # the new bundle's rename into place
            raise KeyboardInterrupt
        real_rename(src, dst)

    monkeypatch.setattr(bundle_module.os, "rename", rename_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_bundle(bundle_copy, source.model, source.vocab, source.config, source.metrics, {})
    monkeypatch.setattr(bundle_module.os, "rename", real_rename)
    assert renames[0].startswith(".copy.retired-") and renames[1] == "copy"
    assert {p.name: p.read_bytes() for p in bundle_copy.iterdir()} == before
    assert [p.name for p in bundle_copy.parent.iterdir() if p.name.startswith(".copy")] == []
    Bundle.load(bundle_copy)


def test_a_manifest_that_cannot_be_read_is_named(bundle_copy: Path) -> None:
    (bundle_copy / MANIFEST_FILE).unlink()
    (bundle_copy / MANIFEST_FILE).mkdir()
    with pytest.raises(BundleError, match=r"manifest.json: cannot be read \(Is a directory\)"):
        Bundle.load(bundle_copy)


def test_a_symbolic_link_is_refused_as_the_place_for_a_bundle(bundle_copy: Path, tmp_path: Path) -> None:
    """Writing would replace the link (say a ROOT's `current`) with a directory, not the bundle it points at."""
    link = tmp_path / "current"
    link.symlink_to(bundle_copy.name)
    with pytest.raises(BundleError, match=r"current: is a symbolic link \(to copy\); writing would replace the link"):
        check_destination(link)
    assert link.is_symlink()


def test_a_place_whose_folders_cannot_be_made_is_refused_before_the_work_and_nothing_is_made(tmp_path: Path) -> None:
    """Checked without making folders (a run may still fail): a dangling link, a loop or a file on the way would make
    the folders' creation fail after the work, so the check refuses them at once."""
    (tmp_path / "dangling").symlink_to("nowhere")
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "a-file").write_text("", "utf-8")
    for blocked in ("dangling", "loop", "a-file"):
        with pytest.raises(BundleError, match=r"cannot be written \(Not a directory\)"):
            check_destination(tmp_path / blocked / "runs" / "bundle", make_parent=False)
    check_destination(tmp_path / "new" / "runs" / "bundle", make_parent=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "dangling", "loop"]  # nothing made, no probe left
    check_destination(tmp_path / "new" / "runs" / "bundle")  # as writing does: the parents are made
    assert (tmp_path / "new" / "runs").is_dir()

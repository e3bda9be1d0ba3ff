"""Published model versions: publishing, resolving, strict version names, and crashes that leave ROOT intact."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from model import registry
from model.bundle import Bundle, BundleError
from tests.conftest import FIXTURES, ROOT, stop_cli_midway
from tests.registry_helpers import add_version, copy_root


def snapshot(root: Path) -> dict[str, object]:
    """Everything a reader of ROOT can see: where `current` points and every byte of every published version."""
    return {
        "current": os.readlink(root / registry.CURRENT),
        **{
            f"{version}/{path.name}": path.read_bytes()
            for version in registry.list_versions(root)
            for path in sorted((root / registry.VERSIONS / version).iterdir())
        },
    }


def test_the_cli_published_a_second_version_and_made_it_current(published_root: Path, tiny_bundle: Path) -> None:
    versions = registry.list_versions(published_root)
    assert len(versions) == 2 and versions[0] == Bundle.load(tiny_bundle).version
    assert os.readlink(published_root / "current") == f"versions/{versions[1]}"
    assert registry.resolve(published_root) == published_root / "versions" / versions[1]
    assert registry.resolve(tiny_bundle) == tiny_bundle  # a single bundle is served as is
    assert Bundle.load(registry.resolve(published_root)).version == versions[1]
    assert [p.name for p in published_root.iterdir() if p.name.startswith("current.tmp")] == []


@pytest.mark.parametrize(
    "bad", ["../../etc", "..", "", "/etc/passwd", "20250101-120000-1a2b3c4d/..", "20250101-120000-1A2B3C4D", "x" * 300]
)
def test_version_names_outside_the_pattern_are_refused(bad: str, published_root: Path) -> None:
    with pytest.raises(registry.RegistryError, match="invalid version"):
        registry.version_dir(published_root, bad)


def test_publishing_a_version_twice_is_refused(published_root: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    root, _ = copy_root(published_root, tmp_path / "root")
    before = snapshot(root)
    with pytest.raises(registry.RegistryError, match="already published"):
        registry.publish(tiny_bundle, root)
    assert snapshot(root) == before


def test_a_current_link_pointing_outside_versions_is_refused(published_root: Path, tmp_path: Path) -> None:
    root, _ = copy_root(published_root, tmp_path / "root")
    (root / "current").unlink()
    (root / "current").symlink_to("../../etc")
    with pytest.raises(BundleError, match="it must be the relative link versions/<version>"):
        registry.resolve(root)
    (root / "current").unlink()
    (root / "current").symlink_to("versions/20991231-000000-00000000")  # a valid name, but not published
    with pytest.raises(BundleError, match="names version 20991231-000000-00000000, which is not in versions/"):
        registry.resolve(root)


def test_a_crash_while_switching_current_leaves_it_unchanged(
    published_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, versions = copy_root(published_root, tmp_path / "root")
    before = snapshot(root)

    def crash(*args: object) -> None:
        raise KeyboardInterrupt  # as if killed between creating the new link and renaming it

    monkeypatch.setattr(registry.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        registry.point_current(root, versions[0])
    assert snapshot(root) == before
    assert set(os.listdir(root)) == {"versions", "current"}  # the half-made link was removed


def test_killed_training_with_publish_leaves_current_and_every_version_intact(
    published_root: Path, tmp_path: Path
) -> None:
    root, versions = copy_root(published_root, tmp_path / "root")
    before = snapshot(root)
    stop_cli_midway(
        ["--train", str(FIXTURES / "nsmc_train_3k.tsv"), "--publish", str(root), "--epochs", "50", "--patience", "50",
         "--embedding-dim", "16", "--lstm-units", "16", "--no-pretrain-embeddings"],
        tmp_path,
    )  # fmt: skip
    assert snapshot(root) == before
    assert registry.list_versions(root) == versions
    assert Bundle.load(registry.resolve(root)).version == versions[-1]


def test_a_bundle_trained_for_publish_but_not_published_leaves_no_trace_in_root(
    published_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture
) -> None:
    from training import train as train_cli

    def refuse(*args: object, **kwargs: object) -> str:
        raise registry.RegistryError("publishing failed")

    root, _ = copy_root(published_root, tmp_path / "root")
    before = snapshot(root)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(train_cli, "publish", refuse)
    code = train_cli.main(
        ["--train", str(FIXTURES / "nsmc_train_3k.tsv"), "--publish", str(root), "--epochs", "1", "--quiet",
         "--language-model-epochs", "0", "--embedding-dim", "16", "--lstm-units", "16", "--no-pretrain-embeddings"]
    )  # fmt: skip
    assert code == 2
    assert "Epoch" not in capfd.readouterr().out  # --quiet: not even Keras' epoch lines
    assert snapshot(root) == before
    assert sorted(os.listdir(root / registry.VERSIONS)) == sorted(registry.list_versions(root))  # no .incoming-*


def test_training_with_publish_logs_the_published_version_not_its_staging_name(
    published_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from training import train as train_cli

    root, versions = copy_root(published_root, tmp_path / "root")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    code = train_cli.main(
        ["--train", str(FIXTURES / "nsmc_train_3k.tsv"), "--publish", str(root), "--epochs", "1",
         "--language-model-epochs", "0", "--embedding-dim", "16", "--lstm-units", "16", "--no-pretrain-embeddings"]
    )  # fmt: skip
    assert code == 0
    (new,) = set(registry.list_versions(root)) - set(versions)
    log = caplog.text
    assert re.search(rf"published version {new} \(trained in \d+ s\); {re.escape(str(root / 'current'))} now", log)
    assert ".incoming" not in log and "bundle written" not in log


def test_the_registry_cli_lists_versions_and_rolls_current_back_for_good(
    published_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, (first, second) = copy_root(published_root, tmp_path / "root")
    assert registry.main([str(root)]) == 0
    listing = capsys.readouterr().out.splitlines()
    assert [line[:2] + line[2:].split()[0] for line in listing] == [f"  {first}", f"* {second}"]
    assert "labels ['negative', 'positive']" in listing[0]

    assert registry.main([str(root), "--use", first]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{root / 'current'} -> versions/{first}\n") and err == ""
    assert os.readlink(root / "current") == f"versions/{first}"
    assert registry.resolve(root) == root / "versions" / first  # what a restarted server loads

    (root / registry.VERSIONS / ".incoming-1a2b3c4d").mkdir()  # what a killed `training.train --publish` leaves
    assert registry.main([str(root)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("publishes here): .incoming-1a2b3c4d")


def test_the_registry_cli_prints_no_tensorflow_lines_and_checks_a_name_before_loading_it(
    published_root: Path, tmp_path: Path
) -> None:
    root, (first, _) = copy_root(published_root, tmp_path / "root")
    probe = (
        "import sys\nfrom model import registry\ntry:\n    registry.main(sys.argv[1:])\n"
        "except SystemExit as stop:\n    print('exit', stop.code, 'tensorflow' in sys.modules)"
    )
    for version, expected in (("../../etc", "exit 2 False"), (first, f"{root / 'current'} -> versions/{first}")):
        ran = subprocess.run(
            [sys.executable, "-c", probe, str(root), "--use", version],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert expected in ran.stdout, ran.stdout + ran.stderr
        assert "oneDNN" not in ran.stderr and "absl" not in ran.stderr, ran.stderr


def test_the_registry_cli_refuses_a_broken_or_unknown_version_and_warns_of_new_labels(
    published_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, (first, _) = copy_root(published_root, tmp_path / "root")
    broken = add_version(root, first, "20991231-000000-0badf00d", flip_model_byte=True)
    copied = "20991231-000000-0c0b1ed0"
    shutil.copytree(root / registry.VERSIONS / first, root / registry.VERSIONS / copied)
    before = snapshot(root)
    for version, reason in (
        (broken, "model.keras: sha256 does not match"),
        (copied, f"names version {first}, not {copied} (a copied or renamed directory)"),
        ("20991231-000000-00000000", "is not published"),
        ("../../etc", "invalid version"),
    ):
        with pytest.raises(SystemExit) as refused:
            registry.main([str(root), "--use", version])
        err = capsys.readouterr().err
        assert refused.value.code == 2 and f"{version} was not made current: " in err and reason in err, err
    assert snapshot(root) == before
    assert registry.main([str(root)]) == 0  # the listing marks the copy that --use refused
    listing = {line[2:].split()[0]: line for line in capsys.readouterr().out.splitlines() if line[2:3].isdigit()}
    assert listing[copied].endswith(f"NOT SERVABLE: its manifest names version {first} (copied or renamed)")
    assert "NOT SERVABLE" not in listing[first]
    with pytest.raises(SystemExit) as empty:
        registry.main([str(tmp_path)])
    assert empty.value.code == 2 and "nothing was published there" in capsys.readouterr().err

    relabelled = add_version(root, first, "20991231-000000-00000001", labels=["neg", "pos"])
    assert registry.main([str(root), "--use", relabelled]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: {relabelled} has labels ['neg', 'pos'], ") and "refuses to reload it (409)" in err


def test_publishing_other_labels_warns_that_a_running_server_will_refuse_them(
    published_root: Path, tmp_path: Path
) -> None:
    root, (_, second) = copy_root(published_root, tmp_path / "root")
    command = [
        sys.executable, "-m", "training.train", "--train", str(FIXTURES / "nsmc_train_3k.tsv"), "--publish", str(root),
        "--label-names", "bad,good", "--epochs", "1", "--vocab-size", "2000", "--embedding-dim", "16",
        "--lstm-units", "16", "--attention-units", "8", "--language-model-epochs", "0", "--no-pretrain-embeddings",
        "--no-cache", "--quiet",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    published = registry.current_version(root)
    assert published not in (second, None)
    expected = (
        f"warning: {published} has labels ['bad', 'good'], {second} had ['negative', 'positive']: a running server "
        "refuses to reload it (409) and serves it only after a restart"
    )
    assert expected in done.stderr

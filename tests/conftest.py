"""Shared fixtures: the shipped default bundle, a tiny bundle trained on the repo's fixture, data paths."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import model  # noqa: F401  (sets the Keras backend first)

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"
DEFAULT_BUNDLE = ROOT / "model" / "default"
SHARED_DATA = ROOT.parent / "shared" / "data"

needs_shared_data = pytest.mark.skipif(
    not (SHARED_DATA / "nsmc" / "ratings_test.txt").is_file(),
    reason=f"full data sets not found at {SHARED_DATA} (place ../shared/data beside the repo)",
)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real bundle trained for 2 epochs on the 3K-row NSMC fixture (about 20 s)."""
    from training.config import TrainConfig
    from training.data import read_labelled
    from training.pipeline import train

    out = tmp_path_factory.mktemp("tiny") / "bundle"
    config = TrainConfig(epochs=2, vocab_size=3000, embedding_dim=32, lstm_units=32, attention_units=16)
    train(
        read_labelled(FIXTURES / "nsmc_train_3k.tsv"),
        out,
        config,
        read_labelled(FIXTURES / "nsmc_test_1k.tsv"),
        names="negative,positive",
        cache_dir=tmp_path_factory.mktemp("token-cache"),
        quiet=True,
    )
    return out


@pytest.fixture(scope="session")
def default_bundle() -> Path:
    """The shipped default model (trained on the full NSMC training file)."""
    return DEFAULT_BUNDLE


@pytest.fixture(scope="session")
def default_predictor(default_bundle: Path):
    from model.predictor import Predictor

    return Predictor.load(default_bundle)


@pytest.fixture(scope="session")
def published_root(tiny_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ROOT of two published versions: tiny_bundle, then a second small model the training CLI published.

    `current` names the second one. Tests that change the ROOT work on a copy (`copy_root`).
    """
    from model.registry import publish
    from training.train import main

    root = tmp_path_factory.mktemp("registry") / "models"
    publish(tiny_bundle, root)
    code = main(
        ["--train", str(FIXTURES / "nsmc_train_3k.tsv"), "--publish", str(root), "--label-names", "negative,positive",
         "--epochs", "1", "--vocab-size", "2000", "--embedding-dim", "16", "--lstm-units", "16",
         "--attention-units", "8", "--no-pretrain-embeddings", "--no-cache", "--quiet", "--seed", "7"]
    )  # fmt: skip
    assert code == 0
    return root


def popen_hearing_ctrl_c(args: list[str], **popen: object) -> subprocess.Popen:
    """`subprocess.Popen(args, cwd=ROOT, **popen)` for a child that must hear a Ctrl-C (SIGINT) sent to it.

    A test run started as a background job without job control (`make test &` in a script) ignores SIGINT,
    and its children would inherit that, as POSIX asks, and never hear it. A handled signal reverts to its
    default action in the child, so it is handled here while the child starts."""
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(args, cwd=ROOT, **popen)
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def stop_cli_midway(
    args: list[str],
    cache: Path,
    sig: int = signal.SIGKILL,
    after: str = "Epoch 2/",
    wait_s: float = 0.0,
    module: str = "training.train",
) -> tuple[int, str]:
    """Run `python -m MODULE ARGS`, send it `sig` `wait_s` after a line containing `after` (by default once a
    training run's second epoch has begun); (exit code, output)."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    process = popen_hearing_ctrl_c(
        [sys.executable, "-m", module, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 240
        assert process.stdout is not None
        for line in process.stdout:  # the stage lines and Keras' epoch lines
            seen.append(line)
            if after in line or time.monotonic() > deadline:
                break
        time.sleep(wait_s)
        assert process.poll() is None, f"{module} ended before it could be stopped"
        process.send_signal(sig)
        rest, _ = process.communicate(timeout=60)
        return process.returncode, "".join(seen) + rest
    finally:
        process.kill()

"""A bundle's file names and its error, without Keras: `python -m app` reads the served bundle's config.json
(to preload its tokenizer) before it imports TensorFlow, and the registry needs no network to find a bundle.

Layout::

    model.keras     the explainer network (loaded with safe_mode=True)
    vocab.json      the vocabulary, id order
    config.json     labels in order, tokenizer and options, max_len, network sizes
    metrics.json    training and evaluation metrics
    manifest.json   format, version, created_at, training-data fingerprint, sha256 of every file
    *.png           report pictures (learning curve, confusion matrix)
"""

from __future__ import annotations

from pathlib import Path

MODEL_FILE, VOCAB_FILE, CONFIG_FILE, METRICS_FILE, MANIFEST_FILE = (
    "model.keras",
    "vocab.json",
    "config.json",
    "metrics.json",
    "manifest.json",
)
REQUIRED_FILES = (MODEL_FILE, VOCAB_FILE, CONFIG_FILE, METRICS_FILE)


class BundleError(Exception):
    """A bundle that cannot be used; the message names the file and the problem."""

    def __init__(self, path: Path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem

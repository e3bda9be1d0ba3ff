"""The one path from texts to answers: tokenize, encode, run the compiled network, decode."""

from __future__ import annotations

import bisect
import gc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from model.bundle import Bundle
from model.network import ATTENTION, PROBABILITIES
from model.tokenizer import MorphTokenizer, Token
from model.vocab import PAD_ID, UNK_ID

MIN_BUCKET = 8


@dataclass(frozen=True)
class TokenAttention:
    text: str
    start: int
    end: int
    attention: float
    oov: bool


@dataclass(frozen=True)
class Prediction:
    label: str
    probabilities: dict[str, float]
    tokens: list[TokenAttention]
    truncated: bool


@dataclass(frozen=True)
class Encoded:
    """A text after pre-processing: its tokens, the ids the model reads, and whether it was cut."""

    tokens: list[Token]
    ids: list[int]
    truncated: bool


def length_buckets(max_len: int) -> list[int]:
    """Padded lengths a batch may take: powers of two from 8, then max_len."""
    buckets, size = [], MIN_BUCKET
    while size < max_len:
        buckets.append(size)
        size *= 2
    return buckets + [max_len]


class Predictor:
    """Loads a bundle once and answers batches of texts.

    `predict(texts)` returns one `Prediction` per text, in order: `label` (a name),
    `probabilities` {label: p} over every class, `tokens` [text, start, end, attention, oov] for
    every token (attention 0 for tokens past `max_len`), and `truncated`. The network runs as one
    `tf.function` traced once for `(batch, length)` of any size; batches are padded to a length
    bucket so short texts do not pay for `max_len`. Texts are sorted by length and run `batch_size`
    at a time: 256 ran the network about 20% cheaper per text than 64 (fewer per-call costs).
    """

    def __init__(self, bundle: Bundle, batch_size: int = 256, tokenizer_workers: int = 2):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.bundle = bundle
        self.labels = list(bundle.config.labels)
        self.max_len = bundle.config.max_len
        self.batch_size = batch_size
        self.buckets = length_buckets(self.max_len)
        tokenizer = bundle.config.tokenizer
        self.tokenizer = MorphTokenizer(tokenizer["name"], tokenizer.get("options"), workers=tokenizer_workers)
        model = bundle.model
        self._forward = tf.function(
            lambda ids: model(ids, training=False),
            input_signature=[tf.TensorSpec([None, None], tf.int32)],
            reduce_retracing=True,
        )
        self.warm_up()

    def warm_up(self, rounds: int = 300) -> None:
        """Run varied texts through every stage, then take the loaded objects out of the garbage collector's sight.

        konlpy's JVM bridge triggers full collections every few dozen texts; with TensorFlow's ~350,000 objects
        tracked, each one walks them all, which made tokenizing 2.5-4x slower and put ~200 ms spikes in
        single-text latency (benchmarks/README.md). `gc.freeze()` moves everything loaded so far to the
        permanent generation (`collect_dropped_models` frees a model dropped later). A fresh JVM also runs Okt
        several times slower until its JIT has seen a few hundred texts, so the warm-up covers every length bucket
        with texts made of real vocabulary forms.
        """
        forms = self.bundle.vocab.tokens[2:] or ["warm up"]
        texts = [
            " ".join(forms[(i * 7919 + j * 104729) % len(forms)] for j in range(1 + i % self.max_len))
            for i in range(rounds)
        ]
        self.predict(texts)
        gc.freeze()

    @classmethod
    def load(cls, path: str | Path, **options) -> Predictor:
        return cls(Bundle.load(path), **options)

    @property
    def version(self) -> str:
        return self.bundle.version

    def encode(self, tokens: list[Token]) -> Encoded:
        """Vocabulary ids of the first `max_len` tokens."""
        ids = self.bundle.vocab.lookup(token.form for token in tokens[: self.max_len])
        return Encoded(tokens, ids, len(tokens) > self.max_len)

    def preprocess(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> list[Encoded]:
        """Tokenize and encode `texts`; `progress` hears how many are tokenized so far."""
        return [self.encode(tokens) for tokens in self.tokenizer.tokenize_many(texts, progress)]

    def forward(self, batch: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Run one padded batch; returns probabilities (n, classes) and attention (n, length)."""
        longest = max(1, max(len(ids) for ids in batch))
        length = self.buckets[bisect.bisect_left(self.buckets, longest)]
        padded = np.full((len(batch), length), PAD_ID, dtype=np.int32)
        for row, ids in enumerate(batch):
            # A text with no tokens is read as a single unknown token.
            padded[row, : max(1, len(ids))] = ids or [UNK_ID]
        outputs = self._forward(tf.constant(padded))
        return outputs[PROBABILITIES].numpy(), outputs[ATTENTION].numpy()

    def postprocess(self, encoded: Encoded, probabilities: np.ndarray, attention: np.ndarray) -> Prediction:
        weights = attention[: len(encoded.ids)] if encoded.ids else []
        tokens = [
            TokenAttention(
                text=token.text,
                start=token.start,
                end=token.end,
                attention=float(weights[i]) if i < len(weights) else 0.0,
                oov=i < len(encoded.ids) and encoded.ids[i] == UNK_ID,
            )
            for i, token in enumerate(encoded.tokens)
        ]
        return Prediction(
            label=self.labels[int(np.argmax(probabilities))],
            probabilities={label: float(p) for label, p in zip(self.labels, probabilities)},
            tokens=tokens,
            truncated=encoded.truncated,
        )

    def predict_encoded(self, encoded: Sequence[Encoded]) -> list[Prediction]:
        """Predict already pre-processed texts; batches similar lengths together."""
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))
        results: list[Prediction | None] = [None] * len(encoded)
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            probabilities, attention = self.forward([encoded[i].ids for i in chunk])
            for row, index in enumerate(chunk):
                results[index] = self.postprocess(encoded[index], probabilities[row], attention[row])
        return results  # type: ignore[return-value]

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return self.predict_encoded(self.preprocess(texts))

    def predict_one(self, text: str) -> Prediction:
        return self.predict([text])[0]


def collect_dropped_models() -> None:
    """Free Predictors no longer referenced (a model replaced by a reload); blocking, about one full collection.

    `Predictor.warm_up` freezes every object loaded so far out of the collector's sight, and Keras models are
    full of reference cycles, so a dropped model would stay in memory for good. Unfreeze, collect, and freeze
    again what is still alive.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()

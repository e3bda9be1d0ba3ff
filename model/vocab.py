"""Token vocabulary: id 0 is padding, id 1 stands for every unknown token."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


class Vocabulary:
    """Maps token forms to ids. Built from counts with a minimum count and a maximum size."""

    def __init__(self, tokens: list[str]):
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a vocabulary starts with {PAD!r}, {UNK!r}; got {tokens[:2]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("a vocabulary may not repeat a token")
        self.tokens = tokens
        self._ids = {token: index for index, token in enumerate(tokens)}

    @classmethod
    def build(cls, documents: Iterable[Iterable[str]], min_count: int = 2, max_size: int = 20000) -> Vocabulary:
        """Keep the `max_size - 2` most frequent forms seen at least `min_count` times (ties by form)."""
        if min_count < 1 or max_size < 3:
            raise ValueError(f"need min_count >= 1 and max_size >= 3, got {min_count}, {max_size}")
        counts = Counter(form for document in documents for form in document)
        ranked = sorted((c, f) for f, c in counts.items() if c >= min_count and f not in (PAD, UNK))
        ranked.sort(key=lambda pair: (-pair[0], pair[1]))
        return cls([PAD, UNK] + [form for _, form in ranked[: max_size - 2]])

    def __len__(self) -> int:
        return len(self.tokens)

    def lookup(self, forms: Iterable[str]) -> list[int]:
        return [self._ids.get(form, UNK_ID) for form in forms]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"pad": PAD, "unk": UNK, "tokens": self.tokens}, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        return cls(json.loads(path.read_text("utf-8"))["tokens"])

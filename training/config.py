"""Every knob of a training run, apart from the code that runs it, so the CLI can show the defaults
without importing TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass, field

LR_SCHEDULES = ("constant", "cosine")
OKT_DEFAULTS = {"norm": True, "stem": True}


@dataclass
class TrainConfig:
    """Every knob of a training run, with the defaults that produced the shipped model."""

    tokenizer: str = "okt"
    tokenizer_options: dict | None = None  # None: OKT_DEFAULTS for Okt, none for the others
    max_len: int = 64
    vocab_size: int = 20000
    min_count: int = 2
    embedding_dim: int = 100
    lstm_units: int = 128
    attention: str = "additive"
    attention_units: int = 64
    embedding_dropout: float = 0.2
    dropout: float = 0.3
    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    adversarial_epsilon: float = 1.0  # 0: off; see training/adversarial.py
    adversarial_from_epoch: int = 3
    pretrain_embeddings: bool = True
    language_model_epochs: int = 8
    quantize_embeddings: bool = True
    val_fraction: float = 0.1
    max_val_rows: int = 0  # 0: no limit; 3,000 on NSMC let a noisy validation stop a run early (docs/performance.md)
    patience: int = 2
    seed: int = 42
    split_seed: int | None = None  # the train/validation split's; None: `seed`
    teachers: list[str] = field(default_factory=list)
    teacher_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.tokenizer_options is None:
            self.tokenizer_options = dict(OKT_DEFAULTS) if self.tokenizer == "okt" else {}

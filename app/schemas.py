"""Request and response bodies of the HTTP API (what `/docs` and `/openapi.json` describe)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from app.settings import BATCH_TEXTS_BOUND
from model.predictor import Prediction, Predictor
from model.registry import VERSION_PATTERN
from model.tokenizer import text_problem

EXAMPLE_TEXT = "배우들 연기가 정말 좋았고 스토리도 탄탄해서 시간 가는 줄 몰랐어요"
EXAMPLE_TEXTS = ["배우들 연기가 정말 좋았어요 ㅋㅋ", "스토리가 너무 지루하고 뻔했다", "음악은 좋았는데 결말이 아쉽네요"]


def _check_text(value: object) -> object:
    """Reject texts the model cannot answer meaningfully, with a message that says why."""
    if isinstance(value, str) and (problem := text_problem(value)) is not None:
        raise PydanticCustomError(*problem)
    return value


Text = Annotated[
    str,
    BeforeValidator(_check_text),
    Field(
        min_length=1,
        description="A text to classify: at most MAX_TEXT_CHARS (2000 by default) Unicode code points. Refused with "
        "422: a text with nothing visible, only whitespace and invisible characters (`blank_text`); a control "
        "character other than tab, newline and carriage return (`control_character`); a lone surrogate "
        "(`invalid_unicode`); a text over the limit (`string_too_long`). Positions in `ctx` count code points.",
    ),
]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"text": EXAMPLE_TEXT}]})

    text: Text


def _published_without_max_items(schema: dict[str, Any]) -> None:
    """The schema's bound is not the limit a client meets (MAX_BATCH_TEXTS, a setting), so it is not published."""
    schema.pop("maxItems", None)


class BatchPredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"texts": EXAMPLE_TEXTS}]})

    # The bound stops validation before it checks each element of a list far too long (a 1.5 MB body can hold
    # 700,000 of them); the route reports MAX_BATCH_TEXTS in its place.
    texts: list[Text] = Field(
        min_length=1,
        max_length=BATCH_TEXTS_BOUND,
        description="Texts to classify, answered in the same order (limit: MAX_BATCH_TEXTS, 64).",
        json_schema_extra=_published_without_max_items,
    )


class TokenOut(BaseModel):
    text: str = Field(
        description="The token exactly as it appears in the submitted text: `text[start:end]`. Where the tagger "
        "split or rewrote a word (Okt's stems), several tokens share one span, each with its own weight."
    )
    start: int = Field(ge=0, description="Start offset in the submitted text, in Unicode code points.")
    end: int = Field(ge=0, description="End offset (exclusive), in Unicode code points.")
    attention: float = Field(ge=0, le=1, description="Attention weight; the weights of one text sum to 1.")
    oov: bool = Field(description="The token is not in the model's vocabulary.")


class ModelRef(BaseModel):
    name: str
    version: str


class PredictionOut(BaseModel):
    label: str = Field(examples=["positive"])
    probabilities: dict[str, float] = Field(description="Probability of every label.")
    tokens: list[TokenOut]
    truncated: bool = Field(description="The text had more tokens than the model reads (max_len); the rest got 0.")
    model: ModelRef

    @classmethod
    def from_prediction(cls, prediction: Prediction, model: ModelRef) -> PredictionOut:
        return cls(
            label=prediction.label,
            probabilities=prediction.probabilities,
            tokens=[
                TokenOut(text=t.text, start=t.start, end=t.end, attention=t.attention, oov=t.oov)
                for t in prediction.tokens
            ],
            truncated=prediction.truncated,
            model=model,
        )


class BatchPredictionOut(BaseModel):
    predictions: list[PredictionOut] = Field(description="One prediction per text, in request order.")


class TokenizerInfo(BaseModel):
    name: str
    options: dict[str, Any]


class EvaluationSummary(BaseModel):
    accuracy: float | None = None
    macro_f1: float | None = None
    n: int | None = Field(None, description="Number of evaluated texts.")


class ReloadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"version": "20250101-120000-1a2b3c4d"}]})

    version: str | None = Field(
        None, pattern=VERSION_PATTERN, description="Published version to serve; default: the one ROOT/current names."
    )


class ReloadOut(BaseModel):
    at: datetime = Field(description="When the reload attempt finished (UTC).")
    ok: bool
    requested: str | None = Field(description="Version asked for; null: ROOT/current.")
    version: str | None = Field(description="Version serving after the attempt.")
    reason: str | None = Field(None, description="Why a reload was refused.")


class VersionsOut(BaseModel):
    serving: str = Field(description="Version answering requests now.")
    current: str | None = Field(
        description="Version ROOT/current names (null: MODEL_DIR is a single bundle, or the link is missing or broken)."
    )
    versions: list[str] = Field(description="Published versions, oldest first; reload one of them to roll back.")


class ModelInfo(BaseModel):
    name: str
    version: str
    created_at: str | None
    labels: list[str]
    tokenizer: TokenizerInfo
    max_len: int = Field(description="Tokens the model reads per text; later tokens get attention 0.")
    vocab_size: int
    network: dict[str, Any]
    training_data: dict[str, Any] = Field(description="Fingerprint (file, sha256, rows) of the training data.")
    evaluation: dict[str, EvaluationSummary] = Field(description="Accuracy and macro F1 per split (validation, test).")
    metrics: dict[str, Any] = Field(description="Every metric recorded at training time.")
    last_reload: ReloadOut | None = Field(None, description="The last hot reload attempt, if any.")

    @classmethod
    def from_predictor(cls, predictor: Predictor, model: ModelRef, last_reload: ReloadOut | None = None) -> ModelInfo:
        bundle = predictor.bundle
        metrics = bundle.metrics
        return cls(
            name=model.name,
            version=model.version,
            created_at=bundle.manifest.get("created_at"),
            labels=predictor.labels,
            tokenizer=TokenizerInfo(
                name=bundle.config.tokenizer["name"], options=bundle.config.tokenizer.get("options") or {}
            ),
            max_len=predictor.max_len,
            vocab_size=len(bundle.vocab),
            network=bundle.config.network,
            training_data=bundle.manifest.get("data") or {},
            evaluation={
                split: EvaluationSummary.model_validate(metrics[split])
                for split in ("validation", "test")
                if isinstance(metrics.get(split), dict)
            },
            metrics=metrics,
            last_reload=last_reload,
        )


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    status: Literal["ready"] = "ready"
    model: ModelRef


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="Where the problem is, e.g. ['body', 'texts', 2].")
    msg: str
    type: str = Field(
        description="The kind of problem, for a client to word it: `blank_text`, `control_character`, "
        "`invalid_unicode`, `string_too_long` (a text over MAX_TEXT_CHARS), `too_long` (a batch over "
        "MAX_BATCH_TEXTS), `more_problems` (how many were not listed), or one of pydantic's (`missing`, "
        "`string_type`, `extra_forbidden`, `json_invalid`, ...)."
    )
    ctx: dict[str, str | int | float] | None = Field(
        None, description="The values `msg` refers to, e.g. {'position': 3} or {'length': 2500, 'limit': 2000}."
    )


class ErrorOut(BaseModel):
    detail: str | list[ErrorItem] = Field(description="What was wrong: a sentence, or one item per invalid field.")

"""Service configuration: one `Settings` object read from environment variables."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
MIN_TOKEN_CHARS = 16
MIN_WATCH_SECONDS = 0.1
MIN_PENDING_TEXTS = 2048  # the default queue bound: a second or two of work at the measured throughput
SECRETS = {"ADMIN_TOKEN"}  # never echoed in an error
DERIVED_BODY_LIMIT_CAP = 64 * 2**20  # MAX_BODY_BYTES left unset never exceeds this, whatever the text and batch limits
SETTABLE_BODY_LIMIT_MAX = 2**30  # a body is held whole in memory and parsed into several times its size
BATCH_TEXTS_BOUND = 10_000  # MAX_BATCH_TEXTS can be set up to this; the request schema refuses longer lists outright


def largest_batch_bytes(texts: int, chars: int) -> int:
    """The JSON body of `texts` texts of `chars` characters each, every character an emoji or another character
    beyond U+FFFF written as a 12-byte surrogate-pair escape (`\\ud83d\\ude00`, as Python's json.dumps writes
    it), with room for the JSON around them."""
    return texts * (chars * 12 + 8) + 1024


class SettingsError(ValueError):
    """Environment variables that make no valid settings; the message names each one and says why."""


class Settings(BaseSettings):
    """Every knob of the service; each field is read from the environment variable of the same name."""

    model_config = SettingsConfigDict(extra="ignore")

    MODEL_DIR: Path = Field(
        REPO_ROOT / "model" / "default",
        description="Model bundle directory to serve, or a ROOT of published versions (serves ROOT/current).",
    )
    MODEL_NAME: str | None = Field(
        None, min_length=1, max_length=100, description="Model name in answers; default: the bundle directory name."
    )
    HOST: str = Field("127.0.0.1", min_length=1, description="Interface `python -m app` binds to.")
    PORT: int = Field(8000, gt=0, lt=65536, description="Port `python -m app` listens on.")
    LOG_LEVEL: Literal["critical", "error", "warning", "info", "debug"] = Field("info", description="Log level.")
    CORS_ORIGINS: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated origins allowed by CORS; empty turns CORS off."
    )
    MAX_TEXT_CHARS: int = Field(2000, gt=0, le=100_000, description="Longest text accepted, in characters.")
    MAX_BATCH_TEXTS: int = Field(
        64, gt=0, le=BATCH_TEXTS_BOUND, description="Most texts accepted by /v1/predict/batch."
    )
    MAX_BODY_BYTES: int | None = Field(
        None,
        gt=0,
        le=SETTABLE_BODY_LIMIT_MAX,
        description="Largest request body accepted, in bytes (413 above); unset: what the largest valid batch needs "
        "with every character \\u-escaped, at most 64 MiB (set once the settings are read, so it is never None "
        "afterwards).",
    )
    BODY_TIMEOUT_S: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="How long a client may take to send a request body once its headers arrived (408 after it).",
    )
    MAX_PENDING_TEXTS: int | None = Field(
        None,
        gt=0,
        le=10_000_000,
        description="Most texts the model may have queued or running at once; requests beyond it answer 503 with "
        f"Retry-After at once; unset: {MIN_PENDING_TEXTS} or four full batches (MAX_BATCH_TEXTS), whichever is more.",
    )
    MICROBATCH_MAX_SIZE: int = Field(32, gt=0, le=1024, description="Most single requests run as one model batch.")
    MICROBATCH_MAX_WAIT_MS: float = Field(
        5.0, ge=0, le=1000, description="How long a single request may wait for others to join its batch."
    )
    MODEL_WATCH_SECONDS: float = Field(
        0.0,
        ge=0,
        le=86_400,
        description="MODEL_DIR a ROOT of versions: check ROOT/current this often, reload when it changes; 0: off.",
    )
    TOKENIZER_WORKERS: int = Field(2, gt=0, le=64, description="Threads the tokenizer uses for large batches.")
    LOG_REQUEST_TEXT: bool = Field(False, description="Include request texts in access logs (privacy: off).")
    ADMIN_TOKEN: SecretStr | None = Field(
        None,
        description="Bearer token for /v1/admin/* (and /metrics with METRICS=admin); unset: admin routes are absent.",
    )
    METRICS: Literal["off", "public", "admin"] = Field(
        "off", description="Prometheus /metrics: off, public, or admin (needs the ADMIN_TOKEN)."
    )

    @field_validator("ADMIN_TOKEN", mode="before")
    @classmethod
    def _empty_token_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("ADMIN_TOKEN")
    @classmethod
    def _usable_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        token = value.get_secret_value()
        if len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"must be at least {MIN_TOKEN_CHARS} characters")
        if token != token.strip():  # a client's header value loses it, so no request could ever match
            raise ValueError("must not begin or end with whitespace (a trailing \\r from a CRLF env file?)")
        return value

    @field_validator("MODEL_WATCH_SECONDS")
    @classmethod
    def _watch_off_or_not_busy(cls, value: float) -> float:
        if 0 < value < MIN_WATCH_SECONDS:
            raise ValueError(f"must be 0 (off) or at least {MIN_WATCH_SECONDS} (it reads a link every interval)")
        return value

    @field_validator("MODEL_DIR")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Not resolve(): following a `current` symlink here would pin the version served at startup.
        return Path(os.path.abspath(value.expanduser()))

    @field_validator("LOG_LEVEL", "METRICS", mode="before")
    @classmethod
    def _lowercase_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("CORS_ORIGINS", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @model_validator(mode="after")
    def _derive_body_limit(self) -> Settings:
        if self.MAX_BODY_BYTES is None:
            needed = largest_batch_bytes(self.MAX_BATCH_TEXTS, self.MAX_TEXT_CHARS)
            self.MAX_BODY_BYTES = min(needed, DERIVED_BODY_LIMIT_CAP)
        return self

    @model_validator(mode="after")
    def _admin_metrics_need_the_token(self) -> Settings:
        if self.METRICS == "admin" and self.ADMIN_TOKEN is None:
            raise ValueError("METRICS='admin' needs ADMIN_TOKEN: without it /metrics would not exist")
        return self

    @model_validator(mode="after")
    def _queue_holds_a_full_batch(self) -> Settings:
        if self.MAX_PENDING_TEXTS is None:
            self.MAX_PENDING_TEXTS = max(MIN_PENDING_TEXTS, 4 * self.MAX_BATCH_TEXTS)
        elif self.MAX_PENDING_TEXTS < self.MAX_BATCH_TEXTS:
            raise ValueError(
                f"MAX_PENDING_TEXTS={self.MAX_PENDING_TEXTS} is below MAX_BATCH_TEXTS={self.MAX_BATCH_TEXTS}: "
                "a full batch could never be taken"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment; SettingsError if any is invalid."""
    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(f"invalid settings: {describe(error)}") from None


def describe(error: ValidationError) -> str:
    """One `NAME='value': why` per problem (a secret's value left out), without pydantic's traceback."""
    problems = []
    for item in error.errors(include_url=False):
        if not item["loc"]:  # a check across fields: its input is every setting, secrets too; the message names them
            problems.append(item["msg"].removeprefix("Value error, "))
            continue
        name = str(item["loc"][0])
        shown = name if name in SECRETS else f"{name}={item['input']!r}"
        problems.append(f"{shown}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)

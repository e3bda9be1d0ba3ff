"""Classify texts: one text through the micro-batcher, or a batch in one model call."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError

from app.deps import BatcherDep, ModelRefDep, PredictorDep, SettingsDep
from app.middleware import add_access_log_fields
from app.schemas import BatchPredictionOut, BatchPredictRequest, ErrorOut, PredictionOut, PredictRequest
from app.settings import Settings

router = APIRouter(prefix="/v1", tags=["predict"])

ERRORS = {
    413: {"model": ErrorOut, "description": "Request body over MAX_BODY_BYTES"},
    422: {"model": ErrorOut, "description": "Invalid request: the detail lists each problem"},
    503: {"model": ErrorOut, "description": "The model is not loaded yet, or the service is stopping"},
}


def _length_error(text: str, settings: Settings, loc: tuple[str | int, ...]) -> dict | None:
    if len(text) <= settings.MAX_TEXT_CHARS:
        return None
    return {
        "type": "string_too_long",
        "loc": loc,
        "msg": f"text has {len(text)} characters; the limit is {settings.MAX_TEXT_CHARS}",
    }


def check_text(text: str, settings: Settings) -> None:
    """Enforce MAX_TEXT_CHARS (limits are settings, so they cannot live in the static schema)."""
    if error := _length_error(text, settings, ("body", "text")):
        raise RequestValidationError([error])


def check_texts(texts: Sequence[str], settings: Settings) -> None:
    """Enforce MAX_BATCH_TEXTS and MAX_TEXT_CHARS, reporting every offending text at once."""
    errors = []
    if len(texts) > settings.MAX_BATCH_TEXTS:
        msg = f"batch has {len(texts)} texts; the limit is {settings.MAX_BATCH_TEXTS}"
        errors.append({"type": "too_long", "loc": ("body", "texts"), "msg": msg})
    for index, text in enumerate(texts):
        if error := _length_error(text, settings, ("body", "texts", index)):
            errors.append(error)
    if errors:
        raise RequestValidationError(errors)


@router.post("/predict", summary="Classify one text", responses=ERRORS)
async def predict(
    body: PredictRequest,
    request: Request,
    predictor: PredictorDep,
    batcher: BatcherDep,
    model: ModelRefDep,
    settings: SettingsDep,
) -> PredictionOut:
    """Label, class probabilities and per-token attention; `text[start:end]` of each token is its `text`.

    Concurrent requests are answered together in micro-batches.
    """
    check_text(body.text, settings)
    prediction, batch_size = await batcher.submit(predictor, body.text)
    add_access_log_fields(request, texts=1, batch_size=batch_size)
    if settings.LOG_REQUEST_TEXT:
        add_access_log_fields(request, request_texts=[body.text])
    return PredictionOut.from_prediction(prediction, model)


@router.post("/predict/batch", summary="Classify several texts in one call", responses=ERRORS)
async def predict_batch(
    body: BatchPredictRequest,
    request: Request,
    predictor: PredictorDep,
    batcher: BatcherDep,
    model: ModelRefDep,
    settings: SettingsDep,
) -> BatchPredictionOut:
    """One prediction per text, in request order."""
    check_texts(body.texts, settings)
    predictions = await batcher.run(predictor, body.texts)
    add_access_log_fields(request, texts=len(body.texts), batch_size=len(body.texts))
    if settings.LOG_REQUEST_TEXT:
        add_access_log_fields(request, request_texts=body.texts)
    return BatchPredictionOut(predictions=[PredictionOut.from_prediction(p, model) for p in predictions])

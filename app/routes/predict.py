"""Classify texts: one text through the micro-batcher, or a batch in one model call."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from app.deps import BatcherDep, ModelRefDep, PredictorDep, SettingsDep
from app.middleware import add_access_log_fields
from app.routes import BODY_ERRORS
from app.schemas import BatchPredictionOut, BatchPredictRequest, ErrorOut, PredictionOut, PredictRequest
from app.settings import Settings

ERRORS = {
    **BODY_ERRORS,
    422: {"model": ErrorOut, "description": "Invalid request: the detail lists each problem"},
    503: {
        "model": ErrorOut,
        "description": "The model is not loaded yet, the service is stopping, or more than MAX_PENDING_TEXTS texts "
        "are waiting (Retry-After says when to try again)",
    },
}


def _length_error(text: str, settings: Settings, loc: tuple[str | int, ...]) -> dict | None:
    if len(text) <= settings.MAX_TEXT_CHARS:
        return None
    return {
        "type": "string_too_long",
        "loc": loc,
        "msg": f"text has {len(text)} characters; the limit is {settings.MAX_TEXT_CHARS}",
        "ctx": {"length": len(text), "limit": settings.MAX_TEXT_CHARS},
    }


def limit_errors(body: object, settings: Settings) -> list[dict]:
    """The MAX_BATCH_TEXTS and MAX_TEXT_CHARS problems of a request body as sent: limits are settings, so
    they cannot live in the static schema. Values of the wrong type are left to the schema's errors."""
    if not isinstance(body, dict):
        return []
    errors = []
    if isinstance(text := body.get("text"), str) and (error := _length_error(text, settings, ("body", "text"))):
        errors.append(error)
    if isinstance(texts := body.get("texts"), list):
        if len(texts) > settings.MAX_BATCH_TEXTS:
            msg = f"batch has {len(texts)} texts; the limit is {settings.MAX_BATCH_TEXTS}"
            context = {"length": len(texts), "limit": settings.MAX_BATCH_TEXTS}
            errors.append({"type": "too_long", "loc": ("body", "texts"), "msg": msg, "ctx": context})
        for index, text in enumerate(texts):
            if isinstance(text, str) and (error := _length_error(text, settings, ("body", "texts", index))):
                errors.append(error)
    return errors


def check_limits(body: PredictRequest | BatchPredictRequest, settings: Settings) -> None:
    """Refuse a schema-valid body over the limits, reporting every offending text at once."""
    if errors := limit_errors(body.model_dump(), settings):
        raise RequestValidationError(errors)


class LimitsCheckedRoute(APIRoute):
    """A route whose body the schema refused also reports the body's limit problems, so that one answer
    lists every problem (without this, a batch with a wrong type and a text over the limit needed two
    rounds of fixing)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_limits_checked(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as error:
                limits = limit_errors(error.body, request.app.state.settings)
                if not limits:
                    raise
                # The schema's own bound on a batch is looser than MAX_BATCH_TEXTS: the setting's problem replaces it.
                # The limits come first, so that a long list of the elements' problems cannot push them out of
                # the problems listed.
                replaced = {(problem["loc"], problem["type"]) for problem in limits}
                schema = [p for p in error.errors() if (tuple(p["loc"]), p["type"]) not in replaced]
                raise RequestValidationError([*limits, *schema], body=error.body) from error

        return with_limits_checked


router = APIRouter(prefix="/v1", tags=["predict"], route_class=LimitsCheckedRoute)


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
    check_limits(body, settings)
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
    check_limits(body, settings)
    predictions = await batcher.run(predictor, body.texts)
    add_access_log_fields(request, texts=len(body.texts), batch_size=len(body.texts))
    if settings.LOG_REQUEST_TEXT:
        add_access_log_fields(request, request_texts=body.texts)
    return BatchPredictionOut(predictions=[PredictionOut.from_prediction(p, model) for p in predictions])

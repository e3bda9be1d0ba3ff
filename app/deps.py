"""Request dependencies: what the lifespan loaded, reached through `request.app.state` (tests may override).

They are `async def` on purpose: FastAPI runs plain `def` dependencies in its thread pool, and a thread hop
per dependency per request costs more than these lookups.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from app.batching import MicroBatcher
from app.schemas import ModelRef
from app.settings import Settings
from model.predictor import Predictor

NOT_READY = "the model is not loaded (the service is starting or stopping); retry shortly"


async def get_app_settings(request: Request) -> Settings:
    """The settings this app was created with (not necessarily the environment's)."""
    return request.app.state.settings


async def get_predictor(request: Request) -> Predictor:
    """The loaded predictor; 503 while there is none (before startup finished, during shutdown)."""
    predictor = getattr(request.app.state, "predictor", None)
    if predictor is None:
        raise HTTPException(status_code=503, detail=NOT_READY, headers={"Retry-After": "5"})
    return predictor


async def get_batcher(request: Request) -> MicroBatcher:
    """The running micro-batcher; 503 while there is none."""
    batcher = getattr(request.app.state, "batcher", None)
    if batcher is None or not batcher.running:
        raise HTTPException(status_code=503, detail=NOT_READY, headers={"Retry-After": "5"})
    return batcher


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
PredictorDep = Annotated[Predictor, Depends(get_predictor)]
BatcherDep = Annotated[MicroBatcher, Depends(get_batcher)]


async def get_model_ref(predictor: PredictorDep, settings: SettingsDep) -> ModelRef:
    """Name (MODEL_NAME, else the bundle directory name) and version of the model answering."""
    return ModelRef(name=settings.MODEL_NAME or predictor.bundle.path.name, version=predictor.version)


ModelRefDep = Annotated[ModelRef, Depends(get_model_ref)]

"""Request dependencies: what the lifespan loaded, reached through `request.app.state` (tests may override).

They are `async def` on purpose: FastAPI runs plain `def` dependencies in its thread pool, and a thread hop
per dependency per request costs more than these lookups.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

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
    """Name (MODEL_NAME, else MODEL_DIR's name: the bundle, or the ROOT of versions) and version answering."""
    return ModelRef(name=settings.MODEL_NAME or settings.MODEL_DIR.name, version=predictor.version)


ModelRefDep = Annotated[ModelRef, Depends(get_model_ref)]


bearer_credentials = HTTPBearer(auto_error=False, description="ADMIN_TOKEN")


async def require_admin(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_credentials)]
) -> None:
    """Admin routes: 404 when no ADMIN_TOKEN is configured (as if absent), 401 without the right bearer token.

    The comparison takes the same time wherever the tokens differ, so timing does not reveal the token.
    """
    if settings.ADMIN_TOKEN is None:
        raise HTTPException(status_code=404)
    if credentials is None:
        raise HTTPException(
            status_code=401,
            detail="admin route: send the header Authorization: Bearer <ADMIN_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    expected = settings.ADMIN_TOKEN.get_secret_value().encode()
    if not hmac.compare_digest(credentials.credentials.encode(), expected):
        raise HTTPException(
            status_code=401,
            detail="admin route: the Bearer token is wrong",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

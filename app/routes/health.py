"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.deps import ModelRefDep, get_batcher
from app.schemas import ErrorOut, HealthOut, ReadyOut

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> HealthOut:
    """Always 200 while the process can answer; does not look at the model."""
    return HealthOut()


@router.get(
    "/readyz",
    summary="Readiness: the model is loaded and warmed up",
    responses={503: {"model": ErrorOut}},
    dependencies=[Depends(get_batcher)],
)
async def readyz(model: ModelRefDep) -> ReadyOut:
    """200 once the model is loaded, warmed up and its worker runs; 503 when not (under uvicorn the port opens
    only after the model has loaded, so in practice while the server stops)."""
    return ReadyOut(model=model)

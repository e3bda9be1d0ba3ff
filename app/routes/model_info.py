"""What model is answering: labels, tokenizer, version, training data and metrics, and the last reload."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request

from app.deps import ModelRefDep, PredictorDep
from app.schemas import ErrorOut, ModelInfo, ReloadOut

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", summary="Describe the served model", responses={503: {"model": ErrorOut}})
async def model_info(request: Request, predictor: PredictorDep, model: ModelRefDep) -> ModelInfo:
    """Labels, tokenizer, version, training-data fingerprint and metrics of the model answering."""
    last = request.app.state.reloader.last
    return ModelInfo.from_predictor(predictor, model, ReloadOut(**asdict(last)) if last else None)

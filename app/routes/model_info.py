"""What model is answering: labels, tokenizer, version, training data and metrics."""

from __future__ import annotations

from fastapi import APIRouter

from app.deps import ModelRefDep, PredictorDep
from app.schemas import ErrorOut, ModelInfo

router = APIRouter(prefix="/v1", tags=["model"])


@router.get("/model", summary="Describe the served model", responses={503: {"model": ErrorOut}})
async def model_info(predictor: PredictorDep, model: ModelRefDep) -> ModelInfo:
    """Labels, tokenizer, version, training-data fingerprint and metrics of the model answering."""
    return ModelInfo.from_predictor(predictor, model)

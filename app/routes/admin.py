"""Admin routes (bearer ADMIN_TOKEN): hot reload and rollback of the model, published versions, metrics."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from app.deps import PredictorDep, SettingsDep, bearer_credentials, require_admin
from app.reload import ModelReloader, ReloadRefused
from app.routes import BODY_ERRORS
from app.schemas import ErrorOut, ReloadOut, ReloadRequest, VersionsOut
from model import registry
from model.bundle import BundleError

AUTH_ERRORS = {401: {"model": ErrorOut, "description": "Missing or wrong bearer token"}}


class AuthorisedFirstRoute(APIRoute):
    """An admin route that checks the bearer token before FastAPI reads the body: a caller without the token
    learns nothing about the body it sent (FastAPI answers a malformed body before running dependencies)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authorised_first(request: Request) -> Response:
            await require_admin(request.app.state.settings, await bearer_credentials(request))
            return await handler(request)

        return authorised_first


router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],  # also what /docs shows as the routes' security
    responses=AUTH_ERRORS,
    route_class=AuthorisedFirstRoute,
)


@router.post(
    "/reload",
    summary="Load a model version and swap it in",
    responses={
        **BODY_ERRORS,
        409: {
            "model": ErrorOut,
            "description": "The bundle failed a check, or another reload is still running (retry when it has "
            "finished); the old model keeps serving",
        },
        422: {"model": ErrorOut, "description": "Invalid or unpublished version"},
        503: {"model": ErrorOut, "description": "No model is serving yet"},
    },
)
async def reload(request: Request, body: ReloadRequest | None = None) -> ReloadOut:
    """Load `version` (default: ROOT/current) beside the serving model, verify it, warm it up, check its labels,
    then swap. Requests in flight finish on the old model. Rollback: reload an older version.
    """
    reloader: ModelReloader = request.app.state.reloader
    try:
        result = await reloader.reload(body.version if body else None)
    except ReloadRefused as refused:
        return JSONResponse({"detail": refused.reason}, status_code=refused.status)
    return ReloadOut(**asdict(result))


@router.get("/versions", summary="List the published model versions")
async def versions(predictor: PredictorDep, settings: SettingsDep) -> VersionsOut:
    """The version serving, the one ROOT/current names, and every published version (for rollback)."""
    root = settings.MODEL_DIR
    if not registry.is_registry(root):
        return VersionsOut(serving=predictor.version, current=None, versions=[])
    try:
        current: str | None = registry.current_version(root)
    except BundleError:  # a missing or broken link: still list what can be rolled back to
        current = None
    try:
        published = registry.list_versions(root)
    except OSError as error:  # the service's user cannot read versions/ (a reload would fail the same way)
        raise HTTPException(500, f"cannot list {root / registry.VERSIONS}: {error.strerror or error}") from None
    return VersionsOut(serving=predictor.version, current=current, versions=published)


async def metrics(request: Request) -> Response:
    """Prometheus text format (mounted at /metrics, public or behind the admin token per METRICS)."""
    return Response(request.app.state.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

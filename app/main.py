"""App factory: assembles settings, lifespan (model loading), middleware, exception handlers and routers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from app.batching import MicroBatcher
from app.deps import require_admin
from app.errors import add_exception_handlers
from app.metrics import Metrics, MetricsMiddleware
from app.middleware import (
    AccessLogMiddleware,
    BodyLimitsMiddleware,
    CancelOnDisconnectMiddleware,
    HeadAsGetMiddleware,
    JsonCorsMiddleware,
    SecurityHeadersMiddleware,
    UncompressedBodyMiddleware,
)
from app.reload import CurrentWatcher, ModelReloader, load_predictor
from app.routes import admin, docs, health, model_info, page, predict
from app.settings import Settings, get_settings
from model import registry
from model.bundle import BundleError
from model.native_log import native_output_logged
from model.tokenizer import TokenizerError

log = logging.getLogger("app")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model before the server accepts requests; stop the micro-batcher on shutdown.

    A bad bundle fails startup (the process exits) rather than serving 503 forever. What the first load
    writes to stderr natively (the JVM starting, TensorFlow's first trace) is logged; nothing is served yet.
    """
    settings: Settings = app.state.settings
    metrics: Metrics = app.state.metrics
    started = time.perf_counter()
    try:
        with native_output_logged():
            predictor = await run_in_threadpool(load_predictor, registry.resolve(settings.MODEL_DIR), settings)
    except BundleError as error:
        log.error("cannot load the model bundle: %s", error)
        raise
    except TokenizerError as error:  # the bundle may be fine: JVM_OPTIONS the JVM refused, a tagger not installed
        log.error("cannot start the model's tokenizer: %s", error)
        raise
    batcher = MicroBatcher.from_settings(settings, on_batch=metrics.batch_size.observe)
    batcher.start()
    metrics.watch_pending(batcher)
    watch = None
    try:
        app.state.predictor, app.state.batcher = predictor, batcher
        metrics.set_model(predictor.version)
        log.info(
            "model loaded",
            extra={
                "fields": {
                    "model_dir": str(settings.MODEL_DIR),
                    "version": predictor.version,
                    "labels": predictor.labels,
                    "load_s": round(time.perf_counter() - started, 2),
                }
            },
        )
        watch = start_model_watch(app.state.reloader, settings, predictor.version)
        yield
    finally:
        if watch is not None:
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
        await app.state.reloader.close()
        app.state.predictor = app.state.batcher = None
        await batcher.stop()
        log.info("model worker stopped")


def start_model_watch(reloader: ModelReloader, settings: Settings, serving: str) -> asyncio.Task[None] | None:
    """With MODEL_WATCH_SECONDS set and MODEL_DIR a ROOT of versions, reload whenever ROOT/current changes."""
    if settings.MODEL_WATCH_SECONDS <= 0:
        return None
    if not registry.is_registry(settings.MODEL_DIR):
        log.warning("MODEL_WATCH_SECONDS is set but MODEL_DIR is a single bundle, not a ROOT: nothing to watch")
        return None
    watcher = CurrentWatcher(reloader, settings.MODEL_DIR, settings.MODEL_WATCH_SECONDS, serving)
    return asyncio.create_task(watcher.run(), name="model-watch")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; no model is loaded until the lifespan starts (tests build apps with their own settings)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="attnclf",
        summary="Korean text classification with per-token attention weights",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served by app/routes/docs.py from local assets instead of a CDN
        redoc_url=None,
        # `/v1/predict/` is a JSON 404 like any unknown path, not a redirect with an empty body whose Location
        # is built from the client's Host header.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.predictor = app.state.batcher = None
    app.state.metrics = Metrics()
    app.state.reloader = ModelReloader(app.state, settings, app.state.metrics)

    # Added innermost first: the access log and metrics see every answer, including CORS preflights, 413s and 408s.
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(UncompressedBodyMiddleware)  # inside the limits, so the body it refuses has been read
    app.add_middleware(BodyLimitsMiddleware, max_bytes=settings.MAX_BODY_BYTES, timeout_s=settings.BODY_TIMEOUT_S)
    app.add_middleware(CancelOnDisconnectMiddleware)
    if settings.CORS_ORIGINS:
        app.add_middleware(
            JsonCorsMiddleware,
            allow_origins=settings.CORS_ORIGINS,
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
            # a browser shows a page's script only the safelisted response headers unless these are named
            expose_headers=["Retry-After", "Accept-Encoding"],
        )
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.METRICS != "off":
        app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(AccessLogMiddleware)
    add_exception_handlers(app)

    app.include_router(predict.router)
    app.include_router(model_info.router)
    app.include_router(health.router)
    app.include_router(page.router)
    app.include_router(docs.router)
    if settings.ADMIN_TOKEN is not None:  # without a token the admin routes do not exist (404, not in /docs)
        app.include_router(admin.router)
    if settings.METRICS != "off":
        guard = [Depends(require_admin)] if settings.METRICS == "admin" else []
        app.add_api_route("/metrics", admin.metrics, methods=["GET"], dependencies=guard, include_in_schema=False)
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")
    app.mount(docs.ASSETS_URL, StaticFiles(directory=docs.ASSETS_DIR), name="docs-assets")
    return app


app = create_app()

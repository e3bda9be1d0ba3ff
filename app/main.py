"""App factory: assembles settings, lifespan (model loading), middleware, exception handlers and routers."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import jpype.config
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from app.batching import MicroBatcher
from app.errors import add_exception_handlers
from app.middleware import AccessLogMiddleware, BodySizeLimitMiddleware
from app.routes import health, model_info, page, predict
from app.settings import Settings, get_settings
from model.bundle import BundleError
from model.predictor import Predictor

log = logging.getLogger("app")

# Texts of several lengths, so the tokenizer's JVM and the network's length buckets are warm before readiness.
WARM_UP_TEXTS = [
    "최고",
    "영화 정말 재밌어요 ㅋㅋ",
    "배우들 연기는 좋았지만 스토리가 너무 지루하고 길어서 중간에 졸았다. 다시 보고 싶지는 않네요. " * 3,
]


def load_predictor(settings: Settings) -> Predictor:
    """Load the bundle and run a warm-up prediction (blocking: call it off the event loop).

    The tokenizer starts konlpy's JVM in this worker thread. At exit JPype would wait forever for that
    (finished) thread to leave the JVM, so the process could never stop; skip destroying the JVM instead.
    """
    jpype.config.destroy_jvm = False
    predictor = Predictor.load(settings.MODEL_DIR, tokenizer_workers=settings.TOKENIZER_WORKERS)
    predictor.predict(WARM_UP_TEXTS)
    return predictor


def reclaim_signals() -> None:
    """Give SIGINT/SIGTERM back to the server (uvicorn's graceful shutdown).

    Starting the JVM installs Java's own handlers for them, which would end the process at once, dropping
    requests in flight. Python still knows its handlers, so installing them again is enough. Only the main
    thread may do this; elsewhere (an app run by a test client) there is no server to give them to.
    """
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.getsignal(sig))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Load the model before the server accepts requests; stop the micro-batcher on shutdown.

    A bad bundle fails startup (the process exits) rather than serving 503 forever.
    """
    settings: Settings = app.state.settings
    started = time.perf_counter()
    try:
        predictor = await run_in_threadpool(load_predictor, settings)
    except BundleError as error:
        log.error("cannot load the model bundle: %s", error)
        raise
    reclaim_signals()
    batcher = MicroBatcher(settings.MICROBATCH_MAX_SIZE, settings.MICROBATCH_MAX_WAIT_MS / 1000)
    batcher.start()
    app.state.predictor, app.state.batcher = predictor, batcher
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
    try:
        yield
    finally:
        app.state.predictor = app.state.batcher = None
        await batcher.stop()
        log.info("model worker stopped")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; nothing is loaded until the lifespan starts (so importing this module is cheap)."""
    settings = settings or get_settings()
    app = FastAPI(
        title="attnclf",
        summary="Korean text classification with per-token attention weights",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.predictor = app.state.batcher = None

    # Added innermost first: the access log sees every answer, including CORS preflights and 413s.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_BODY_BYTES)
    if settings.CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.CORS_ORIGINS, allow_methods=["GET", "POST"], allow_headers=["*"]
        )
    app.add_middleware(AccessLogMiddleware)
    add_exception_handlers(app)

    app.include_router(predict.router)
    app.include_router(model_info.router)
    app.include_router(health.router)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")
    return app


app = create_app()

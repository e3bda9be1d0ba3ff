"""Prometheus metrics: request counts and latency per route template, micro-batch sizes, model version, reloads.

Each app owns its registry (not prometheus_client's global one), so several apps in one process (tests) do not
collide. Routes are labelled by template (`/v1/predict`), never by raw path, so label cardinality stays bounded.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Receive, Scope, Send

from app.batching import MicroBatcher
from app.middleware import StatusRecorder

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "HTTP requests answered", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "microbatch_size",
            "Texts per model call of the micro-batcher",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.model = Gauge("model_info", "The model version serving (value 1)", ["version"], registry=self.registry)
        self.reloads = Counter("model_reloads", "Hot reload attempts by result", ["result"], registry=self.registry)
        for result in ("ok", "failed"):  # both series exist from the start, so a rate or an alert works before a reload
            self.reloads.labels(result)
        self.pending = Gauge(
            "texts_pending",
            "Texts waiting for or in the model; over MAX_PENDING_TEXTS a prediction is refused (503)",
            registry=self.registry,
        )
        self.pending_limit = Gauge("texts_pending_limit", "MAX_PENDING_TEXTS", registry=self.registry)

    def set_model(self, version: str) -> None:
        self.model.clear()
        self.model.labels(version).set(1)

    def watch_pending(self, batcher: MicroBatcher) -> None:
        """Report the batcher's queue depth (read at each scrape) and its limit: saturation at a glance."""
        self.pending.set_function(lambda: batcher.pending)
        if batcher.max_pending is not None:
            self.pending_limit.set(batcher.max_pending)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Count every answer (413s and 404s included) and time it, labelled by route template (never a raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app = app
        self.metrics = metrics
        self._plain_paths: frozenset[str] | None = None

    def _route(self, scope: Scope) -> str:
        """The template of the route that matched; for a request answered before routing (a 413 or 408 from
        the body limits), its path if that is an API route without parameters; else `unmatched`."""
        if (route := getattr(scope.get("route"), "path", None)) is not None:
            return route
        if self._plain_paths is None:
            self._plain_paths = frozenset(path for path in scope["app"].openapi()["paths"] if "{" not in path)
        return scope["path"] if scope["path"] in self._plain_paths else "unmatched"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        recorder = StatusRecorder(scope, send)
        try:
            await self.app(scope, receive, recorder)
        finally:
            route = self._route(scope)
            self.metrics.requests.labels(scope["method"], route, str(recorder.status)).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)

"""Loading a model, and hot-swapping it: load beside the serving model, check, then switch in one assignment.

Each request takes the predictor once (its dependency) and hands it to the micro-batcher with its text, so a
request in flight finishes on the model it started with; only requests arriving after the swap see the new one.
A candidate that fails any check is dropped and the running model keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from app.metrics import Metrics
from app.settings import Settings
from model import registry
from model.bundle import BundleError
from model.predictor import Predictor, collect_dropped_models

log = logging.getLogger("app.reload")

# Texts of several lengths, so the tokenizer's JVM and the network's length buckets are warm before serving.
WARM_UP_TEXTS = [
    "최고",
    "영화 정말 재밌어요 ㅋㅋ",
    "배우들 연기는 좋았지만 스토리가 너무 지루하고 길어서 중간에 졸았다. 다시 보고 싶지는 않네요. " * 3,
]


def check_answers(predictor: Predictor) -> None:
    """Predict the warm-up texts; BundleError if the answers are not probability distributions.

    The manifest proves the files are the ones trained, not that the weights are usable (NaN weights load fine).
    """
    for prediction in predictor.predict(WARM_UP_TEXTS):
        values = list(prediction.probabilities.values())
        if not all(math.isfinite(v) for v in values) or abs(sum(values) - 1) > 1e-3:
            raise BundleError(predictor.bundle.path, f"warm-up prediction is not a probability distribution: {values}")


REPLACED_MODEL_GRACE_S = 2.0  # requests in flight on a replaced model finish well within this


def load_predictor(path: Path, settings: Settings) -> Predictor:
    """Load and verify the bundle at `path`, then warm it up (blocking: call it off the event loop)."""
    predictor = Predictor.load(path, tokenizer_workers=settings.TOKENIZER_WORKERS)
    registry.check_published_as(path, predictor.version)
    check_answers(predictor)
    return predictor


class ReloadRefused(Exception):
    """A reload that did not happen: `status` for the HTTP answer, `reason` for people.

    `transient`: nothing was wrong with the bundle (another reload was running, or no model yet); a retry may work.
    """

    def __init__(self, status: int, reason: str, transient: bool = False):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class ReloadResult:
    at: datetime
    ok: bool
    requested: str | None  # the version asked for; None: whatever `current` names
    version: str | None  # the version serving after this attempt
    reason: str | None = None


class ModelReloader:
    """Runs one reload at a time against `state` (the app's state) and remembers the last result."""

    def __init__(
        self, state: Any, settings: Settings, metrics: Metrics, reclaim_after_s: float = REPLACED_MODEL_GRACE_S
    ):
        self.state = state
        self.settings = settings
        self.metrics = metrics
        self.reclaim_after_s = reclaim_after_s
        self.last: ReloadResult | None = None
        self._lock = asyncio.Lock()
        self._reclaim: asyncio.Task[None] | None = None

    def bundle_path(self, version: str | None) -> Path:
        """Where the requested version lives; RegistryError for a version that is not published here."""
        root = self.settings.MODEL_DIR
        if version is None:
            return registry.resolve(root)
        if not registry.is_registry(root):
            raise registry.RegistryError(f"MODEL_DIR {root} is a single bundle, not a ROOT of published versions")
        return registry.version_dir(root, version)

    async def reload(self, version: str | None = None) -> ReloadResult:
        """Swap in `version` (default: ROOT/current) if it loads, warms up and has the running model's labels."""
        if self._lock.locked():
            raise ReloadRefused(409, "another reload is in progress; retry when it has finished", transient=True)
        async with self._lock:
            running: Predictor | None = self.state.predictor
            if running is None:
                reason = "no model is serving yet (the service is starting or stopping)"
                raise ReloadRefused(503, reason, transient=True)
            try:
                path = self.bundle_path(version)
            except (registry.RegistryError, BundleError) as error:
                raise self._refuse(422, version, running, str(error)) from None
            try:
                try:
                    candidate = await run_in_threadpool(load_predictor, path, self.settings)
                except Exception as error:  # a bad bundle raises BundleError, but anything must leave the old model
                    reason = str(error) if isinstance(error, BundleError) else f"{type(error).__name__}: {error}"
                    raise self._refuse(409, version, running, reason) from None
                if set(candidate.labels) != set(running.labels):
                    reason = f"{path}: labels {candidate.labels} differ from the serving model's {running.labels}"
                    raise self._refuse(409, version, running, reason)
                self.state.predictor = candidate
                self.metrics.set_model(candidate.version)
                return self._record(ReloadResult(_now(), True, version, candidate.version))
            finally:  # the replaced model, or a refused candidate, is no longer needed
                self._reclaim_later()

    def _reclaim_later(self) -> None:
        if self._reclaim is not None:
            self._reclaim.cancel()
        self._reclaim = asyncio.create_task(self._reclaim_after_grace(), name="reclaim-replaced-model")

    async def _reclaim_after_grace(self) -> None:
        await asyncio.sleep(self.reclaim_after_s)
        await run_in_threadpool(collect_dropped_models)

    async def close(self) -> None:
        """Cancel a pending reclaim (the service is stopping: the process frees everything anyway)."""
        if self._reclaim is not None:
            self._reclaim.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reclaim

    def _refuse(self, status: int, version: str | None, running: Predictor, reason: str) -> ReloadRefused:
        self._record(ReloadResult(_now(), False, version, running.version, reason))
        return ReloadRefused(status, f"reload refused, still serving {running.version}: {reason}")

    def _record(self, result: ReloadResult) -> ReloadResult:
        self.last = result
        self.metrics.reloads.labels("ok" if result.ok else "failed").inc()
        fields = {"ok": result.ok, "requested": result.requested, "version": result.version, "reason": result.reason}
        log.log(logging.INFO if result.ok else logging.WARNING, "model reload", extra={"fields": fields})
        return result


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class CurrentWatcher:
    """Reloads when `ROOT/current` comes to name another version (after `training.train --publish ROOT`).

    It acts on a change of the link, not on any difference from the serving version, so a rollback through
    the admin route stays until `current` moves (a publish, or `python -m model.registry ROOT --use`).
    A version that fails to load is logged (by the reloader) and not tried again until `current` changes;
    a reload refused for a passing reason is retried. An unreadable link is logged once per problem.
    """

    def __init__(self, reloader: ModelReloader, root: Path, interval_s: float, serving: str | None = None):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.reloader = reloader
        self.root = root
        self.interval_s = interval_s
        # The version loaded at startup: one published while it loaded is a change the watch must act on.
        self.serving = serving
        self._problem: str | None = None  # the unreadable link's error last logged: logged once, not every poll

    def _current(self) -> str | None:
        try:
            current = registry.current_version(self.root)
        except (registry.RegistryError, BundleError) as error:
            if str(error) != self._problem:
                log.warning("model watch: %s; still serving the model loaded before", error)
                self._problem = str(error)
            return None
        if self._problem is not None:
            log.info("model watch: %s/current is readable again", self.root)
            self._problem = None
        return current

    async def run(self) -> None:
        seen = self.serving or self._current()
        while True:
            await asyncio.sleep(self.interval_s)
            current = self._current()
            if current is None or current == seen:
                continue
            log.info("model watch: current changed", extra={"fields": {"from": seen, "to": current}})
            try:
                await self.reloader.reload(current)
            except ReloadRefused as refused:
                if refused.transient:
                    continue
            except Exception:  # the watch must outlive any one failed attempt
                log.exception("model watch: reloading %s failed", current)
            seen = current

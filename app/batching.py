"""Micro-batching: concurrent single-text requests share one model call.

One `predict` call on 32 texts costs far less than 32 calls on one text each (one network dispatch
and padded matrix instead of 32, fewer JVM round trips), so a request waits a few milliseconds for
others to join it. The model always runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import anyio

from app.settings import Settings
from model.predictor import Prediction

log = logging.getLogger(__name__)


class SupportsPredict(Protocol):
    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...


class BatcherClosed(RuntimeError):
    """The batcher is not running (the service is starting or shutting down)."""


class Overloaded(RuntimeError):
    """Taking these texts would put more than `max_pending` texts in the batcher's hands at once."""


class Batched(NamedTuple):
    prediction: Prediction
    batch_size: int  # how many texts ran in the same model call


@dataclass
class _Job:
    predictor: SupportsPredict
    text: str
    future: asyncio.Future[Batched] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class MicroBatcher:
    """Gathers `submit`ted texts into batches of up to `max_size`, waiting at most `max_wait_s` for a batch to fill.

    At most `threads` model calls run at once (micro-batches and direct `run` calls together; more than
    the core count only adds contention). A new micro-batch is gathered only when fewer than `threads`
    micro-batches are running, so requests arriving while the model is busy join the next batch instead of
    queueing one by one. Direct `run` calls (whole batches) hold at most `threads - 1` of the threads (with
    one thread, that one), so single requests wait behind at most the batch running, not every batch queued:
    a few large batches could otherwise keep every thread busy for tens of seconds. (The tokenizer's helper
    threads are shared, but each call tokenizes on its own thread too, so it never waits for them.)

    At most `max_pending` texts are taken at once (queued or running, both kinds of call together); beyond
    that `submit` and `run` raise `Overloaded` at once, so that under overload a client hears "come back
    later" in milliseconds instead of waiting in a line that only grows. Each caller awaits its own future;
    an exception raised by `predict` reaches every caller of that batch and the worker goes on with the next
    one. `on_batch` hears the size of every micro-batch run (metrics).
    """

    def __init__(
        self,
        max_size: int,
        max_wait_s: float,
        threads: int = 2,
        on_batch: Callable[[int], None] | None = None,
        max_pending: int | None = None,
    ):
        if max_size < 1 or max_wait_s < 0 or threads < 1 or (max_pending is not None and max_pending < 1):
            raise ValueError(f"bad MicroBatcher({max_size=}, {max_wait_s=}, {threads=}, {max_pending=})")
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self.threads = threads
        self.on_batch = on_batch
        self.max_pending = max_pending
        self.pending = 0  # texts taken by submit and run and not yet answered
        self._queue: asyncio.Queue[_Job] | None = None
        self._slots: asyncio.Semaphore | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._whole_batches: anyio.CapacityLimiter | None = None
        self._worker: asyncio.Task[None] | None = None
        self._batches: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, on_batch: Callable[[int], None] | None = None) -> MicroBatcher:
        """The batcher the service runs: MICROBATCH_MAX_SIZE texts, waiting at most MICROBATCH_MAX_WAIT_MS, holding
        at most MAX_PENDING_TEXTS."""
        return cls(
            settings.MICROBATCH_MAX_SIZE,
            settings.MICROBATCH_MAX_WAIT_MS / 1000,
            on_batch=on_batch,
            max_pending=settings.MAX_PENDING_TEXTS,
        )

    @property
    def running(self) -> bool:
        return self._worker is not None and not self._worker.done()

    def start(self) -> None:
        """Start the worker task on the running event loop."""
        if self._worker is not None:
            raise RuntimeError("MicroBatcher.start() called twice")
        self._queue = asyncio.Queue()
        self._slots = asyncio.Semaphore(self.threads)
        self._limiter = anyio.CapacityLimiter(self.threads)
        self._whole_batches = anyio.CapacityLimiter(max(1, self.threads - 1))
        self._worker = asyncio.create_task(self._work(), name="micro-batcher")
        self._worker.add_done_callback(_report_crash)

    async def stop(self) -> None:
        """Stop gathering, let the batches already running answer, and fail the callers still queued."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        worker.cancel()
        with suppress(asyncio.CancelledError):
            await worker
        await asyncio.gather(*self._batches, return_exceptions=True)
        assert self._queue is not None
        while not self._queue.empty():
            _fail([self._queue.get_nowait()], BatcherClosed("the service is shutting down"))

    async def submit(self, predictor: SupportsPredict, text: str) -> Batched:
        """Predict one text as part of the next micro-batch."""
        with self._taking(1):
            assert self._queue is not None
            job = _Job(predictor, text)
            self._queue.put_nowait(job)
            return await job.future

    async def run(self, predictor: SupportsPredict, texts: Sequence[str]) -> list[Prediction]:
        """Predict a whole batch in one call, off the event loop (no waiting for others)."""
        with self._taking(len(texts)):
            assert self._whole_batches is not None and self._limiter is not None
            async with self._whole_batches, self._limiter:
                return await self._predict(predictor, list(texts))

    @contextmanager
    def _taking(self, texts: int) -> Iterator[None]:
        """Count `texts` as pending while the caller waits for them, or refuse them (closed, or over max_pending)."""
        if not self.running:
            raise BatcherClosed("the model worker is not running")
        if self.max_pending is not None and self.pending + texts > self.max_pending:
            raise Overloaded(
                f"{self.pending} texts are waiting for the model and {texts} more would pass the limit of "
                f"{self.max_pending} (MAX_PENDING_TEXTS)"
            )
        self.pending += texts
        try:
            yield
        finally:
            self.pending -= texts

    async def _predict(self, predictor: SupportsPredict, texts: list[str]) -> list[Prediction]:
        """Run the model in a worker thread; the caller holds one of the `threads` model slots (`_limiter`)."""
        predictions = await anyio.to_thread.run_sync(predictor.predict, texts)
        if len(predictions) != len(texts):
            raise RuntimeError(f"predict returned {len(predictions)} predictions for {len(texts)} texts")
        return predictions

    async def _work(self) -> None:
        assert self._queue is not None and self._slots is not None
        while True:
            await self._slots.acquire()
            jobs: list[_Job] = []
            try:
                await self._gather(self._queue, jobs)
            except asyncio.CancelledError:
                self._slots.release()
                _fail(jobs, BatcherClosed("the service is shutting down"))
                raise
            batch = asyncio.create_task(self._run_batch(jobs))
            self._batches.add(batch)
            batch.add_done_callback(self._batches.discard)

    async def _gather(self, queue: asyncio.Queue[_Job], jobs: list[_Job]) -> None:
        """Wait for one job, then take more until the batch is full or `max_wait_s` has passed.

        With no batch running the model is idle, so a lone request goes at once with whatever is queued
        (waiting would only add latency); under load, requests gather while the model is busy.
        Jobs go straight into `jobs` so that a cancelled worker can still answer their callers.
        """
        jobs.append(await queue.get())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.max_wait_s if self._batches else 0.0)
        while len(jobs) < self.max_size:
            if not queue.empty():
                jobs.append(queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    jobs.append(await queue.get())
            except TimeoutError:
                break

    async def _run_batch(self, jobs: list[_Job]) -> None:
        """Run the jobs whose callers still wait, one model call per predictor (there is normally one).

        The texts are chosen once a model thread is free, so a caller that went away while the batch gathered or
        waited for the thread (a client that timed out) costs no model time."""
        assert self._slots is not None and self._limiter is not None
        try:
            async with self._limiter:
                groups: dict[int, list[_Job]] = {}
                for job in jobs:
                    if not job.future.done():
                        groups.setdefault(id(job.predictor), []).append(job)
                for group in groups.values():
                    if self.on_batch is not None:
                        self.on_batch(len(group))
                    try:
                        predictions = await self._predict(group[0].predictor, [job.text for job in group])
                    except Exception as error:
                        log.warning("a micro-batch of %d texts failed: %s: %s", len(group), type(error).__name__, error)
                        _fail(group, error)
                        continue
                    for job, prediction in zip(group, predictions, strict=True):
                        if not job.future.done():
                            job.future.set_result(Batched(prediction, len(group)))
        finally:  # whatever stopped this batch (a failing on_batch, cancellation), no caller waits forever
            if not all(job.future.done() for job in jobs):
                _fail(jobs, BatcherClosed("the micro-batch stopped before answering"))
            self._slots.release()


def _fail(jobs: list[_Job], error: BaseException) -> None:
    for job in jobs:
        if not job.future.done():
            job.future.set_exception(error)


def _report_crash(worker: asyncio.Task[None]) -> None:
    if not worker.cancelled() and worker.exception() is not None:
        log.error("the micro-batch worker stopped; predictions will answer 503", exc_info=worker.exception())

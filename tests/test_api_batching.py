"""The MicroBatcher: concurrent submits share model calls, errors reach callers, shutdown is clean."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from app.batching import BatcherClosed, MicroBatcher, Overloaded
from app.settings import Settings
from model.predictor import Prediction, Predictor


def answer(text: str) -> Prediction:
    return Prediction(label=text, probabilities={}, tokens=[], truncated=False)


class Recorder:
    """A stand-in model whose calls cost `call_s` each (the fixed cost batching saves) and are recorded."""

    def __init__(self, call_s: float = 0.0, fail_on: str | None = None, gate: threading.Event | None = None):
        self.call_s, self.fail_on, self.gate = call_s, fail_on, gate
        self.calls: list[list[str]] = []

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        self.calls.append(list(texts))
        if self.gate is not None:
            self.gate.wait(10)
        time.sleep(self.call_s)
        if self.fail_on in texts:
            raise RuntimeError(f"cannot predict {self.fail_on!r}")
        return [answer(text) for text in texts]


async def started(max_size: int = 32, max_wait_s: float = 0.005) -> MicroBatcher:
    batcher = MicroBatcher(max_size, max_wait_s)
    batcher.start()
    return batcher


def test_concurrent_submits_share_model_calls_and_keep_their_own_answers() -> None:
    async def scenario() -> tuple[list, Recorder]:
        model, batcher = Recorder(), await started(max_size=32)
        results = await asyncio.gather(*(batcher.submit(model, f"text {i}") for i in range(50)))
        await batcher.stop()
        return results, model

    results, model = asyncio.run(scenario())
    assert [r.prediction.label for r in results] == [f"text {i}" for i in range(50)]
    assert [len(call) for call in model.calls] == [32, 18]
    assert [r.batch_size for r in results] == [32] * 32 + [18] * 18


def test_a_lone_request_on_an_idle_model_does_not_wait() -> None:
    async def scenario() -> tuple[float, int]:
        model, batcher = Recorder(), await started(max_wait_s=10)  # waiting at all would be unmistakable
        began = time.perf_counter()
        result = await batcher.submit(model, "alone")
        elapsed = time.perf_counter() - began
        await batcher.stop()
        return elapsed, result.batch_size

    elapsed, batch_size = asyncio.run(scenario())
    assert batch_size == 1
    assert elapsed < 5, f"a lone request waited {elapsed:.1f} s for company"


def test_requests_arriving_while_the_model_is_busy_wait_for_each_other() -> None:
    async def scenario() -> Recorder:
        model, batcher = Recorder(call_s=0.2), await started(max_wait_s=0.1)
        first = asyncio.create_task(batcher.submit(model, "first"))
        await asyncio.sleep(0.02)  # "first" is running now
        late = []
        for i in range(4):  # arrive one by one, 10 ms apart, while the model is busy
            late.append(asyncio.create_task(batcher.submit(model, f"late {i}")))
            await asyncio.sleep(0.01)
        await asyncio.gather(first, *late)
        await batcher.stop()
        return model

    model = asyncio.run(scenario())
    assert model.calls == [["first"], ["late 0", "late 1", "late 2", "late 3"]]


def test_a_failing_batch_reaches_every_caller_and_the_worker_goes_on() -> None:
    async def scenario() -> tuple[list, str, bool]:
        model, batcher = Recorder(fail_on="bad"), await started(max_wait_s=0.02)
        outcomes = await asyncio.gather(*(batcher.submit(model, t) for t in ("a", "bad", "c")), return_exceptions=True)
        after = await batcher.submit(model, "fine")
        running = batcher.running
        await batcher.stop()
        return outcomes, after.prediction.label, running

    outcomes, after, running = asyncio.run(scenario())
    assert all(isinstance(o, RuntimeError) and "cannot predict 'bad'" in str(o) for o in outcomes)
    assert after == "fine" and running


def test_callers_are_answered_even_when_the_batch_hook_fails() -> None:
    def broken_hook(size: int) -> None:
        raise RuntimeError("metrics backend down")

    async def scenario() -> list:
        batcher = MicroBatcher(32, 0.005, on_batch=broken_hook)
        batcher.start()
        async with asyncio.timeout(10):  # before the fix these callers waited forever
            outcomes = await asyncio.gather(*(batcher.submit(Recorder(), t) for t in "ab"), return_exceptions=True)
        await batcher.stop()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert all(isinstance(o, BatcherClosed) and "stopped before answering" in str(o) for o in outcomes)


def test_a_caller_that_went_away_is_not_predicted() -> None:
    async def scenario() -> Recorder:
        model, batcher = Recorder(call_s=0.1), await started(max_wait_s=0.05)
        busy = asyncio.create_task(batcher.submit(model, "busy"))
        await asyncio.sleep(0.01)  # the model is busy, so the next batch gathers for up to 50 ms
        gone = asyncio.create_task(batcher.submit(model, "gone"))
        kept = asyncio.create_task(batcher.submit(model, "kept"))
        await asyncio.sleep(0.01)
        gone.cancel()
        await asyncio.gather(busy, kept)
        await batcher.stop()
        return model

    assert asyncio.run(scenario()).calls == [["busy"], ["kept"]]


def test_a_caller_that_leaves_while_its_batch_waits_for_a_model_thread_is_not_predicted() -> None:
    """A whole batch and a micro-batch hold both threads; the next micro-batch is gathered, and one of its callers
    leaves before a thread frees up (a client that timed out behind a busy model)."""
    gate = threading.Event()

    async def scenario() -> Recorder:
        model, batcher = Recorder(gate=gate), await started()
        held = [
            asyncio.create_task(batcher.run(model, ["batch", "x"])),
            asyncio.create_task(batcher.submit(model, "busy")),
        ]
        await asyncio.sleep(0.05)  # both threads are in the model
        gone = asyncio.create_task(batcher.submit(model, "gone"))
        kept = asyncio.create_task(batcher.submit(model, "kept"))
        await asyncio.sleep(0.05)  # gathered into the next micro-batch, which waits for a thread
        gone.cancel()
        gate.set()
        await asyncio.gather(*held, kept)
        await batcher.stop()
        return model

    calls = asyncio.run(scenario()).calls
    assert sorted(calls) == [["batch", "x"], ["busy"], ["kept"]]


def test_texts_beyond_max_pending_are_refused_at_once_and_taken_again_once_answered() -> None:
    gate = threading.Event()

    async def scenario() -> tuple[list[str], int, list[str]]:
        model, batcher = Recorder(gate=gate), MicroBatcher(32, 0.005, max_pending=3)
        batcher.start()
        taken = [asyncio.create_task(batcher.run(model, ["a", "b"])), asyncio.create_task(batcher.submit(model, "c"))]
        await asyncio.sleep(0.05)
        refusals = []
        for attempt in (batcher.submit(model, "d"), batcher.run(model, ["e", "f"])):
            with pytest.raises(Overloaded) as refused:
                await asyncio.wait_for(attempt, timeout=1)  # refused at once, not after the model frees up
            refusals.append(str(refused.value))
        gate.set()
        await asyncio.gather(*taken)
        after = [batcher.pending]
        after.append((await batcher.submit(model, "g")).prediction.label)
        await batcher.stop()
        return refusals, after[0], after[1:]

    refusals, pending_after, answered = asyncio.run(scenario())
    assert refusals == [
        "3 texts are waiting for the model and 1 more would pass the limit of 3 (MAX_PENDING_TEXTS)",
        "3 texts are waiting for the model and 2 more would pass the limit of 3 (MAX_PENDING_TEXTS)",
    ]
    assert pending_after == 0 and answered == ["g"]


def test_requests_arriving_while_the_model_is_busy_join_one_batch() -> None:
    async def scenario() -> Recorder:
        model = Recorder(call_s=0.05)
        batcher = MicroBatcher(32, 0.0, threads=1)
        batcher.start()
        first = asyncio.create_task(batcher.submit(model, "first"))
        await asyncio.sleep(0.01)  # "first" is running; the next ten wait for the thread
        await asyncio.gather(first, *(batcher.submit(model, f"t{i}") for i in range(10)))
        await batcher.stop()
        return model

    assert asyncio.run(scenario()).calls == [["first"], [f"t{i}" for i in range(10)]]


def test_stop_lets_running_batches_answer_and_refuses_the_rest() -> None:
    async def scenario() -> tuple[list, list]:
        gate = threading.Event()
        model = Recorder(gate=gate)
        batcher = MicroBatcher(2, 0.0, threads=1)
        batcher.start()
        waiting = [asyncio.create_task(batcher.submit(model, f"t{i}")) for i in range(5)]
        await asyncio.sleep(0.05)  # t0 and t1 are running in a thread, the rest queue
        threading.Timer(0.1, gate.set).start()
        await batcher.stop()
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        late = await asyncio.gather(batcher.submit(model, "late"), batcher.run(model, ["late"]), return_exceptions=True)
        return outcomes, late

    outcomes, late = asyncio.run(scenario())
    assert [o.prediction.label for o in outcomes[:2]] == ["t0", "t1"]
    assert all(isinstance(o, BatcherClosed) for o in outcomes[2:] + late)


def test_run_answers_a_whole_batch_in_one_call() -> None:
    async def scenario() -> tuple[list[Prediction], Recorder]:
        model, batcher = Recorder(), await started()
        predictions = await batcher.run(model, ["x", "y", "z"])
        await batcher.stop()
        return predictions, model

    predictions, model = asyncio.run(scenario())
    assert [p.label for p in predictions] == ["x", "y", "z"] and model.calls == [["x", "y", "z"]]


def test_single_requests_do_not_queue_behind_whole_batches() -> None:
    """Whole batches that hold the model for long leave a thread to the micro-batches of single requests."""
    release = threading.Event()
    holding: list[str] = []

    class SlowBatches(Recorder):
        def predict(self, texts: Sequence[str]) -> list[Prediction]:
            if len(texts) > 1:
                holding.append(texts[0])
                release.wait(10)
            return super().predict(texts)

    async def scenario() -> tuple[str, list[str]]:
        model, batcher = SlowBatches(), await started()
        batches = [asyncio.create_task(batcher.run(model, [f"batch {i}", "x"])) for i in range(3)]
        await asyncio.sleep(0.05)  # the batches have started or are waiting for a thread
        try:
            single = await asyncio.wait_for(batcher.submit(model, "single"), timeout=5)
            held = list(holding)  # the batches in the model while the single request was answered
        finally:
            release.set()
        await asyncio.gather(*batches)
        await batcher.stop()
        return single.prediction.label, held

    label, held = asyncio.run(scenario())
    assert label == "single"
    assert held == ["batch 0"]  # one batch held a thread; the other two waited for it, not the single request


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        MicroBatcher(0, 0.005)
    with pytest.raises(ValueError):
        MicroBatcher(8, -1)
    with pytest.raises(ValueError, match="max_pending=0"):
        MicroBatcher(8, 0.005, max_pending=0)


def test_micro_batches_of_the_real_model_answer_like_single_calls(tiny_bundle: Path) -> None:
    predictor = Predictor.load(tiny_bundle)
    texts = [f"{i}번째 영화 정말 재밌어요" if i % 2 else f"스토리가 {i}번이나 지루했다 ㅡㅡ" for i in range(40)]
    calls: list[int] = []

    class Spy:
        def predict(self, batch: Sequence[str]) -> list[Prediction]:
            calls.append(len(batch))
            return predictor.predict(batch)

    async def scenario() -> list:
        spy, batcher = Spy(), await started(max_size=32)
        results = await asyncio.gather(*(batcher.submit(spy, t) for t in texts))
        await batcher.stop()
        return results

    results = asyncio.run(scenario())
    assert sorted(calls) == [8, 32]
    for text, result in zip(texts, results, strict=True):
        alone, batched = predictor.predict([text])[0], result.prediction
        assert batched.label == alone.label
        assert [(t.text, t.start, t.end, t.oov) for t in batched.tokens] == [
            (t.text, t.start, t.end, t.oov) for t in alone.tokens
        ]
        assert np.allclose([t.attention for t in batched.tokens], [t.attention for t in alone.tokens], atol=1e-5)
        assert np.allclose(list(batched.probabilities.values()), list(alone.probabilities.values()), atol=1e-5)


def test_the_service_batcher_takes_its_limits_from_settings() -> None:
    async def scenario() -> tuple[MicroBatcher, Recorder]:
        model = Recorder()
        batcher = MicroBatcher.from_settings(Settings(MICROBATCH_MAX_SIZE=3, MICROBATCH_MAX_WAIT_MS=250))
        batcher.start()
        await asyncio.gather(*(batcher.submit(model, f"t{i}") for i in range(7)))
        await batcher.stop()
        return batcher, model

    batcher, model = asyncio.run(scenario())
    assert (batcher.max_size, batcher.max_wait_s, batcher.max_pending) == (3, 0.25, 2048)
    assert [len(call) for call in model.calls] == [3, 3, 1]

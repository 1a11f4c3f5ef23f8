"""Dynamic micro-batching (inference/batching.py): merging, limits, errors, cancellation, shutdown."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from inference.batching import BatcherClosedError, BatchStats, MicroBatcher, QueueFullError


class RecordingModel:
    """Scores a text as [its number]; records every call. ``gate`` (if set) blocks calls until opened."""

    def __init__(self, *, gate: threading.Event | None = None, fail_on: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.gate = gate
        self.fail_on = fail_on
        self.entered = threading.Event()

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(timeout=10)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError(f"model exploded on {self.fail_on}")
        return np.array([[float(text)] for text in texts], dtype=np.float32)


def texts(*numbers: int) -> list[str]:
    return [str(n) for n in numbers]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=20))


async def started(model, **options) -> MicroBatcher:
    defaults = {"max_batch_items": 64, "max_wait_s": 0.0, "queue_limit": 1000}
    batcher = MicroBatcher(model, **{**defaults, **options})
    await batcher.start()
    return batcher


async def wait_until(condition, timeout: float = 5.0) -> None:
    # Polls cheaply on the event loop; used to wait for the worker thread to enter the model.
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.001)


def test_concurrent_requests_share_one_model_call_and_get_their_own_rows() -> None:
    async def scenario():
        model = RecordingModel()
        batcher = await started(model)
        results = await asyncio.gather(*(batcher.submit(texts(10 * i, 10 * i + 1)) for i in range(5)))
        await batcher.aclose()
        return model, results

    model, results = run(scenario())
    assert [len(call) for call in model.calls] == [10]  # five requests, one model call
    for i, rows in enumerate(results):
        assert rows[:, 0].tolist() == [10 * i, 10 * i + 1]


def test_batches_respect_max_items_and_keep_arrival_order() -> None:
    async def scenario():
        model = RecordingModel()
        batcher = await started(model, max_batch_items=8)
        results = await asyncio.gather(
            batcher.submit(texts(1, 2, 3, 4)),
            batcher.submit(texts(5, 6, 7, 8)),
            batcher.submit(texts(9, 10, 11, 12)),
        )
        await batcher.aclose()
        return model, results

    model, results = run(scenario())
    assert model.calls == [texts(1, 2, 3, 4, 5, 6, 7, 8), texts(9, 10, 11, 12)]
    assert results[2][:, 0].tolist() == [9, 10, 11, 12]


def test_a_job_larger_than_max_items_runs_alone() -> None:
    async def scenario():
        model = RecordingModel()
        batcher = await started(model, max_batch_items=4)
        rows = await batcher.submit(texts(*range(10)))
        await batcher.aclose()
        return model, rows

    model, rows = run(scenario())
    assert [len(call) for call in model.calls] == [10]
    assert rows[:, 0].tolist() == list(range(10))


def test_waits_up_to_max_wait_for_more_requests() -> None:
    async def scenario():
        model = RecordingModel()
        batcher = await started(model, max_wait_s=0.5)

        async def late():
            await asyncio.sleep(0.02)  # well inside the 0.5 s window
            return await batcher.submit(texts(2))

        await asyncio.gather(batcher.submit(texts(1)), late())
        await batcher.aclose()
        return model

    assert run(scenario()).calls == [texts(1, 2)]


@pytest.mark.parametrize(("in_flight", "merged"), [(1, False), (2, True)])
def test_waits_only_while_requests_in_flight_have_not_submitted(in_flight: int, merged: bool) -> None:
    async def scenario():
        model = RecordingModel()
        batcher = await started(model, max_wait_s=0.5, requests_in_flight=lambda: in_flight)
        loop = asyncio.get_running_loop()
        began = loop.time()

        async def first():
            rows = await batcher.submit(texts(1))
            return loop.time() - began, rows

        async def late():
            await asyncio.sleep(0.02)
            return await batcher.submit(texts(2))

        (first_latency, _), _ = await asyncio.gather(first(), late())
        await batcher.aclose()
        return model, first_latency

    model, first_latency = run(scenario())
    if merged:  # a second request is still on its way: wait for it
        assert model.calls == [texts(1, 2)]
    else:  # the only request in flight has submitted: no one to wait for
        assert model.calls == [texts(1), texts(2)]
        assert first_latency < 0.25


def test_without_waiting_a_later_request_gets_its_own_call() -> None:
    async def scenario():
        gate = threading.Event()
        model = RecordingModel(gate=gate)
        batcher = await started(model, max_wait_s=0.0)
        first = asyncio.create_task(batcher.submit(texts(1)))
        await wait_until(model.entered.is_set)  # the first call is running
        second = asyncio.create_task(batcher.submit(texts(2)))
        third = asyncio.create_task(batcher.submit(texts(3)))
        await asyncio.sleep(0.01)
        gate.set()
        await asyncio.gather(first, second, third)
        await batcher.aclose()
        return model

    # Requests that arrive while the model is busy are merged into the next call.
    assert run(scenario()).calls == [texts(1), texts(2, 3)]


def test_model_error_reaches_every_waiter_of_the_batch_and_the_batcher_keeps_going() -> None:
    async def scenario():
        model = RecordingModel(fail_on="13")
        batcher = await started(model)
        outcomes = await asyncio.gather(
            batcher.submit(texts(1)),
            batcher.submit(texts(13)),
            batcher.submit(texts(2)),
            return_exceptions=True,
        )
        after = await batcher.submit(texts(3))
        pending = batcher.pending_items
        await batcher.aclose()
        return outcomes, after, pending

    outcomes, after, pending = run(scenario())
    assert all(isinstance(o, RuntimeError) and "exploded" in str(o) for o in outcomes)
    assert after[:, 0].tolist() == [3]
    assert pending == 0


def test_wrong_row_count_from_the_model_is_an_error_for_the_waiters() -> None:
    async def scenario():
        batcher = await started(lambda batch: np.zeros((len(batch) + 1, 1)))
        with pytest.raises(RuntimeError, match="returned 3 rows for 2 texts"):
            await batcher.submit(texts(1, 2))
        await batcher.aclose()

    run(scenario())


def test_cancelled_request_is_skipped_and_releases_its_queue_space() -> None:
    async def scenario():
        gate = threading.Event()
        model = RecordingModel(gate=gate)
        batcher = await started(model, queue_limit=10)
        running = asyncio.create_task(batcher.submit(texts(1)))
        await wait_until(model.entered.is_set)
        cancelled = asyncio.create_task(batcher.submit(texts(2, 3, 4)))
        kept = asyncio.create_task(batcher.submit(texts(5)))
        await asyncio.sleep(0.01)
        assert batcher.pending_items == 5
        cancelled.cancel()
        await asyncio.sleep(0.01)
        pending_after_cancel = batcher.pending_items
        gate.set()
        first, last = await asyncio.gather(running, kept)
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        pending_at_end = batcher.pending_items
        await batcher.aclose()
        return model, first, last, pending_after_cancel, pending_at_end

    model, first, last, pending_after_cancel, pending_at_end = run(scenario())
    assert model.calls == [texts(1), texts(5)]  # the cancelled texts never reached the model
    assert first[:, 0].tolist() == [1]
    assert last[:, 0].tolist() == [5]
    assert pending_after_cancel == 2
    assert pending_at_end == 0


def test_cancelling_a_request_while_its_batch_runs_does_not_disturb_the_others() -> None:
    async def scenario():
        gate = threading.Event()
        model = RecordingModel(gate=gate)
        batcher = await started(model)
        a = asyncio.create_task(batcher.submit(texts(1)))
        b = asyncio.create_task(batcher.submit(texts(2)))
        await wait_until(model.entered.is_set)
        a.cancel()
        gate.set()
        rows = await b
        after = await batcher.submit(texts(7))
        await batcher.aclose()
        return model, rows, after, a

    model, rows, after, a = run(scenario())
    assert model.calls[0] == texts(1, 2)
    assert rows[:, 0].tolist() == [2]
    assert after[:, 0].tolist() == [7]
    assert a.cancelled()


def test_full_queue_refuses_at_once() -> None:
    async def scenario():
        gate = threading.Event()
        model = RecordingModel(gate=gate)
        batcher = await started(model, queue_limit=5)
        running = asyncio.create_task(batcher.submit(texts(1, 2, 3)))
        await wait_until(model.entered.is_set)
        queued = asyncio.create_task(batcher.submit(texts(4, 5)))
        await asyncio.sleep(0)
        with pytest.raises(QueueFullError, match="limit is 5"):
            await batcher.submit(texts(6))
        gate.set()
        await asyncio.gather(running, queued)
        rows = await batcher.submit(texts(6))  # room again once the queue drained
        await batcher.aclose()
        return rows

    assert run(scenario())[:, 0].tolist() == [6]


def test_close_fails_waiting_requests_and_refuses_new_ones() -> None:
    async def scenario():
        gate = threading.Event()
        model = RecordingModel(gate=gate)
        batcher = await started(model)
        running = asyncio.create_task(batcher.submit(texts(1)))
        await wait_until(model.entered.is_set)
        waiting = asyncio.create_task(batcher.submit(texts(2)))
        await asyncio.sleep(0.01)
        await batcher.aclose()
        gate.set()
        outcomes = await asyncio.gather(running, waiting, return_exceptions=True)
        with pytest.raises(BatcherClosedError):
            await batcher.submit(texts(3))
        return outcomes

    outcomes = run(scenario())
    assert all(isinstance(o, BatcherClosedError) for o in outcomes)


def test_submit_before_start_is_refused() -> None:
    async def scenario():
        batcher = MicroBatcher(RecordingModel(), max_batch_items=4, max_wait_s=0, queue_limit=10)
        with pytest.raises(BatcherClosedError, match="not running"):
            await batcher.submit(texts(1))

    run(scenario())


def test_on_batch_reports_items_and_requests_per_call() -> None:
    async def scenario():
        stats: list[BatchStats] = []
        batcher = await started(RecordingModel(), on_batch=stats.append)
        await asyncio.gather(batcher.submit(texts(1, 2)), batcher.submit(texts(3)))
        await batcher.aclose()
        return stats

    (only,) = run(scenario())
    assert (only.items, only.jobs) == (3, 2)
    assert only.seconds >= 0


def test_model_runs_in_one_dedicated_thread() -> None:
    async def scenario():
        threads: set[str] = set()

        def model(batch):
            threads.add(threading.current_thread().name)
            return np.zeros((len(batch), 1))

        batcher = await started(model, max_batch_items=1)
        await asyncio.gather(*(batcher.submit(texts(i)) for i in range(6)))
        await batcher.aclose()
        return threads

    threads = run(scenario())
    assert len(threads) == 1
    assert next(iter(threads)).startswith("tegur-model")


@pytest.mark.parametrize(
    "options",
    [{"max_batch_items": 0}, {"queue_limit": 0}, {"max_wait_s": -1.0}],
    ids=["items", "queue", "wait"],
)
def test_invalid_options_are_rejected(options) -> None:
    with pytest.raises(ValueError, match="need max_batch_items"):
        MicroBatcher(
            RecordingModel(), **{"max_batch_items": 4, "max_wait_s": 0.0, "queue_limit": 8, **options}
        )

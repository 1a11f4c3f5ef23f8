"""Dynamic micro-batching: concurrent requests share model calls.

Each request submits its texts as one job. A single background task takes the oldest job, adds every
job already waiting, then waits up to ``max_wait_s`` for more while the merged batch is below
``max_batch_items``, and runs the model once on the lot in ONE dedicated worker thread (torch
parallelises inside that call with its own intra-op threads; two concurrent model calls would only
fight over the same cores). While the model runs, new jobs queue up and form the next batch, so under
load batches grow by themselves.

Waiting only pays when another request is on its way. Given ``requests_in_flight`` (requests received
and not yet answered, as the server counts them), the batcher waits only while some of those have not
submitted their job yet (they are still being read or parsed): a lone request at low load goes
straight to the model instead of sleeping ``max_wait_s``.

The queue is bounded in items: a job that would take it past ``queue_limit`` is refused at once with
:class:`QueueFullError` (the API answers 503 with ``Retry-After``) instead of piling up latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

PredictFn = Callable[[list[str]], np.ndarray]


class QueueFullError(RuntimeError):
    """The batcher already holds ``queue_limit`` items; retry later."""


class BatcherClosedError(RuntimeError):
    """The batcher is not running (not started yet, or shut down)."""


@dataclass(frozen=True)
class BatchStats:
    """What one model call did: reported to ``on_batch`` (metrics) after every call."""

    items: int
    jobs: int
    seconds: float


@dataclass(eq=False)  # hashed by identity: jobs live in a set
class _Job:
    texts: list[str]
    future: asyncio.Future[np.ndarray]
    enqueued_at: float = field(default_factory=time.perf_counter)


class MicroBatcher:
    """Merges texts from concurrent :meth:`submit` calls into shared model calls.

    Args:
        predict: Model call: texts -> array with one row per text, in order. Runs in the worker thread.
        max_batch_items: Most texts merged into one call. A single job larger than this runs alone.
        max_wait_s: How long to wait for more jobs once one is waiting (0: take only what is queued).
        queue_limit: Most texts waiting or running at once; beyond it :meth:`submit` refuses.
        on_batch: Called in the event loop after each model call (e.g. to record metrics).
        thread_initializer: Runs once in the worker thread before the first call (e.g. torch threads).
        requests_in_flight: Requests received and not yet answered (each submits at most one job); the
            batcher waits for more jobs only while this exceeds the jobs it holds. None: always wait
            up to ``max_wait_s``.
    """

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_batch_items: int,
        max_wait_s: float,
        queue_limit: int,
        on_batch: Callable[[BatchStats], None] | None = None,
        thread_initializer: Callable[[], None] | None = None,
        requests_in_flight: Callable[[], int] | None = None,
    ) -> None:
        if max_batch_items < 1 or queue_limit < 1 or max_wait_s < 0:
            raise ValueError(
                f"need max_batch_items >= 1, queue_limit >= 1, max_wait_s >= 0; got {max_batch_items}, "
                f"{queue_limit}, {max_wait_s}"
            )
        self._predict = predict
        self._max_items = max_batch_items
        self._max_wait_s = max_wait_s
        self._queue_limit = queue_limit
        self._on_batch = on_batch
        self._thread_initializer = thread_initializer
        self._requests_in_flight = requests_in_flight
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._pending_items = 0
        self._jobs: set[_Job] = set()  # unanswered jobs, wherever they are (queue, batch in hand, model)
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False

    @property
    def pending_items(self) -> int:
        """Texts submitted and not yet answered (waiting or in the running model call)."""
        return self._pending_items

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closed

    async def start(self) -> None:
        """Start the worker thread and the batching task (call from the serving event loop)."""
        if self._task is not None:
            raise RuntimeError("MicroBatcher.start() called twice")
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="tegur-model", initializer=self._thread_initializer
        )
        self._task = asyncio.create_task(self._run(), name="tegur-micro-batcher")

    async def aclose(self) -> None:
        """Stop batching; jobs still waiting fail with :class:`BatcherClosedError`."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for job in list(self._jobs):
            if not job.future.done():
                job.future.set_exception(BatcherClosedError("the model service is shutting down"))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, texts: list[str]) -> np.ndarray:
        """Score ``texts`` (in a batch shared with concurrent callers); one row per text, in order.

        Raises:
            QueueFullError: accepting the texts would exceed ``queue_limit``.
            BatcherClosedError: the batcher is not running.
            Exception: whatever the model call raised, re-raised in every job of that batch.
        """
        if not self.running:
            raise BatcherClosedError("the model service is not running")
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if self._pending_items + len(texts) > self._queue_limit:
            raise QueueFullError(
                f"{self._pending_items} texts already waiting; the limit is {self._queue_limit}"
            )
        job = _Job(texts=list(texts), future=asyncio.get_running_loop().create_future())
        self._jobs.add(job)
        self._pending_items += len(texts)
        # Released however the job ends: answered, failed, or cancelled because its caller went away
        # (cancelling the caller cancels the future; the batcher then skips or discards the job).
        job.future.add_done_callback(lambda _future: self._release(job))
        self._queue.put_nowait(job)
        return await job.future

    def _release(self, job: _Job) -> None:
        self._jobs.discard(job)
        self._pending_items -= len(job.texts)

    async def _run(self) -> None:
        carry: _Job | None = None
        while True:
            job = carry if carry is not None else await self._queue.get()
            carry = None
            batch, carry = await self._collect(job)
            await self._run_batch(batch)

    async def _collect(self, first: _Job) -> tuple[list[_Job], _Job | None]:
        loop = asyncio.get_running_loop()
        batch = [first]
        items = len(first.texts)
        deadline: float | None = None
        while items < self._max_items:
            if not self._queue.empty():
                job = self._queue.get_nowait()
            else:
                if self._requests_in_flight is not None and self._requests_in_flight() <= len(self._jobs):
                    break  # every request in flight has submitted: nobody else is coming, do not wait
                if deadline is None:
                    deadline = loop.time() + self._max_wait_s
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), remaining)
                except TimeoutError:
                    break
            if items + len(job.texts) > self._max_items:
                return batch, job  # starts the next batch, keeping arrival order
            batch.append(job)
            items += len(job.texts)
        return batch, None

    async def _run_batch(self, batch: list[_Job]) -> None:
        live = [job for job in batch if not job.future.done()]  # skip jobs cancelled while queued
        if not live:
            return
        texts = [text for job in live for text in job.texts]
        started = time.perf_counter()
        try:
            assert self._executor is not None  # set in start(), which created this task
            probabilities = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._predict, texts
            )
            if len(probabilities) != len(texts):
                raise RuntimeError(f"model returned {len(probabilities)} rows for {len(texts)} texts")
        except Exception as exc:
            logger.error("model call failed on a batch of %d texts: %r", len(texts), exc)
            for job in live:
                if not job.future.done():
                    job.future.set_exception(exc)
        else:
            offset = 0
            for job in live:
                rows = probabilities[offset : offset + len(job.texts)]
                offset += len(job.texts)
                if not job.future.done():  # the caller may have gone away meanwhile
                    job.future.set_result(rows)
        if self._on_batch is not None:
            self._on_batch(
                BatchStats(items=len(texts), jobs=len(live), seconds=time.perf_counter() - started)
            )

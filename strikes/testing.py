"""Helpers for tests and benchmarks of the strike engine: throwaway databases and parallel writers.

Not used by the service itself. Kept in the package (rather than in ``tests/``) because the benchmark
script and spawned worker processes import it too.
"""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from strikes.domain import ViolationEvent
from strikes.errors import StorageError
from strikes.policy import StrikePolicy
from strikes.storage import Base, StrikeStore, normalise_database_url, sqlite_url

_START_TIMEOUT_S = 120

#: The local test server (trust auth). Override with TEGUR_TEST_POSTGRES_URL.
DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_test_url() -> str:
    """The PostgreSQL server tests and benchmarks use."""
    return os.environ.get("TEGUR_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)


@contextmanager
def temporary_postgres_schema(base_url: str | None = None, *, prefix: str = "tegur_test") -> Iterator[str]:
    """Create a uniquely named schema, yield a URL whose connections use it, then drop it.

    Parallel test runs on one server each get their own schema, so they never collide.

    Raises:
        StorageError: The server is unreachable (the message says how to point at another one).
    """
    url = normalise_database_url(base_url or postgres_test_url())
    schema = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as exc:
        engine.dispose()
        raise StorageError(
            f"PostgreSQL at {url.render_as_string(hide_password=True)} is unreachable ({exc.orig}); start "
            "the server or point TEGUR_TEST_POSTGRES_URL at one, e.g. "
            "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ) from None
    scoped = url.update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield scoped.render_as_string(hide_password=False)
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


@contextmanager
def temporary_database(backend: str, folder: Path) -> Iterator[str]:
    """Yield the URL of an empty database: a SQLite file in ``folder`` or a fresh PostgreSQL schema."""
    if backend == "sqlite":
        yield sqlite_url(folder / f"strikes-{uuid.uuid4().hex[:8]}.db")
    elif backend == "postgresql":
        with temporary_postgres_schema() as url:
            yield url
    else:
        raise ValueError(f"unknown backend {backend!r}; expected sqlite or postgresql")


@contextmanager
def migrated_database(backend: str, folder: Path) -> Iterator[str]:
    """Like :func:`temporary_database`, with the strike schema already migrated."""
    with temporary_database(backend, folder) as url:
        store = StrikeStore(url)
        store.migrate()
        store.close()
        yield url


class Clock:
    """A settable clock for the strike service (``StrikeService(..., clock=Clock(t0))``)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def reset_database(store: StrikeStore) -> None:
    """Empty every strike table and restart the ids, so tests can share one migrated database."""
    tables = list(reversed(Base.metadata.sorted_tables))
    with store.engine.begin() as conn:
        if store.dialect == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        else:
            # SQLite hands out max(rowid) + 1, so empty tables restart at 1.
            for table in tables:
                conn.execute(table.delete())


def _ingest(
    database_url: str, policy: StrikePolicy, events: Sequence[ViolationEvent], start_at: float, batch: int = 1
) -> tuple[list[tuple[str, int]], float]:
    from strikes.service import StrikeService

    service = StrikeService(StrikeStore(database_url), policy, clock=lambda: datetime.now(UTC))
    try:
        service.store.count_violations()  # connect first, so the timed part is ingestion only
        service.store.save_policy(policy)
        time.sleep(max(0.0, start_at - time.time()))
        decisions = []
        for i in range(0, len(events), batch):
            decisions += service.record_violations(events[i : i + batch])
        return [(d.kind.value, d.violation_id) for d in decisions], time.time()
    finally:
        service.close()


def _warm() -> int:
    import strikes.service  # noqa: F401  # pay the imports before anything is timed

    time.sleep(0.2)  # hold this worker so the next task starts another process
    return os.getpid()


@contextmanager
def process_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` processes, started and imported before it is yielded."""
    # forkserver, not fork: workers fork from a fresh server process, never from this one, so they
    # cannot share its pooled database connections; the server imports the service once for all.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["strikes.service"])
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        for future in [pool.submit(_warm) for _ in range(workers)]:
            future.result(timeout=_START_TIMEOUT_S)
        yield pool


def parallel_ingest(
    database_url: str,
    policy: StrikePolicy,
    batches: Sequence[Sequence[ViolationEvent]],
    *,
    pool: Executor | None = None,
    lead_time_s: float = 0.5,
    batch: int = 1,
) -> tuple[list[list[tuple[str, int]]], float]:
    """Ingest each batch concurrently, each writer with its own connections, all starting together.

    Args:
        database_url: The (migrated) database.
        policy: The strike policy.
        batches: One sequence of events per writer.
        pool: Where the writers run, e.g. :func:`process_pool` for separate processes; by default
            one thread per batch.
        lead_time_s: The writers connect, then start at the same wall-clock instant this far ahead.
        batch: Events per transaction (``StrikeService.record_violations``), as ``/v1/moderate`` sends.

    Returns:
        Per batch, the (decision kind, violation id) of each event; and the seconds from the common
        start until the last writer finished.
    """
    own_pool = pool is None
    executor = pool if pool is not None else ThreadPoolExecutor(len(batches))
    try:
        start_at = time.time() + lead_time_s
        futures = [
            executor.submit(_ingest, database_url, policy, list(events), start_at, batch)
            for events in batches
        ]
        done = [future.result(timeout=600) for future in futures]
    finally:
        if own_pool:
            executor.shutdown()
    return [kinds for kinds, _ in done], max(finished for _, finished in done) - start_at

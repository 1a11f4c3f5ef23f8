"""The stored ledger on SQLite and PostgreSQL: migrations, round trips, constraints, parallel writers.

PostgreSQL tests use the server at TEGUR_TEST_POSTGRES_URL (default: the local test server), each in
a schema of its own that is dropped afterwards. They are not skipped: without a server they fail
with a message saying how to point at one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.dialects import sqlite as sqlite_dialect

from strikes.domain import (
    AppealOutcome,
    EventSource,
    Feature,
    Policy,
    ViolationEvent,
    ViolationRecord,
)
from strikes.engine import decide
from strikes.errors import AppealAlreadyDecidedError, AppealAlreadyFiledError, StorageError
from strikes.policy import StrikePolicy
from strikes.storage import VERSION_TABLE, Base, StrikeStore, UTCDateTime, normalise_database_url
from strikes.testing import parallel_ingest, process_pool, reset_database, temporary_database
from tegur.errors import ConfigError
from tests.conftest import STRIKE_BACKENDS

# Recent: the service refuses violations older than the policy's max_event_age_days (365).
T0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=30)


@pytest.fixture(params=STRIKE_BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with temporary_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture()
def store(migrated_url: str) -> Iterator[StrikeStore]:
    store = StrikeStore(migrated_url)
    reset_database(store)
    yield store
    store.close()


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    with process_pool(2) as pool:
        yield pool


def event(account: str, content: str, day: float = 0, policy: Policy = Policy.PITY_BAIT) -> ViolationEvent:
    return ViolationEvent(
        account_id=account,
        policy=policy,
        feature=Feature.COMMENT,
        content_id=content,
        occurred_at=T0 + timedelta(days=day),
        source=EventSource.CLASSIFIER,
        evidence={"pity_bait": 0.91, "bullying": 0.02},
        actor="tegur-e5-small",
    )


def test_migrate_creates_the_schema_the_models_describe(database_url: str) -> None:
    store = StrikeStore(database_url)
    try:
        assert store.current_revision() is None
        head = store.migrate()
        assert store.current_revision() == head == store.head_revision()
        assert store.migrate() == head  # idempotent
        with store.engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        store.close()


def test_unmigrated_database_is_refused_with_the_fix(database_url: str) -> None:
    store = StrikeStore(database_url)
    try:
        with pytest.raises(StorageError, match=r"revision none \(empty\).*tegur strikes migrate --db"):
            store.ensure_schema(migrate=False)
        store.ensure_schema(migrate=True)
        store.ensure_schema(migrate=False)
    finally:
        store.close()


def test_ledger_round_trip(store: StrikeStore) -> None:
    jakarta = timezone(timedelta(hours=7))
    recorded = datetime(2024, 1, 2, 9, 30, 15, 123456, tzinfo=jakarta)
    with store.lock_account("acct") as ledger:
        violation = ledger.append_violation(event("acct", "m1"), recorded)
        assert violation is not None
        appeal = ledger.append_appeal(violation.id, recorded + timedelta(hours=1), "it was a joke")
        decision = ledger.append_appeal_decision(
            appeal.id, AppealOutcome.UPHOLD, recorded + timedelta(hours=2), "mod-7", "context reviewed"
        )
        written = list(ledger.entries)
    read = store.read_ledger("acct")
    assert read == written == [violation, appeal, decision]
    assert [e.seq for e in read] == [1, 2, 3]
    stored = read[0]
    assert isinstance(stored, ViolationRecord)
    assert stored.recorded_at.tzinfo is not None and stored.recorded_at.utcoffset() == timedelta(0)
    assert stored.event.evidence == {"pity_bait": 0.91, "bullying": 0.02}
    assert store.account_of_violation(violation.id) == "acct"
    assert store.account_of_appeal(appeal.id) == "acct"
    assert store.account_of_violation(violation.id + 100) is None
    assert store.read_ledger("nobody") == []


def test_same_content_and_policy_is_stored_once(store: StrikeStore) -> None:
    with store.lock_account("acct") as ledger:
        first = ledger.append_violation(event("acct", "m1"), T0)
        assert ledger.append_violation(event("acct", "m1"), T0) is None
        other_policy = ledger.append_violation(event("acct", "m1", policy=Policy.BULLYING), T0)
        other_account = None
    with store.lock_account("acct-2") as ledger2:
        other_account = ledger2.append_violation(event("acct-2", "m1"), T0)
    assert first is not None and other_policy is not None and other_account is not None
    assert [e.seq for e in store.read_ledger("acct")] == [1, 2]
    assert store.count_violations() == 3


def test_database_allows_one_appeal_and_one_decision(store: StrikeStore) -> None:
    # The engine checks these first; the constraints are the backstop for code that does not.
    with store.lock_account("acct") as ledger:
        violation = ledger.append_violation(event("acct", "m1"), T0)
        assert violation is not None
        appeal = ledger.append_appeal(violation.id, T0, "first")
        with pytest.raises(AppealAlreadyFiledError):
            ledger.append_appeal(violation.id, T0, "second")
        ledger.append_appeal_decision(appeal.id, AppealOutcome.OVERTURN, T0, "mod", None)
        with pytest.raises(AppealAlreadyDecidedError):
            ledger.append_appeal_decision(appeal.id, AppealOutcome.UPHOLD, T0, "mod", None)
    assert [e.seq for e in store.read_ledger("acct")] == [1, 2, 3]


def test_a_failed_transaction_leaves_nothing(store: StrikeStore) -> None:
    with pytest.raises(RuntimeError, match="boom"), store.lock_account("acct") as ledger:
        ledger.append_violation(event("acct", "m1"), T0)
        raise RuntimeError("boom")
    assert store.read_ledger("acct") == []
    with store.lock_account("acct") as ledger:
        record = ledger.append_violation(event("acct", "m1"), T0)
    assert record is not None and record.seq == 1


def _writer_batches(writers: int) -> list[list[ViolationEvent]]:
    """Every writer posts the same shared events (racing duplicates) and events of its own (racing
    appends), for two accounts, out of time order (late violations land in the past)."""
    shared = [event(f"acct-{i % 2}", f"shared-{i}", day=(7 * i) % 11) for i in range(8)]
    batches = []
    for w in range(writers):
        own = [event(f"acct-{i % 2}", f"w{w}-{i}", day=(5 * i + w) % 13) for i in range(8)]
        batches.append([e for pair in zip(shared, own, strict=True) for e in pair])
    return batches


def _check_serialisable(
    store: StrikeStore, policy: StrikePolicy, batches: list[list[ViolationEvent]], results: list[list[tuple]]
) -> None:
    unique = {(e.account_id, e.content_id, e.policy) for batch in batches for e in batch}
    posted = sum(len(batch) for batch in batches)
    decisions = [kind_id for result in results for kind_id in result]
    recorded = [(kind, vid) for kind, vid in decisions if kind != "duplicate"]
    # Nothing lost, nothing doubled: every distinct event recorded once, every repeat a duplicate.
    assert len(recorded) == len({vid for _, vid in recorded}) == len(unique) == store.count_violations()
    assert Counter(kind for kind, _ in decisions)["duplicate"] == posted - len(unique)
    by_id = {vid: kind for kind, vid in recorded}
    for account in {e.account_id for batch in batches for e in batch}:
        ledger = store.read_ledger(account)
        assert [e.seq for e in ledger] == list(range(1, len(ledger) + 1))
        # Each writer saw the ledger exactly as a one-at-a-time run in commit order would have.
        for i, record in enumerate(ledger):
            assert isinstance(record, ViolationRecord)
            assert by_id[record.id] == decide(ledger[:i], record, policy).kind.value


def test_parallel_threads_lose_and_duplicate_nothing(store: StrikeStore, policy: StrikePolicy) -> None:
    batches = _writer_batches(4)
    url = store.url.render_as_string(hide_password=False)
    results, _ = parallel_ingest(url, policy, batches, lead_time_s=0.2)
    _check_serialisable(store, policy, batches, results)


def test_parallel_processes_lose_and_duplicate_nothing(
    store: StrikeStore, policy: StrikePolicy, pool: ProcessPoolExecutor
) -> None:
    batches = _writer_batches(2)
    url = store.url.render_as_string(hide_password=False)
    results, _ = parallel_ingest(url, policy, batches, pool=pool, lead_time_s=0.2)
    _check_serialisable(store, policy, batches, results)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@db/tegur", "postgresql+psycopg://u@db/tegur"),
        ("postgres://u@db/tegur", "postgresql+psycopg://u@db/tegur"),
        ("postgresql+psycopg://u@db/tegur", "postgresql+psycopg://u@db/tegur"),
        ("sqlite:///strikes.db", "sqlite:///strikes.db"),
    ],
)
def test_database_urls_are_normalised(url: str, expected: str) -> None:
    assert normalise_database_url(url).render_as_string(hide_password=False) == expected


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "in-memory SQLite database, which loses the ledger"),
        ("sqlite:///:memory:", "in-memory SQLite"),
        ("mysql://u:secret@db/x", r"unsupported database URL 'mysql://u:\*\*\*@db/x'"),
        ("not a url", "is not a URL"),
    ],
)
def test_bad_database_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        normalise_database_url(url)


def test_unreachable_database_is_a_storage_error(tmp_path: Path) -> None:
    store = StrikeStore("postgresql+psycopg://postgres:pw@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(StorageError, match=r"postgresql\+psycopg://postgres:\*\*\*@127.0.0.1:1/none"):
        store.current_revision()
    store = StrikeStore(f"sqlite:///{tmp_path}/missing-folder/strikes.db")
    with pytest.raises(StorageError, match="check that the folder exists"):
        store.migrate()


def test_naive_datetimes_are_never_stored() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        UTCDateTime().process_bind_param(datetime(2024, 1, 1), sqlite_dialect.dialect())

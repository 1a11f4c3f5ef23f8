"""Storage of the append-only strike ledger: SQLAlchemy over SQLite (a file) or PostgreSQL.

Three insert-only tables hold the ledger (violations, appeals, appeal decisions); a fourth,
``strike_accounts``, holds one row per account whose only jobs are to be locked and to hand out the
account's next ledger position ``seq``. Every write runs inside :meth:`StrikeStore.lock_account`:

* PostgreSQL: ``SELECT ... FOR UPDATE`` on the account row, so writers of one account queue while
  writers of other accounts proceed;
* SQLite: ``BEGIN IMMEDIATE``, which takes the database's single write lock at the start of the
  transaction (WAL mode keeps readers unblocked).

Within that lock a writer reads the account's ledger, decides, appends and commits, so two processes
posting for one account at once neither lose nor duplicate anything. Unique constraints back this
up: (account, content id, policy) for violations, one appeal per violation, one decision per appeal;
inserts use ``ON CONFLICT DO NOTHING`` and report a conflict instead of raising.

The schema is managed by Alembic migrations shipped in ``strikes/migrations`` (run
:meth:`StrikeStore.migrate` or ``tegur strikes migrate``); the version table is
``strike_alembic_version`` so the strike tables can share a database with other schemas.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    create_engine,
    event,
    exists,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime, TypeDecorator

from strikes.domain import (
    MAX_ACCOUNT_ID,
    MAX_ACTOR,
    MAX_CONTENT_ID,
    ActionKind,
    AppealDecided,
    AppealFiled,
    AppealOutcome,
    EventSource,
    Feature,
    LedgerEntry,
    LiftCause,
    ModeratorAction,
    Notification,
    NotificationKind,
    Penalty,
    PenaltyKind,
    Policy,
    RecordKind,
    ViolationEvent,
    ViolationRecord,
)
from strikes.errors import AppealAlreadyDecidedError, AppealAlreadyFiledError, StorageError
from tegur.errors import ConfigError

logger = logging.getLogger(__name__)

#: Alembic's version table for the strike schema (not the default name, to share databases).
VERSION_TABLE = "strike_alembic_version"
MIGRATIONS = "strikes:migrations"
# Any constant works; it only has to differ from other advisory locks taken on the same database.
_MIGRATION_LOCK_KEY = 0x7E6075
_SQLITE_BUSY_TIMEOUT_S = 30
_READ_ONLY = "strikes_read_only"

# Ids are 64-bit on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER.
_Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on both backends (SQLite stores naive text, read back as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"refusing to store naive datetime {value!r}; pass a timezone-aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class AccountRow(Base):
    """The lock and sequence counter of one account's ledger."""

    __tablename__ = "strike_accounts"

    account_id: Mapped[str] = mapped_column(String(MAX_ACCOUNT_ID), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    #: The engine's snapshot after entry ``last_seq`` (strikes.engine.Snapshot.to_json), written in
    #: the same transaction as the entry; ``tegur strikes verify`` checks it against a full replay.
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class ViolationRow(Base):
    """Ledger: a recorded violation."""

    __tablename__ = "strike_violations"
    __table_args__ = (
        UniqueConstraint("account_id", "content_id", "policy"),
        UniqueConstraint("account_id", "seq"),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("strike_accounts.account_id"))
    seq: Mapped[int] = mapped_column(Integer)
    policy: Mapped[str] = mapped_column(String(64))
    feature: Mapped[str] = mapped_column(String(32))
    content_id: Mapped[str] = mapped_column(String(MAX_CONTENT_ID))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(16))
    evidence: Mapped[dict[str, float]] = mapped_column(JSON)
    actor: Mapped[str | None] = mapped_column(String(MAX_ACTOR))
    # The decision, written in the transaction that records the violation: a fact, never re-derived.
    kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    rule: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    policy_version: Mapped[str | None] = mapped_column(String(32), nullable=True)


class AppealRow(Base):
    """Ledger: an appeal of one violation (at most one per violation)."""

    __tablename__ = "strike_appeals"
    __table_args__ = (UniqueConstraint("violation_id"), UniqueConstraint("account_id", "seq"))

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("strike_accounts.account_id"))
    seq: Mapped[int] = mapped_column(Integer)
    violation_id: Mapped[int] = mapped_column(ForeignKey("strike_violations.id"))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)


class AppealDecisionRow(Base):
    """Ledger: a moderator's final decision on one appeal."""

    __tablename__ = "strike_appeal_decisions"
    __table_args__ = (UniqueConstraint("account_id", "seq"),)

    appeal_id: Mapped[int] = mapped_column(
        ForeignKey("strike_appeals.id"), primary_key=True, autoincrement=False
    )
    account_id: Mapped[str] = mapped_column(ForeignKey("strike_accounts.account_id"))
    seq: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime())
    moderator: Mapped[str] = mapped_column(String(MAX_ACTOR))
    note: Mapped[str | None] = mapped_column(Text)
    policy_version: Mapped[str | None] = mapped_column(String(32), nullable=True)


class ActionRow(Base):
    """Ledger: a moderator's action on a penalty (reversal, confirming or rejecting a review hold)."""

    __tablename__ = "strike_actions"
    __table_args__ = (UniqueConstraint("account_id", "seq"),)

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("strike_accounts.account_id"))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    penalty_no: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    moderator: Mapped[str] = mapped_column(String(MAX_ACTOR))
    reason: Mapped[str | None] = mapped_column(Text)
    policy_version: Mapped[str | None] = mapped_column(String(32), nullable=True)


class PenaltyRow(Base):
    """An issued decision (restriction, ban, review hold): written once, never updated or deleted."""

    __tablename__ = "strike_penalties"

    account_id: Mapped[str] = mapped_column(ForeignKey("strike_accounts.account_id"), primary_key=True)
    no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    feature: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[int | None] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rule: Mapped[dict[str, Any]] = mapped_column(JSON)
    triggered_by: Mapped[int] = mapped_column(_Id)
    basis: Mapped[list[int]] = mapped_column(JSON)
    automated: Mapped[bool] = mapped_column(Boolean)
    policy_version: Mapped[str] = mapped_column(String(32))
    reviewed_by: Mapped[str | None] = mapped_column(String(MAX_ACTOR))


class PenaltyLiftRow(Base):
    """A recorded reversal of one penalty: the only way a penalty ends early."""

    __tablename__ = "strike_penalty_lifts"

    account_id: Mapped[str] = mapped_column(String(MAX_ACCOUNT_ID), primary_key=True)
    no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    lifted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cause: Mapped[str] = mapped_column(String(32))
    lifted_by: Mapped[int | None] = mapped_column(_Id)


class NotificationRow(Base):
    """The outbox: every notice for an account, stored with the decision that caused it."""

    __tablename__ = "strike_notifications"
    __table_args__ = (Index("ix_strike_notifications_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(MAX_ACCOUNT_ID))
    seq: Mapped[int | None] = mapped_column(Integer)  # the ledger entry; null for report outcomes
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    violation_id: Mapped[int | None] = mapped_column(_Id)
    penalty_no: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PolicyVersionRow(Base):
    """Every strike policy that decided something, by version, so a replay uses the same rules."""

    __tablename__ = "strike_policies"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_used_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReportRow(Base):
    """An account's report of content or of another account, and its resolution."""

    __tablename__ = "strike_reports"
    __table_args__ = (Index("ix_strike_reports_reporter_id", "reporter_id"),)

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    reporter_id: Mapped[str] = mapped_column(String(MAX_ACCOUNT_ID))
    target_account_id: Mapped[str] = mapped_column(String(MAX_ACCOUNT_ID))
    content_id: Mapped[str | None] = mapped_column(String(MAX_CONTENT_ID))
    policy: Mapped[str] = mapped_column(String(64))
    feature: Mapped[str] = mapped_column(String(32))
    details: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    moderator: Mapped[str | None] = mapped_column(String(MAX_ACTOR))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    violation_id: Mapped[int | None] = mapped_column(_Id)


_ACCOUNTS: Table = AccountRow.__table__  # type: ignore[assignment]
_VIOLATIONS: Table = ViolationRow.__table__  # type: ignore[assignment]
_APPEALS: Table = AppealRow.__table__  # type: ignore[assignment]
_DECISIONS: Table = AppealDecisionRow.__table__  # type: ignore[assignment]
_ACTIONS: Table = ActionRow.__table__  # type: ignore[assignment]
_PENALTIES: Table = PenaltyRow.__table__  # type: ignore[assignment]
_LIFTS: Table = PenaltyLiftRow.__table__  # type: ignore[assignment]
_NOTIFICATIONS: Table = NotificationRow.__table__  # type: ignore[assignment]
_POLICIES: Table = PolicyVersionRow.__table__  # type: ignore[assignment]
_REPORTS: Table = ReportRow.__table__  # type: ignore[assignment]


def normalise_database_url(url: str | URL) -> URL:
    """Parse a database URL, pointing PostgreSQL at psycopg 3; reject anything else but SQLite files.

    Raises:
        ConfigError: Not a URL, an unsupported backend, or an in-memory SQLite database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(
            f"database URL {url!r} is not a URL; use sqlite:///strikes.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        ) from None
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        if parsed.database in (None, "", ":memory:"):
            raise ConfigError(
                f"database URL {parsed.render_as_string(hide_password=True)!r} is an in-memory SQLite "
                "database, which loses the ledger on exit; use a file, e.g. sqlite:///strikes.db"
            )
        return parsed
    raise ConfigError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}; use "
        "sqlite:///path/to/strikes.db or postgresql+psycopg://user@host:5432/dbname"
    )


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Hand transaction control to SQLAlchemy's "begin" event below (pysqlite's own is unreliable).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front, so read-decide-append cannot interleave between
    # writers; readers use a deferred BEGIN and a WAL snapshot instead.
    if conn.get_execution_options().get(_READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # hide_parameters: a database error must not copy appeal reasons or report details into logs.
    # No pre-ping (a round trip per transaction): a connection the server dropped fails one request
    # with 503 and is discarded by the pool, so the retry gets a fresh one.
    return create_engine(url, hide_parameters=True)


class AccountLedger:
    """One account's ledger, locked for writing until the surrounding transaction ends.

    It is also the engine's :class:`~strikes.engine.History` for this account: the few look-ups a
    step needs beyond the snapshot are indexed queries, so a write costs O(1) in the history.

    Attributes:
        account_id: The account.
        snapshot: The engine's snapshot as of the lock (JSON, or None before the first write).
    """

    def __init__(
        self, conn: Connection, account_id: str, last_seq: int, snapshot: dict[str, Any] | None
    ) -> None:
        self._conn = conn
        self._last_seq = last_seq
        self.account_id = account_id
        self.snapshot_json = snapshot
        self._entries: list[LedgerEntry] | None = None

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def entries(self) -> list[LedgerEntry]:
        """The whole ledger (read on first use: the write path never needs it)."""
        if self._entries is None:
            self._entries = _load_ledger(self._conn, self.account_id)
        return self._entries

    def reload(self) -> None:
        """Read the ledger again within the transaction."""
        self._entries = None

    def _remember(self, entry: LedgerEntry) -> None:
        if self._entries is not None:
            self._entries.append(entry)

    def _append(
        self, table: Table, values: dict[str, Any], conflict: list[str], returning: Column[Any]
    ) -> Any:
        """Insert one ledger row at the next position; return its key, or None on a unique conflict."""
        seq = self._last_seq + 1
        stmt = (
            _insert_for(self._conn.dialect)(table)
            .values(account_id=self.account_id, seq=seq, **values)
            .on_conflict_do_nothing(index_elements=conflict)
            .returning(returning)
        )
        key = self._conn.execute(stmt).scalar_one_or_none()
        if key is not None:
            self._last_seq = seq
        return key

    def append_violation(
        self, event: ViolationEvent, recorded_at: datetime, policy_version: str | None = None
    ) -> ViolationRecord | None:
        """Append a violation; return None if (account, content id, policy) is already recorded."""
        values = {
            "policy": event.policy.value,
            "feature": event.feature.value,
            "content_id": event.content_id,
            "occurred_at": event.occurred_at,
            "recorded_at": recorded_at,
            "source": event.source.value,
            "evidence": dict(event.evidence),
            "actor": event.actor,
            "policy_version": policy_version,
        }
        new_id = self._append(_VIOLATIONS, values, ["account_id", "content_id", "policy"], _VIOLATIONS.c.id)
        if new_id is None:
            return None
        record = ViolationRecord(new_id, self._last_seq, event, recorded_at, policy_version)
        self._remember(record)
        return record

    def append_appeal(self, violation_id: int, filed_at: datetime, reason: str) -> AppealFiled:
        """Append an appeal of ``violation_id``."""
        values = {"violation_id": violation_id, "filed_at": filed_at, "reason": reason}
        new_id = self._append(_APPEALS, values, ["violation_id"], _APPEALS.c.id)
        if new_id is None:
            raise AppealAlreadyFiledError(
                f"strike {violation_id} was already appealed; it can be appealed once"
            )
        entry = AppealFiled(new_id, self._last_seq, self.account_id, violation_id, filed_at, reason)
        self._remember(entry)
        return entry

    def append_appeal_decision(
        self,
        appeal_id: int,
        outcome: AppealOutcome,
        decided_at: datetime,
        moderator: str,
        note: str | None,
        policy_version: str | None = None,
    ) -> AppealDecided:
        """Append the decision on ``appeal_id``."""
        values = {
            "appeal_id": appeal_id,
            "outcome": outcome.value,
            "decided_at": decided_at,
            "moderator": moderator,
            "note": note,
            "policy_version": policy_version,
        }
        if self._append(_DECISIONS, values, ["appeal_id"], _DECISIONS.c.appeal_id) is None:
            raise AppealAlreadyDecidedError(f"appeal {appeal_id} was already decided; decisions are final")
        entry = AppealDecided(
            appeal_id, self._last_seq, self.account_id, outcome, decided_at, moderator, note, policy_version
        )
        self._remember(entry)
        return entry

    def append_action(
        self,
        kind: ActionKind,
        penalty_no: int,
        occurred_at: datetime,
        moderator: str,
        reason: str | None,
        policy_version: str | None = None,
    ) -> ModeratorAction:
        """Append a moderator's action on penalty ``penalty_no``."""
        values = {
            "kind": kind.value,
            "penalty_no": penalty_no,
            "occurred_at": occurred_at,
            "moderator": moderator,
            "reason": reason,
            "policy_version": policy_version,
        }
        new_id = self._append(_ACTIONS, values, ["account_id", "seq"], _ACTIONS.c.id)
        entry = ModeratorAction(
            new_id,
            self._last_seq,
            self.account_id,
            kind,
            penalty_no,
            occurred_at,
            moderator,
            reason,
            policy_version,
        )
        self._remember(entry)
        return entry

    def write_effects(self, entry: LedgerEntry, effects: Any) -> None:
        """Store what applying ``entry`` did, and the new snapshot, in this transaction.

        ``effects`` is a :class:`strikes.engine.Effects`: the violation's kind, the penalties issued and
        lifted, the notifications (the outbox) and the snapshot.
        """
        from strikes.engine import penalty_json, rule_json

        conn = self._conn
        if isinstance(entry, ViolationRecord):
            conn.execute(
                update(_VIOLATIONS)
                .where(_VIOLATIONS.c.id == entry.id)
                .values(kind=effects.kind.value, rule=rule_json(effects.rule), expires_at=effects.expires_at)
            )
        if effects.issued:
            rows = []
            for p in effects.issued:
                data = penalty_json(p)
                rows.append(
                    {
                        "account_id": self.account_id,
                        "no": p.no,
                        "seq": entry.seq,
                        "kind": p.kind.value,
                        "feature": data["feature"],
                        "step": p.step,
                        "starts_at": p.starts_at,
                        "ends_at": p.ends_at,
                        "rule": data["rule"],
                        "triggered_by": p.triggered_by,
                        "basis": list(p.basis),
                        "automated": p.automated,
                        "policy_version": p.policy_version,
                        "reviewed_by": p.reviewed_by,
                    }
                )
            conn.execute(_PENALTIES.insert(), rows)
        if effects.lifted:
            conn.execute(
                _LIFTS.insert(),
                [
                    {
                        "account_id": self.account_id,
                        "no": p.no,
                        "seq": entry.seq,
                        "lifted_at": p.lifted_at,
                        "cause": p.lift_cause.value,
                        "lifted_by": p.lifted_by,
                    }
                    for p in effects.lifted
                ],
            )
        insert_notifications(conn, effects.notifications)
        snapshot = effects.snapshot.to_json()
        conn.execute(
            update(_ACCOUNTS)
            .where(_ACCOUNTS.c.account_id == self.account_id)
            .values(last_seq=self._last_seq, snapshot=snapshot)
        )
        self.snapshot_json = snapshot

    def find_violation(self, content_id: str, policy: Policy) -> ViolationRecord | None:
        """The violation already recorded for (this account, ``content_id``, ``policy``), if any."""
        row = self._conn.execute(
            select(_VIOLATIONS).where(
                _VIOLATIONS.c.account_id == self.account_id,
                _VIOLATIONS.c.content_id == content_id,
                _VIOLATIONS.c.policy == policy.value,
            )
        ).first()
        return _violation_from(row) if row is not None else None

    def stored_effects(self, seq: int) -> tuple[list[Penalty], list[Notification]]:
        """The penalties issued by ledger entry ``seq`` and the notifications it sent."""
        penalties = [
            _penalty_from(row, None)
            for row in self._conn.execute(
                select(_PENALTIES).where(_PENALTIES.c.account_id == self.account_id, _PENALTIES.c.seq == seq)
            )
        ]
        notes = [
            _notification_from(row)
            for row in self._conn.execute(
                select(_NOTIFICATIONS)
                .where(_NOTIFICATIONS.c.account_id == self.account_id, _NOTIFICATIONS.c.seq == seq)
                .order_by(_NOTIFICATIONS.c.id)
            )
        ]
        return penalties, notes

    def violation(self, violation_id: int) -> ViolationRecord | None:
        """One of this account's violations by id."""
        row = self._conn.execute(
            select(_VIOLATIONS).where(
                _VIOLATIONS.c.id == violation_id, _VIOLATIONS.c.account_id == self.account_id
            )
        ).first()
        return _violation_from(row) if row is not None else None

    def appeal_of(self, violation_id: int) -> AppealFiled | None:
        """The appeal filed against ``violation_id``, if any."""
        row = self._conn.execute(select(_APPEALS).where(_APPEALS.c.violation_id == violation_id)).first()
        if row is None:
            return None
        return AppealFiled(row.id, row.seq, row.account_id, row.violation_id, row.filed_at, row.reason)

    def appeal(self, appeal_id: int) -> tuple[AppealFiled, AppealDecided | None] | None:
        """One of this account's appeals, with its decision if it has one."""
        row = self._conn.execute(
            select(_APPEALS).where(_APPEALS.c.id == appeal_id, _APPEALS.c.account_id == self.account_id)
        ).first()
        if row is None:
            return None
        filed = AppealFiled(row.id, row.seq, row.account_id, row.violation_id, row.filed_at, row.reason)
        d = self._conn.execute(select(_DECISIONS).where(_DECISIONS.c.appeal_id == appeal_id)).first()
        decided = None
        if d is not None:
            decided = AppealDecided(
                d.appeal_id, d.seq, d.account_id, AppealOutcome(d.outcome), d.decided_at, d.moderator, d.note
            )
        return filed, decided

    # strikes.engine.History
    def holds_content(self, content_id: str) -> bool:
        query = select(_VIOLATIONS.c.id).where(
            _VIOLATIONS.c.account_id == self.account_id,
            _VIOLATIONS.c.content_id == content_id,
            _VIOLATIONS.c.kind.in_([RecordKind.WARNING.value, RecordKind.STRIKE.value]),
            ~_OVERTURNED.where(_APPEALS.c.violation_id == _VIOLATIONS.c.id),
        )
        return self._conn.execute(query.limit(1)).first() is not None

    def active_strikes(self, at: datetime) -> list[Any]:
        from strikes.engine import StrikeRef

        query = (
            select(_VIOLATIONS)
            .where(
                _VIOLATIONS.c.account_id == self.account_id,
                _VIOLATIONS.c.kind == RecordKind.STRIKE.value,
                _VIOLATIONS.c.expires_at > at,
                ~_OVERTURNED.where(_APPEALS.c.violation_id == _VIOLATIONS.c.id),
            )
            .order_by(_VIOLATIONS.c.seq)
        )
        out = []
        for row in self._conn.execute(query):
            record = _violation_from(row)
            e = record.event
            out.append(StrikeRef(record.id, e.policy, e.feature, e.source, e.occurred_at, row.expires_at))
        return out

    def strike(self, violation_id: int) -> tuple[Any, RecordKind] | None:
        from strikes.engine import StrikeRef

        row = self._conn.execute(
            select(_VIOLATIONS).where(
                _VIOLATIONS.c.id == violation_id, _VIOLATIONS.c.account_id == self.account_id
            )
        ).first()
        if row is None or row.kind is None:
            return None
        e = _violation_from(row).event
        ref = StrikeRef(row.id, e.policy, e.feature, e.source, e.occurred_at, row.expires_at)
        return ref, RecordKind(row.kind)

    def is_overturned(self, violation_id: int) -> bool:
        query = select(_OVERTURNED.where(_APPEALS.c.violation_id == violation_id))
        return bool(self._conn.execute(query).scalar())

    def appealed_violation(self, appeal_id: int) -> int | None:
        return self._conn.execute(
            select(_APPEALS.c.violation_id).where(_APPEALS.c.id == appeal_id)
        ).scalar_one_or_none()


class Transaction:
    """One database transaction holding the write locks of several accounts (see ``lock_accounts``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._ledgers: dict[str, AccountLedger] = {}

    @property
    def connection(self) -> Connection:
        return self._conn

    def ledger(self, account_id: str) -> AccountLedger:
        """The account's locked ledger (locked now if it was not among those locked up front)."""
        if account_id not in self._ledgers:
            conn = self._conn
            # One round trip: create the row or, if it exists, lock it (the no-op update takes the
            # row lock on PostgreSQL; SQLite holds the database lock since BEGIN IMMEDIATE).
            insert = _insert_for(conn.dialect)(_ACCOUNTS).values(
                account_id=account_id, created_at=datetime.now(UTC), last_seq=0
            )
            stmt = insert.on_conflict_do_update(
                index_elements=["account_id"], set_={"last_seq": _ACCOUNTS.c.last_seq}
            ).returning(_ACCOUNTS.c.last_seq, _ACCOUNTS.c.snapshot)
            row = conn.execute(stmt).one()
            self._ledgers[account_id] = AccountLedger(conn, account_id, row.last_seq, row.snapshot)
        return self._ledgers[account_id]


def insert_notifications(conn: Connection, notes: Sequence[Notification]) -> None:
    """Append notices to the outbox within ``conn``'s transaction."""
    if not notes:
        return
    rows = [
        {
            "account_id": n.account_id,
            "seq": n.seq,
            "kind": n.kind.value,
            "message": n.message,
            "violation_id": n.violation_id,
            "penalty_no": n.penalty_no,
            "created_at": n.at,
        }
        for n in notes
    ]
    conn.execute(_NOTIFICATIONS.insert(), rows)


def _insert_for(dialect: Dialect) -> Any:
    # Both dialects spell INSERT ... ON CONFLICT DO NOTHING RETURNING the same way.
    return postgresql.insert if dialect.name == "postgresql" else sqlite.insert


def _enum(enum: type, value: str, table: str, key: object) -> Any:
    try:
        return enum(value)
    except ValueError:
        raise StorageError(
            f"{table} row {key} holds {enum.__name__} {value!r}, unknown to this version of Tegur; "
            "upgrade Tegur or fix the row"
        ) from None


# Built once: these run on every write. Core rather than ORM: ORM objects would only be unpacked.
_SELECT_VIOLATIONS = select(_VIOLATIONS).where(_VIOLATIONS.c.account_id == bindparam("account_id"))
_SELECT_APPEALS = select(_APPEALS).where(_APPEALS.c.account_id == bindparam("account_id"))
_SELECT_DECISIONS = select(_DECISIONS).where(_DECISIONS.c.account_id == bindparam("account_id"))
_SELECT_ACTIONS = select(_ACTIONS).where(_ACTIONS.c.account_id == bindparam("account_id"))
#: EXISTS (an overturning decision on an appeal of ...): add ``.where(_APPEALS.c.violation_id == ...)``.
_OVERTURNED = (
    exists()
    .select_from(_APPEALS.join(_DECISIONS, _DECISIONS.c.appeal_id == _APPEALS.c.id))
    .where(_DECISIONS.c.outcome == AppealOutcome.OVERTURN.value)
)


def _violation_from(row: Any) -> ViolationRecord:
    table = _VIOLATIONS.name
    event = ViolationEvent(
        account_id=row.account_id,
        policy=_enum(Policy, row.policy, table, row.id),
        feature=_enum(Feature, row.feature, table, row.id),
        content_id=row.content_id,
        occurred_at=row.occurred_at,
        source=_enum(EventSource, row.source, table, row.id),
        evidence=row.evidence or {},
        actor=row.actor,
    )
    return ViolationRecord(row.id, row.seq, event, row.recorded_at, row.policy_version)


def _penalty_from(row: Any, lift: Any) -> Penalty:
    from strikes.engine import rule_from_json

    return Penalty(
        kind=_enum(PenaltyKind, row.kind, _PENALTIES.name, row.no),
        starts_at=row.starts_at,
        rule=rule_from_json(row.rule),
        triggered_by=row.triggered_by,
        feature=Feature(row.feature) if row.feature else None,
        ends_at=row.ends_at,
        step=row.step,
        lifted_at=lift.lifted_at if lift is not None else None,
        lift_cause=LiftCause(lift.cause) if lift is not None else None,
        lifted_by=lift.lifted_by if lift is not None else None,
        no=row.no,
        basis=tuple(row.basis),
        automated=bool(row.automated),
        policy_version=row.policy_version,
        reviewed_by=row.reviewed_by,
    )


def _notification_from(row: Any) -> Notification:
    return Notification(
        kind=_enum(NotificationKind, row.kind, _NOTIFICATIONS.name, row.id),
        account_id=row.account_id,
        message=row.message,
        violation_id=row.violation_id,
        penalty_no=row.penalty_no,
        at=row.created_at,
        seq=row.seq,
    )


def _load_ledger(conn: Connection, account_id: str) -> list[LedgerEntry]:
    entries: list[LedgerEntry] = []
    params = {"account_id": account_id}
    for row in conn.execute(_SELECT_VIOLATIONS, params):
        entries.append(_violation_from(row))
    for row in conn.execute(_SELECT_APPEALS, params):
        entries.append(
            AppealFiled(row.id, row.seq, row.account_id, row.violation_id, row.filed_at, row.reason)
        )
    for row in conn.execute(_SELECT_DECISIONS, params):
        outcome = _enum(AppealOutcome, row.outcome, _DECISIONS.name, row.appeal_id)
        entries.append(
            AppealDecided(
                row.appeal_id,
                row.seq,
                row.account_id,
                outcome,
                row.decided_at,
                row.moderator,
                row.note,
                row.policy_version,
            )
        )
    for row in conn.execute(_SELECT_ACTIONS, params):
        entries.append(
            ModeratorAction(
                row.id,
                row.seq,
                row.account_id,
                _enum(ActionKind, row.kind, _ACTIONS.name, row.id),
                row.penalty_no,
                row.occurred_at,
                row.moderator,
                row.reason,
                row.policy_version,
            )
        )
    entries.sort(key=lambda e: e.seq)
    return entries


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    config.attributes["connection"] = connection
    return config


class StrikeStore:
    """The strike ledger in a database.

    Args:
        database_url: ``sqlite:///path/to/strikes.db`` or ``postgresql+psycopg://user@host/db``
            (``postgresql://`` is accepted and run on psycopg 3).
    """

    def __init__(self, database_url: str | URL) -> None:
        self.url = normalise_database_url(database_url)
        self.engine = _make_engine(self.url)
        options: dict[str, Any] = {_READ_ONLY: True}
        if self.url.get_backend_name() == "postgresql":
            # Reads take three SELECTs; one snapshot keeps an appeal and its decision consistent.
            options["isolation_level"] = "REPEATABLE READ"
        self._read_engine = self.engine.execution_options(**options)

    @property
    def display_url(self) -> str:
        """The URL with its password hidden, for messages and logs."""
        return self.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.url.get_backend_name()

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except (OperationalError, InterfaceError) as exc:
            reason = str(exc.orig or exc)
            hint = ""
            if "unable to open" in reason:
                hint = "; check that the folder exists and is writable"
            elif "database is locked" in reason:
                hint = f"; another process held the write lock for over {_SQLITE_BUSY_TIMEOUT_S} s"
            raise StorageError(f"database {self.display_url}: {reason}{hint}") from exc

    def migrate(self) -> str:
        """Upgrade the schema to the newest migration; return that revision."""
        from alembic import command

        with self._errors(), self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Two servers starting at once must not both create the tables.
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            command.upgrade(_alembic_config(conn), "head")
        head = self.head_revision()
        logger.info("strike schema of %s is at revision %s", self.display_url, head)
        return head

    def head_revision(self) -> str:
        """The newest migration this code ships."""
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(_alembic_config(None)).get_current_head()
        if head is None:  # pragma: no cover - the package ships its migrations
            raise StorageError("no strike migrations found in strikes/migrations")
        return head

    def current_revision(self) -> str | None:
        """The database's schema revision, or None if it was never migrated."""
        from alembic.runtime.migration import MigrationContext

        with self._errors(), self._read_engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()

    def ensure_schema(self, *, migrate: bool) -> None:
        """Check that the schema is current; upgrade it if ``migrate``, else raise.

        Raises:
            StorageError: The schema is behind and ``migrate`` is false, or the database is unreachable.
        """
        current, head = self.current_revision(), self.head_revision()
        if current == head:
            return
        if migrate:
            self.migrate()
            return
        raise StorageError(
            f"database {self.display_url} is at strike schema revision {current or 'none (empty)'}, "
            f"this code needs {head}; run `tegur strikes migrate --db {self.display_url}`"
        )

    @contextmanager
    def lock_account(self, account_id: str) -> Iterator[AccountLedger]:
        """Open a transaction holding ``account_id``'s write lock; commit on success, roll back on error.

        Yields:
            The account's ledger, with methods to append to it.
        """
        with self.lock_accounts([account_id]) as tx:
            yield tx.ledger(account_id)

    @contextmanager
    def lock_accounts(self, account_ids: list[str]) -> Iterator[Transaction]:
        """One transaction holding the write locks of ``account_ids`` (taken in sorted order, so two
        batches naming the same accounts cannot deadlock); commit on success, roll back on error."""
        with self._errors(), self.engine.begin() as conn:
            tx = Transaction(conn)
            for account_id in sorted(set(account_ids)):
                tx.ledger(account_id)
            yield tx

    def read_ledger(self, account_id: str) -> list[LedgerEntry]:
        """One consistent snapshot of ``account_id``'s ledger, in ledger order (empty if unknown)."""
        with self._errors(), self._read_engine.begin() as conn:
            return _load_ledger(conn, account_id)

    def account_of_violation(self, violation_id: int) -> str | None:
        """The account a violation id belongs to, or None if no such violation."""
        with self._errors(), self._read_engine.begin() as conn:
            query = select(_VIOLATIONS.c.account_id).where(_VIOLATIONS.c.id == violation_id)
            return conn.execute(query).scalar_one_or_none()

    def account_of_appeal(self, appeal_id: int) -> str | None:
        """The account an appeal id belongs to, or None if no such appeal."""
        with self._errors(), self._read_engine.begin() as conn:
            return conn.execute(
                select(_APPEALS.c.account_id).where(_APPEALS.c.id == appeal_id)
            ).scalar_one_or_none()

    def read_penalties(self, account_id: str) -> list[Penalty]:
        """Every penalty issued to the account, with its lift if it was lifted, in issue order."""
        with self._errors(), self._read_engine.begin() as conn:
            lifts = {
                row.no: row for row in conn.execute(select(_LIFTS).where(_LIFTS.c.account_id == account_id))
            }
            rows = conn.execute(
                select(_PENALTIES).where(_PENALTIES.c.account_id == account_id).order_by(_PENALTIES.c.no)
            )
            return [_penalty_from(row, lifts.get(row.no)) for row in rows]

    def read_kinds(self, account_id: str) -> dict[int, tuple[str | None, dict[str, Any] | None]]:
        """The stored decision (kind, rule) of each of the account's violations, by id."""
        with self._errors(), self._read_engine.begin() as conn:
            query = select(_VIOLATIONS.c.id, _VIOLATIONS.c.kind, _VIOLATIONS.c.rule).where(
                _VIOLATIONS.c.account_id == account_id
            )
            return {row.id: (row.kind, row.rule) for row in conn.execute(query)}

    def read_snapshot(self, account_id: str) -> tuple[int, dict[str, Any] | None] | None:
        """The account's (last_seq, snapshot JSON), or None for an unknown account."""
        with self._errors(), self._read_engine.begin() as conn:
            query = select(_ACCOUNTS.c.last_seq, _ACCOUNTS.c.snapshot).where(
                _ACCOUNTS.c.account_id == account_id
            )
            row = conn.execute(query).first()
            return (row.last_seq, row.snapshot) if row is not None else None

    def notifications(
        self, account_id: str, *, after: int = 0, limit: int = 50, seq_from: int | None = None
    ) -> list[tuple[int, Notification]]:
        """The account's notifications with an id above ``after`` (the cursor), oldest first."""
        with self._errors(), self._read_engine.begin() as conn:
            query = (
                select(_NOTIFICATIONS)
                .where(_NOTIFICATIONS.c.account_id == account_id, _NOTIFICATIONS.c.id > after)
                .order_by(_NOTIFICATIONS.c.id)
                .limit(limit)
            )
            return [(row.id, _notification_from(row)) for row in conn.execute(query)]

    def account_ids(self, *, after: str = "", limit: int = 1000) -> list[str]:
        """Account ids with a ledger, in order, ``limit`` at a time from after ``after``."""
        with self._errors(), self._read_engine.begin() as conn:
            query = (
                select(_ACCOUNTS.c.account_id)
                .where(_ACCOUNTS.c.account_id > after)
                .order_by(_ACCOUNTS.c.account_id)
                .limit(limit)
            )
            return list(conn.execute(query).scalars())

    def save_policy(self, policy: Any) -> None:
        """Keep the policy's rules under its version (once), so replays can use the same rules."""
        with self._errors(), self.engine.begin() as conn:
            conn.execute(
                _insert_for(conn.dialect)(_POLICIES)
                .values(
                    version=policy.version,
                    name=policy.name,
                    body=policy.model_dump(mode="json"),
                    first_used_at=datetime.now(UTC),
                )
                .on_conflict_do_nothing(index_elements=["version"])
            )

    def load_policies(self) -> dict[str, Any]:
        """Every stored policy version, validated again."""
        from strikes.policy import StrikePolicy

        with self._errors(), self._read_engine.begin() as conn:
            rows = list(conn.execute(select(_POLICIES)))
        return {row.version: StrikePolicy.model_validate(row.body) for row in rows}

    def add_report(self, values: dict[str, Any]) -> int:
        """Store a report; return its id."""
        with self._errors(), self.engine.begin() as conn:
            return conn.execute(_REPORTS.insert().values(**values).returning(_REPORTS.c.id)).scalar_one()

    def report(self, report_id: int) -> Any:
        with self._errors(), self._read_engine.begin() as conn:
            return conn.execute(select(_REPORTS).where(_REPORTS.c.id == report_id)).first()

    def reports(
        self, *, reporter_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[Any]:
        """Reports by ``reporter_id`` and/or in ``status``, oldest first."""
        query = select(_REPORTS).order_by(_REPORTS.c.id).limit(limit)
        if reporter_id is not None:
            query = query.where(_REPORTS.c.reporter_id == reporter_id)
        if status is not None:
            query = query.where(_REPORTS.c.status == status)
        with self._errors(), self._read_engine.begin() as conn:
            return list(conn.execute(query))

    def resolve_report(self, conn: Connection, report_id: int, values: dict[str, Any]) -> bool:
        """Mark an open report resolved within ``conn``'s transaction; False if it was not open."""
        result = conn.execute(
            update(_REPORTS).where(_REPORTS.c.id == report_id, _REPORTS.c.status == "open").values(**values)
        )
        return result.rowcount == 1

    def add_notifications(self, conn: Connection, notes: list[Notification]) -> None:
        """Put notices that belong to no ledger entry (report outcomes) into the outbox."""
        insert_notifications(conn, notes)

    def pending_reviews(self, limit: int = 100) -> list[Penalty]:
        """Review holds (automated bans) that no moderator has confirmed or rejected yet, oldest first."""
        query = (
            select(_PENALTIES)
            .outerjoin(
                _LIFTS, and_(_LIFTS.c.account_id == _PENALTIES.c.account_id, _LIFTS.c.no == _PENALTIES.c.no)
            )
            .where(_PENALTIES.c.kind == PenaltyKind.REVIEW_HOLD.value, _LIFTS.c.no.is_(None))
            .order_by(_PENALTIES.c.starts_at)
            .limit(limit)
        )
        with self._errors(), self._read_engine.begin() as conn:
            return [(row.account_id, _penalty_from(row, None)) for row in conn.execute(query)]  # type: ignore[misc]

    def count_violations(self) -> int:
        """How many violations the ledger holds (all accounts)."""
        with self._errors(), self._read_engine.begin() as conn:
            return conn.execute(select(func.count()).select_from(_VIOLATIONS)).scalar_one()


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path)}"

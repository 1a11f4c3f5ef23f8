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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Dialect,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
    create_engine,
    event,
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
    AppealDecided,
    AppealFiled,
    AppealOutcome,
    EventSource,
    Feature,
    LedgerEntry,
    Policy,
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


_ACCOUNTS: Table = AccountRow.__table__  # type: ignore[assignment]
_VIOLATIONS: Table = ViolationRow.__table__  # type: ignore[assignment]
_APPEALS: Table = AppealRow.__table__  # type: ignore[assignment]
_DECISIONS: Table = AppealDecisionRow.__table__  # type: ignore[assignment]


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
        engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True)


class AccountLedger:
    """One account's ledger, locked for writing until the surrounding transaction ends.

    Attributes:
        account_id: The account.
        entries: Its ledger as of the lock, plus whatever was appended since.
    """

    def __init__(self, conn: Connection, account_id: str, last_seq: int) -> None:
        self._conn = conn
        self._last_seq = last_seq
        self.account_id = account_id
        self.entries = _load_ledger(conn, account_id)

    def reload(self) -> None:
        """Read the ledger again within the transaction."""
        self.entries = _load_ledger(self._conn, self.account_id)

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
            self._conn.execute(_ADVANCE_ACCOUNT, {"b_account_id": self.account_id, "b_seq": seq})
            self._last_seq = seq
        return key

    def append_violation(self, event: ViolationEvent, recorded_at: datetime) -> ViolationRecord | None:
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
        }
        new_id = self._append(_VIOLATIONS, values, ["account_id", "content_id", "policy"], _VIOLATIONS.c.id)
        if new_id is None:
            return None
        record = ViolationRecord(new_id, self._last_seq, event, recorded_at)
        self.entries.append(record)
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
        self.entries.append(entry)
        return entry

    def append_appeal_decision(
        self, appeal_id: int, outcome: AppealOutcome, decided_at: datetime, moderator: str, note: str | None
    ) -> AppealDecided:
        """Append the decision on ``appeal_id``."""
        values = {
            "appeal_id": appeal_id,
            "outcome": outcome.value,
            "decided_at": decided_at,
            "moderator": moderator,
            "note": note,
        }
        if self._append(_DECISIONS, values, ["appeal_id"], _DECISIONS.c.appeal_id) is None:
            raise AppealAlreadyDecidedError(f"appeal {appeal_id} was already decided; decisions are final")
        entry = AppealDecided(
            appeal_id, self._last_seq, self.account_id, outcome, decided_at, moderator, note
        )
        self.entries.append(entry)
        return entry


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
_LOCK_ACCOUNT = (
    select(_ACCOUNTS.c.last_seq).where(_ACCOUNTS.c.account_id == bindparam("account_id")).with_for_update()
)
_ADVANCE_ACCOUNT = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.account_id == bindparam("b_account_id"))
    .values(last_seq=bindparam("b_seq"))
)


def _load_ledger(conn: Connection, account_id: str) -> list[LedgerEntry]:
    entries: list[LedgerEntry] = []
    table = _VIOLATIONS.name
    params = {"account_id": account_id}
    for row in conn.execute(_SELECT_VIOLATIONS, params):
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
        entries.append(ViolationRecord(row.id, row.seq, event, row.recorded_at))
    for row in conn.execute(_SELECT_APPEALS, params):
        entries.append(
            AppealFiled(row.id, row.seq, row.account_id, row.violation_id, row.filed_at, row.reason)
        )
    for row in conn.execute(_SELECT_DECISIONS, params):
        outcome = _enum(AppealOutcome, row.outcome, _DECISIONS.name, row.appeal_id)
        entries.append(
            AppealDecided(
                row.appeal_id, row.seq, row.account_id, outcome, row.decided_at, row.moderator, row.note
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
        with self._errors(), self.engine.begin() as conn:
            conn.execute(
                _insert_for(conn.dialect)(_ACCOUNTS)
                .values(account_id=account_id, created_at=datetime.now(UTC), last_seq=0)
                .on_conflict_do_nothing(index_elements=["account_id"])
            )
            last_seq = conn.execute(_LOCK_ACCOUNT, {"account_id": account_id}).scalar_one()
            yield AccountLedger(conn, account_id, last_seq)

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

    def count_violations(self) -> int:
        """How many violations the ledger holds (all accounts)."""
        with self._errors(), self._read_engine.begin() as conn:
            return conn.execute(select(func.count()).select_from(_VIOLATIONS)).scalar_one()


def sqlite_url(path: str | Path) -> str:
    """The SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{Path(path)}"

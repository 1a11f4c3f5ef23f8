"""`tegur strikes migrate|status|check-policy` through the real `tegur` app."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from strikes.domain import EventSource, Feature, Policy, ViolationEvent
from strikes.errors import InvalidEventError, StorageError
from strikes.policy import load_strike_policy
from strikes.service import StrikeService
from strikes.storage import StrikeStore, sqlite_url
from strikes.testing import Clock
from tegur.cli import app
from tegur.errors import ConfigError

T0 = datetime(2024, 1, 1, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture()
def db(tmp_path: Path) -> str:
    return sqlite_url(tmp_path / "strikes.db")


def _ban(db: str, repo_root: Path) -> None:
    clock = Clock(T0)
    service = StrikeService(
        StrikeStore(db), load_strike_policy(repo_root / "configs" / "strikes.yaml"), clock=clock
    )
    try:
        for day in range(5):
            clock.now = T0 + timedelta(days=day)
            service.record_violation(
                ViolationEvent(
                    "acct-9",
                    Policy.BULLYING,
                    Feature.LIVE,
                    f"m{day}",
                    T0 + timedelta(days=day),
                    EventSource.MODERATOR,
                )
            )
    finally:
        service.close()


def test_migrate_then_status(db: str, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo_root)  # the default policy path is relative
    first = runner.invoke(app, ["strikes", "migrate", "--db", db])
    assert first.exit_code == 0, first.output
    assert "upgraded from empty to schema revision 0002" in first.output
    again = runner.invoke(app, ["strikes", "migrate", "--db", db])
    assert "already at schema revision 0002" in again.output

    _ban(db, repo_root)
    shown = runner.invoke(app, ["strikes", "status", "acct-9", "--db", db])
    assert shown.exit_code == 0, shown.output
    assert "acct-9: permanently banned" in shown.output
    assert "bullying" in shown.output

    as_json = runner.invoke(
        app, ["strikes", "status", "acct-9", "--db", db, "--json", "--as-of", "2024-01-03T12:00Z"]
    )
    status = json.loads(as_json.output)
    assert status["banned"] is False
    assert status["restricted_until"] == {"live": "2024-01-05T00:00:00Z"}
    assert [s["kind"] for s in status["history"]] == ["warning", "strike", "strike"]


def test_status_refuses_an_unmigrated_database(
    db: str, repo_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo_root)
    result = runner.invoke(app, ["strikes", "status", "acct", "--db", db])
    assert isinstance(result.exception, StorageError)
    assert "tegur strikes migrate --db" in str(result.exception)


@pytest.mark.parametrize(
    ("as_of", "message"),
    [("2024-01-01T00:00", "has no timezone"), ("yesterday", "is not an ISO 8601 date-time")],
)
def test_status_as_of_needs_a_timezone(db: str, repo_root: Path, as_of: str, message: str) -> None:
    result = runner.invoke(app, ["strikes", "status", "a", "--db", db, "--as-of", as_of])
    assert isinstance(result.exception, InvalidEventError)
    assert message in str(result.exception)


def test_check_policy(repo_root: Path, tmp_path: Path) -> None:
    good = runner.invoke(app, ["strikes", "check-policy", str(repo_root / "configs" / "strikes.yaml")])
    assert good.exit_code == 0, good.output
    assert "valid" in good.output
    assert "violent_threat" in good.output and "bans at once" in good.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("cumulative_threshold: 1\npolicies: {}\nfeatures: {}\n", encoding="utf-8")
    result = runner.invoke(app, ["strikes", "check-policy", str(bad)])
    assert isinstance(result.exception, ConfigError)
    assert "policies: missing bullying" in str(result.exception)


def test_verify_replays_every_account(db: str, repo_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(repo_root)
    assert runner.invoke(app, ["strikes", "migrate", "--db", db]).exit_code == 0
    _ban(db, repo_root)
    good = runner.invoke(app, ["strikes", "verify", "--db", db])
    assert good.exit_code == 0, good.output
    assert "1 accounts verified" in good.output
    # Tamper with the snapshot: verify names the account and fails.
    store = StrikeStore(db)
    try:
        with store.engine.begin() as conn:
            conn.execute(
                text("UPDATE strike_accounts SET snapshot = json_set(snapshot, '$.warning_id', 999)")
            )
    finally:
        store.close()
    bad = runner.invoke(app, ["strikes", "verify", "--db", db])
    assert bad.exit_code == 1
    assert "acct-9: snapshot differs from the full replay" in bad.output

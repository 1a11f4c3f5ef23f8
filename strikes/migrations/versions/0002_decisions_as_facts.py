"""Decisions as facts: stored decisions, penalties, lifts, the notification outbox, per-account
snapshots, moderator actions, policy versions and user reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Existing ledgers keep their entries; their decisions are derived once, by the service, the first
time each account is written or verified (``tegur strikes verify`` does it for all of them).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from strikes.storage import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("strike_accounts") as batch:
        batch.add_column(sa.Column("snapshot", sa.JSON(), nullable=True))
    with op.batch_alter_table("strike_violations") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=True))
        batch.add_column(sa.Column("rule", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("expires_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("policy_version", sa.String(32), nullable=True))
    with op.batch_alter_table("strike_appeal_decisions") as batch:
        batch.add_column(sa.Column("policy_version", sa.String(32), nullable=True))

    op.create_table(
        "strike_actions",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("penalty_no", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("moderator", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("policy_version", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["strike_accounts.account_id"],
            name=op.f("fk_strike_actions_account_id_strike_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strike_actions")),
        sa.UniqueConstraint("account_id", "seq", name=op.f("uq_strike_actions_account_id_seq")),
    )
    op.create_table(
        "strike_penalties",
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("feature", sa.String(32), nullable=True),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=True),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("triggered_by", _Id, nullable=False),
        sa.Column("basis", sa.JSON(), nullable=False),
        sa.Column("automated", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.String(32), nullable=False),
        sa.Column("reviewed_by", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["strike_accounts.account_id"],
            name=op.f("fk_strike_penalties_account_id_strike_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", "no", name=op.f("pk_strike_penalties")),
    )
    op.create_table(
        "strike_penalty_lifts",
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("no", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("lifted_at", UTCDateTime(), nullable=False),
        sa.Column("cause", sa.String(32), nullable=False),
        sa.Column("lifted_by", _Id, nullable=True),
        sa.PrimaryKeyConstraint("account_id", "no", name=op.f("pk_strike_penalty_lifts")),
    )
    op.create_table(
        "strike_notifications",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("violation_id", _Id, nullable=True),
        sa.Column("penalty_no", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strike_notifications")),
    )
    op.create_index("ix_strike_notifications_account_id_id", "strike_notifications", ["account_id", "id"])
    op.create_table(
        "strike_policies",
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("first_used_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_strike_policies")),
    )
    op.create_table(
        "strike_reports",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("reporter_id", sa.String(128), nullable=False),
        sa.Column("target_account_id", sa.String(128), nullable=False),
        sa.Column("content_id", sa.String(256), nullable=True),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("feature", sa.String(32), nullable=False),
        sa.Column("details", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("moderator", sa.String(128), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=True),
        sa.Column("violation_id", _Id, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strike_reports")),
    )
    op.create_index("ix_strike_reports_reporter_id", "strike_reports", ["reporter_id"])


def downgrade() -> None:
    op.drop_index("ix_strike_reports_reporter_id", "strike_reports")
    op.drop_table("strike_reports")
    op.drop_table("strike_policies")
    op.drop_index("ix_strike_notifications_account_id_id", "strike_notifications")
    op.drop_table("strike_notifications")
    op.drop_table("strike_penalty_lifts")
    op.drop_table("strike_penalties")
    op.drop_table("strike_actions")
    with op.batch_alter_table("strike_appeal_decisions") as batch:
        batch.drop_column("policy_version")
    with op.batch_alter_table("strike_violations") as batch:
        for column in ("policy_version", "expires_at", "rule", "kind"):
            batch.drop_column(column)
    with op.batch_alter_table("strike_accounts") as batch:
        batch.drop_column("snapshot")

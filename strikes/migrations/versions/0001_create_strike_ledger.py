"""Create the strike ledger: accounts, violations, appeals, appeal decisions.

Revision ID: 0001
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from strikes.storage import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "strike_accounts",
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_strike_accounts")),
    )
    op.create_table(
        "strike_violations",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(64), nullable=False),
        sa.Column("feature", sa.String(32), nullable=False),
        sa.Column("content_id", sa.String(256), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(128), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["strike_accounts.account_id"],
            name=op.f("fk_strike_violations_account_id_strike_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strike_violations")),
        sa.UniqueConstraint(
            "account_id",
            "content_id",
            "policy",
            name=op.f("uq_strike_violations_account_id_content_id_policy"),
        ),
        sa.UniqueConstraint("account_id", "seq", name=op.f("uq_strike_violations_account_id_seq")),
    )
    op.create_table(
        "strike_appeals",
        sa.Column("id", _Id, autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("violation_id", _Id, nullable=False),
        sa.Column("filed_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["strike_accounts.account_id"],
            name=op.f("fk_strike_appeals_account_id_strike_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["violation_id"],
            ["strike_violations.id"],
            name=op.f("fk_strike_appeals_violation_id_strike_violations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_strike_appeals")),
        sa.UniqueConstraint("account_id", "seq", name=op.f("uq_strike_appeals_account_id_seq")),
        sa.UniqueConstraint("violation_id", name=op.f("uq_strike_appeals_violation_id")),
    )
    op.create_table(
        "strike_appeal_decisions",
        sa.Column("appeal_id", _Id, autoincrement=False, nullable=False),
        sa.Column("account_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.Column("moderator", sa.String(128), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["strike_accounts.account_id"],
            name=op.f("fk_strike_appeal_decisions_account_id_strike_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["appeal_id"],
            ["strike_appeals.id"],
            name=op.f("fk_strike_appeal_decisions_appeal_id_strike_appeals"),
        ),
        sa.PrimaryKeyConstraint("appeal_id", name=op.f("pk_strike_appeal_decisions")),
        sa.UniqueConstraint("account_id", "seq", name=op.f("uq_strike_appeal_decisions_account_id_seq")),
    )


def downgrade() -> None:
    op.drop_table("strike_appeal_decisions")
    op.drop_table("strike_appeals")
    op.drop_table("strike_violations")
    op.drop_table("strike_accounts")

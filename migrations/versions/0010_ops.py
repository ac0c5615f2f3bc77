"""Operations: kept verification runs (what was checked, when, and each failure's first
difference) and the SMS workers' heartbeats.

Revision ID: 0010_ops
Revises: 0003_indexes (the file 0003_read_indexes.py)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_ops"
down_revision = "0003_indexes"
branch_labels = ("ops",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "verification_runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("programme_id", BigId, nullable=False),
        sa.Column("scope", sa.String(length=12), nullable=False),
        sa.Column("trigger", sa.String(length=12), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("groups_checked", sa.Integer(), nullable=False),
        sa.Column("entries_checked", sa.BigInteger(), nullable=False),
        sa.Column("failed_groups", sa.Integer(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["programme_id"], ["programmes.id"],
                                name="fk_verification_runs_programme_id_programmes"),
        sa.PrimaryKeyConstraint("id", name="pk_verification_runs"),
        sa.CheckConstraint("scope IN ('all', 'programme', 'group')",
                           name="ck_verification_runs_scope_known"),
        sa.CheckConstraint("trigger IN ('schedule', 'command', 'api')",
                           name="ck_verification_runs_trigger_known"),
    )
    op.create_index("ix_verification_runs_programme_started", "verification_runs",
                    ["programme_id", "started_at"])
    op.create_table(
        "sms_worker_heartbeats",
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("beat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("worker", name="pk_sms_worker_heartbeats"),
    )


def downgrade() -> None:
    op.drop_table("sms_worker_heartbeats")
    op.drop_index("ix_verification_runs_programme_started", table_name="verification_runs")
    op.drop_table("verification_runs")

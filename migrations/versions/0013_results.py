"""Programme results: a loan's purpose, the purposes a programme keeps, indicators with targets by
period, and the trail of changes to indicators and targets.

- loans.purpose: nullable, no default: loans recorded before keep no purpose (SQLite adds the
  column in place, PostgreSQL without rewriting the table).
- loan_purposes, indicators, indicator_targets, results_changes: new tables
  (vision_ledger/results_models.py).

Revision ID: 0013_results
Revises: 0004_programmes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_results"
down_revision = "0004_programmes"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW = sa.DateTime(timezone=True)


def _programme(table: str) -> sa.Column:
    return sa.Column("programme_id", BigId, sa.ForeignKey(
        "programmes.id", name=f"fk_{table}_programme_id_programmes"), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("loans") as batch:
        batch.add_column(sa.Column("purpose", sa.String(40), nullable=True))
    op.create_table(
        "loan_purposes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        _programme("loan_purposes"),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("titles", sa.JSON(), nullable=False),
        sa.Column("business", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_loan_purposes"),
        sa.UniqueConstraint("programme_id", "code", name="uq_loan_purposes_programme_id_code"),
    )
    op.create_table(
        "indicators",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        _programme("indicators"),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("titles", sa.JSON(), nullable=False),
        sa.Column("measure", sa.String(40), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("breakdowns", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", NOW, nullable=False),
        sa.Column("updated_at", NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_indicators"),
        sa.UniqueConstraint("programme_id", "code", name="uq_indicators_programme_id_code"),
    )
    op.create_table(
        "indicator_targets",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        _programme("indicator_targets"),
        sa.Column("indicator_id", BigId, sa.ForeignKey(
            "indicators.id", name="fk_indicator_targets_indicator_id_indicators"), nullable=False),
        sa.Column("period", sa.String(6), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_indicator_targets"),
        sa.UniqueConstraint("indicator_id", "period", name="uq_indicator_targets_indicator_id_period"),
        sa.CheckConstraint("value >= 0", name="ck_indicator_targets_value_not_negative"),
    )
    op.create_table(
        "results_changes",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        _programme("results_changes"),
        sa.Column("indicator_code", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(10), nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("period", sa.String(6), nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(10), nullable=False),
        sa.Column("changed_at", NOW, nullable=False),
        sa.Column("old", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_results_changes"),
        sa.CheckConstraint("subject IN ('indicator', 'target')", name="ck_results_changes_subject_known"),
        sa.CheckConstraint("action IN ('create', 'update', 'delete')",
                           name="ck_results_changes_action_known"),
    )
    op.create_index("ix_results_changes_programme_changed", "results_changes",
                    ["programme_id", "changed_at"])


def downgrade() -> None:
    op.drop_index("ix_results_changes_programme_changed", table_name="results_changes")
    for table in ("results_changes", "indicator_targets", "indicators", "loan_purposes"):
        op.drop_table(table)
    with op.batch_alter_table("loans") as batch:
        batch.drop_column("purpose")

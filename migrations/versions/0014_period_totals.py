"""Per-period totals beside the ledger: per group and day, the sums the measures read, and each
group's high-water mark (vision_ledger/metrics/tables.py). Filled by `vision-ledger totals
refresh` (and the SMS worker's periodic jobs); empty tables are correct, only slower to read.

Revision ID: 0014_period_totals
Revises: 0003_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_period_totals"
down_revision = "0003_indexes"
branch_labels = ("totals",)
depends_on = None


def _sums(*names: str) -> list[sa.Column]:
    return [sa.Column(n, sa.BigInteger(), server_default="0", nullable=False) for n in names]


def _group_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name=f"fk_{table}_group_id_groups")


def upgrade() -> None:
    op.create_table(
        "totals_marks",
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        *_sums("seq", "meeting_id", "from_seq", "from_meeting_id"),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
        _group_fk("totals_marks"),
        sa.PrimaryKeyConstraint("group_id", name="pk_totals_marks"),
    )
    op.create_table(
        "group_day_totals",
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_sums("loan_fund_cash", "loan_fund_cash_share_out", "social_fund_cash",
               "social_fund_cash_share_out", "service_charges", "fines", "cash_variance", "grants",
               "grant_entries", "meetings"),
        _group_fk("group_day_totals"),
        sa.PrimaryKeyConstraint("group_id", "day", name="pk_group_day_totals"),
    )
    op.create_table(
        "member_day_totals",
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_sums("shares", "shares_share_out", "receivable", "receivable_share_out", "present",
               "attendance_rows"),
        _group_fk("member_day_totals"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name="fk_member_day_totals_member_id_members"),
        sa.PrimaryKeyConstraint("group_id", "member_id", "day", name="pk_member_day_totals"),
    )
    op.create_table(
        "loan_day_totals",
        sa.Column("group_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("loan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        *_sums("outstanding", "owed", "repaid", "written_off"),
        _group_fk("loan_day_totals"),
        sa.PrimaryKeyConstraint("group_id", "loan_id", "day", name="pk_loan_day_totals"),
    )


def downgrade() -> None:
    for table in ("loan_day_totals", "member_day_totals", "group_day_totals", "totals_marks"):
        op.drop_table(table)

"""Per-member span totals beside the day rows: each member's sums per calendar month, per calendar
year and over everything folded (her position), so a closing balance or a period's flow reads a few
rows a member whatever her history (vision_ledger/metrics/spans.py). Also the day rows' (group, day)
index the spans' edges read. Filled by `vision-ledger totals refresh` like the day rows; this
revision fills them from the day rows already folded, so the marks stay true.

Revision ID: 0016_period_positions
Revises: 0014_period_totals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016_period_positions"
down_revision = "0014_period_totals"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
SUMS = ("shares", "receivable", "present", "attendance_rows")


def upgrade() -> None:
    op.create_index("ix_member_day_totals_group_day", "member_day_totals", ["group_id", "day"])
    op.create_table(
        "member_span_totals",
        sa.Column("group_id", BigId, nullable=False),
        sa.Column("span", sa.String(5), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        *[sa.Column(n, sa.BigInteger(), server_default="0", nullable=False) for n in SUMS],
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="fk_member_span_totals_group_id_groups"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name="fk_member_span_totals_member_id_members"),
        sa.PrimaryKeyConstraint("group_id", "span", "start", "member_id", name="pk_member_span_totals"),
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    month = "CAST(date_trunc('month', day) AS DATE)" if postgresql else "date(day, 'start of month')"
    year = "CAST(date_trunc('year', start) AS DATE)" if postgresql else "date(start, 'start of year')"
    sums = ", ".join(f"sum({n})" for n in SUMS)
    columns = f"group_id, span, start, member_id, {', '.join(SUMS)}"
    op.execute(f"INSERT INTO member_span_totals ({columns}) SELECT group_id, 'month', {month}, member_id, "
               f"{sums} FROM member_day_totals GROUP BY group_id, member_id, {month}")
    op.execute(f"INSERT INTO member_span_totals ({columns}) SELECT group_id, 'year', {year}, member_id, "
               f"{sums} FROM member_span_totals WHERE span = 'month' GROUP BY group_id, member_id, {year}")
    first = "DATE '0001-01-01'" if postgresql else "'0001-01-01'"  # the position's key, as spans.POSITION
    op.execute(f"INSERT INTO member_span_totals ({columns}) SELECT group_id, 'all', {first}, member_id, "
               f"{sums} FROM member_span_totals WHERE span = 'year' GROUP BY group_id, member_id")


def downgrade() -> None:
    op.drop_table("member_span_totals")
    op.drop_index("ix_member_day_totals_group_day", table_name="member_day_totals")

"""SMS reach: the parts of each send (what a month of messages costs), and treasurers' meeting
commands sent by SMS, waiting for their `OK <code>`.

Revision ID: 0301_sms_reach
Revises: 0300_sms
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0301_sms_reach"
down_revision = "0300_sms"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("sms_attempts") as batch:
        batch.add_column(sa.Column("parts", sa.Integer(), nullable=True))
    op.create_table(
        "sms_meeting_commands",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("group_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("wrong_codes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="fk_sms_meeting_commands_group_id_groups"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"],
                                name="fk_sms_meeting_commands_member_id_members"),
        sa.PrimaryKeyConstraint("id", name="pk_sms_meeting_commands"),
    )
    op.create_index("ix_sms_meeting_commands_phone_status", "sms_meeting_commands", ["phone", "status"])


def downgrade() -> None:
    op.drop_index("ix_sms_meeting_commands_phone_status", table_name="sms_meeting_commands")
    op.drop_table("sms_meeting_commands")
    with op.batch_alter_table("sms_attempts") as batch:
        batch.drop_column("parts")

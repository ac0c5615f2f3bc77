"""SMS door: send-attempt log, inbound messages (deduplicated by AT id), once-only keys.

Revision ID: 0300_sms
Revises: 0002_guards
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0300_sms"
down_revision = "0002_guards"
branch_labels = ("sms",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sms_attempts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("outbox_id", BigId, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("outcome", sa.String(length=12), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("at_message_id", sa.String(length=100), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["outbox_id"], ["outbox.id"], name="fk_sms_attempts_outbox_id_outbox"),
        sa.PrimaryKeyConstraint("id", name="pk_sms_attempts"),
    )
    op.create_index("ix_sms_attempts_outbox_id", "sms_attempts", ["outbox_id"])
    op.create_table(
        "sms_inbound",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("at_id", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("shortcode", sa.String(length=20), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link_id", sa.String(length=100), nullable=True),
        sa.Column("network_code", sa.String(length=10), nullable=True),
        sa.Column("command", sa.String(length=20), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sms_inbound"),
        sa.UniqueConstraint("at_id", name="uq_sms_inbound_at_id"),
    )
    op.create_index("ix_sms_inbound_phone", "sms_inbound", ["phone"])
    op.create_table(
        "sms_once",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_sms_once"),
    )


def downgrade() -> None:
    op.drop_table("sms_once")
    op.drop_index("ix_sms_inbound_phone", table_name="sms_inbound")
    op.drop_table("sms_inbound")
    op.drop_index("ix_sms_attempts_outbox_id", table_name="sms_attempts")
    op.drop_table("sms_attempts")

"""USSD door: PIN proofs (authentication state), once-only action keys, meeting-round skips,
end-of-session events.

Revision ID: 0100_ussd
Revises: 0002_guards
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0100_ussd"
down_revision = "0002_guards"
branch_labels = ("ussd",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ussd_pin_proofs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("pin_mac", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("stamp", sa.String(length=32), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name="fk_ussd_pin_proofs_member_id_members"),
        sa.PrimaryKeyConstraint("id", name="pk_ussd_pin_proofs"),
    )
    op.create_index("uq_ussd_pin_proofs_attempt", "ussd_pin_proofs",
                    ["session_id", "member_id", "pin_mac", "position"], unique=True)
    op.create_index("ix_ussd_pin_proofs_expires_at", "ussd_pin_proofs", ["expires_at"])
    op.create_table(
        "ussd_done",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("session_id", sa.String(length=100), nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name="fk_ussd_done_member_id_members"),
        sa.PrimaryKeyConstraint("key", name="pk_ussd_done"),
    )
    op.create_index("ix_ussd_done_session_id", "ussd_done", ["session_id"])
    op.create_table(
        "ussd_skips",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("group_id", BigId, nullable=False),
        sa.Column("meeting_id", BigId, nullable=False),
        sa.Column("member_id", BigId, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("session_id", sa.String(length=100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], name="fk_ussd_skips_group_id_groups"),
        sa.ForeignKeyConstraint(["meeting_id"], ["meetings.id"], name="fk_ussd_skips_meeting_id_meetings"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], name="fk_ussd_skips_member_id_members"),
        sa.PrimaryKeyConstraint("id", name="pk_ussd_skips"),
        sa.UniqueConstraint("key", name="uq_ussd_skips_key"),
    )
    op.create_index("uq_ussd_skips_meeting_member", "ussd_skips", ["meeting_id", "member_id"], unique=True)
    op.create_table(
        "ussd_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("service_code", sa.String(length=40), nullable=True),
        sa.Column("network_code", sa.String(length=10), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("input_redacted", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("hops", sa.Integer(), nullable=True),
        sa.Column("cost", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("last_response", sa.Text(), nullable=True),
        sa.Column("at_date", sa.String(length=40), nullable=True),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ussd_events"),
        sa.UniqueConstraint("session_id", name="uq_ussd_events_session_id"),
    )
    op.create_index("ix_ussd_events_phone", "ussd_events", ["phone"])


def downgrade() -> None:
    op.drop_table("ussd_events")
    op.drop_table("ussd_skips")
    op.drop_table("ussd_done")
    op.drop_table("ussd_pin_proofs")

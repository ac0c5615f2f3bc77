"""USSD door: PIN proofs hold a random nonce and are unique per (session, member, position).

The proofs' MAC is now keyed by the PIN pepper with a per-proof nonce (ussd/pin_auth.py). Proofs
live 180 s, so the rows of the old form are simply deleted: a session in flight proves its PIN
once more.

Revision ID: 0101_ussd_security
Revises: 0100_ussd
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101_ussd_security"
down_revision = "0100_ussd"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM ussd_pin_proofs")
    op.drop_index("uq_ussd_pin_proofs_attempt", table_name="ussd_pin_proofs")
    with op.batch_alter_table("ussd_pin_proofs") as batch:
        batch.add_column(sa.Column("nonce", sa.String(length=32), nullable=False))
    op.create_index("uq_ussd_pin_proofs_position", "ussd_pin_proofs",
                    ["session_id", "member_id", "position"], unique=True)


def downgrade() -> None:
    op.execute("DELETE FROM ussd_pin_proofs")
    op.drop_index("uq_ussd_pin_proofs_position", table_name="ussd_pin_proofs")
    with op.batch_alter_table("ussd_pin_proofs") as batch:
        batch.drop_column("nonce")
    op.create_index("uq_ussd_pin_proofs_attempt", "ussd_pin_proofs",
                    ["session_id", "member_id", "pin_mac", "position"], unique=True)

"""A share-out without a journal entry: a cycle in which nothing at all was saved, earned, lost or
carried still closes (DOMAIN.md: "A cycle must always be able to close"), and its share-out record
says so with no entry to point at.

SQLite cannot change a column's nullability in place: batch mode rebuilds share_outs, which
share_out_payouts references, so the rebuild runs with foreign keys off (they only change outside
a transaction) and checks them after, as 0005_amount_limits does.

Revision ID: 0011_empty_shareout
Revises: 0005_amount_limits
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_empty_shareout"
down_revision = "0005_amount_limits"
branch_labels = None
depends_on = None


def _sqlite_foreign_keys(on: bool) -> None:
    with op.get_context().autocommit_block():
        raw = op.get_bind().connection.driver_connection
        if raw.in_transaction:  # this project's engine emits BEGIN itself, in autocommit too
            raw.execute("COMMIT")
        raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _entry_nullable(nullable: bool) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        _sqlite_foreign_keys(False)
    with op.batch_alter_table("share_outs") as batch:
        batch.alter_column("entry_id", existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                           nullable=nullable)
    if sqlite:
        broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"0011_empty_shareout: foreign keys broken by the rebuild: {broken[:5]}")
        _sqlite_foreign_keys(True)


def upgrade() -> None:
    _entry_nullable(True)


def downgrade() -> None:
    _entry_nullable(False)

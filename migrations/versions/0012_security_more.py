"""Security, the rest: groups and programmes can be closed (`closed_at`); the tokens scoped to a
closed group or programme stop working, and a closed group takes no meetings or entries.

Both columns are nullable with no default, so SQLite adds them in place (batch mode's "auto"
needs no table rebuild for that) and PostgreSQL without rewriting the table.

Revision ID: 0012_security_more
Revises: 0007_security
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_security_more"
down_revision = "0007_security"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("programmes", "groups"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for table in ("groups", "programmes"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("closed_at")

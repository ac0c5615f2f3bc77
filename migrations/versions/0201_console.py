"""The staff console's sessions and one-time sign-in links (api/console/models.py).

`token_id` names an API token without a foreign key: core revisions (0004_programmes) rebuild
`api_tokens`, and this branch may be applied before them. Tokens are never deleted (only revoked),
and every use of a session or link reads its token and refuses a missing one.

Revision ID: 0201_console
Revises: 0200_api
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0201_console"
down_revision = "0200_api"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _secret_table(name: str, *extra: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=False),
        *extra,
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("secret_hash", name=op.f(f"uq_{name}_secret_hash")),
    )
    op.create_index(op.f(f"ix_{name}_token_id"), name, ["token_id"])


def upgrade() -> None:
    _secret_table("console_sessions",
                  sa.Column("csrf_token", sa.String(64), nullable=False),
                  sa.Column("language", sa.String(8), nullable=False),
                  sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    _secret_table("console_links", sa.Column("used_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_table("console_links")
    op.drop_table("console_sessions")

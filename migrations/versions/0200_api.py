"""The REST API's stored idempotent responses.

Revision ID: 0200_api
Revises: 0002_guards
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0200_api"
down_revision = "0002_guards"
branch_labels = ("api",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_idempotency",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("scope", sa.String(40), nullable=False),
        sa.Column("route", sa.String(300), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("group_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_idempotency")),
        sa.UniqueConstraint("scope", "route", "key", name=op.f("uq_api_idempotency_scope_route_key")),
    )


def downgrade() -> None:
    op.drop_table("api_idempotency")

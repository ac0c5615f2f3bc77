"""Programmes as first-class records: time zone, languages and USD rate of a programme; the
installation's minor digits per currency; the operator role of API tokens.

- programmes.timezone (its groups' default; existing programmes take their first group's),
  programmes.languages (existing programmes: every language the service speaks),
  programmes.usd_rate (existing programmes: the rate their loan ceiling implies against USD 20).
- currencies(code, minor_digits): one choice per currency per installation; existing programmes'
  currencies are recorded with CLDR's digits, the digits they have been read with so far.
- api_tokens: role 'operator' (installation-wide, no scope).

Revision ID: 0004_programmes
Revises: 0003_indexes
"""

from __future__ import annotations

import json
from decimal import Decimal

import sqlalchemy as sa
from alembic import op
from babel.numbers import get_currency_precision

revision = "0004_programmes"
down_revision = "0003_indexes"
branch_labels = None
depends_on = None

ALL_LANGUAGES = ["en", "sw", "ar"]
OLD_ROLES = "role IN ('admin', 'auditor', 'treasurer', 'member')"
NEW_ROLES = "role IN ('operator', 'admin', 'auditor', 'treasurer', 'member')"
UNSCOPED = ("role <> 'operator' OR (programme_id IS NULL AND group_id IS NULL "
            "AND member_id IS NULL)")


def upgrade() -> None:
    op.add_column("programmes", sa.Column("timezone", sa.String(64), nullable=False,
                                          server_default="UTC"))
    op.add_column("programmes", sa.Column("languages", sa.JSON(), nullable=False,
                                          server_default=json.dumps(ALL_LANGUAGES)))
    op.add_column("programmes", sa.Column("usd_rate", sa.String(40), nullable=False,
                                          server_default="1"))
    op.create_table(
        "currencies",
        sa.Column("code", sa.String(3), nullable=False),
        sa.Column("minor_digits", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("minor_digits BETWEEN 0 AND 4",
                           name=op.f("ck_currencies_minor_digits_possible")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_currencies")),
    )
    _fill_existing_programmes()
    with op.batch_alter_table("api_tokens", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_api_tokens_role_known"), type_="check")
        batch.create_check_constraint(op.f("ck_api_tokens_role_known"), sa.text(NEW_ROLES))
        batch.create_check_constraint(op.f("ck_api_tokens_operator_unscoped"), sa.text(UNSCOPED))


def _fill_existing_programmes() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, currency, policy FROM programmes")).all()
    seen: set[str] = set()
    for pid, currency, policy in rows:
        policy = json.loads(policy) if isinstance(policy, str) else (policy or {})
        digits = get_currency_precision(currency)
        loan_max = policy.get("loan_max") or 0
        rate = "1" if currency == "USD" or not loan_max else format(
            (Decimal(loan_max).scaleb(-digits) / 20).normalize(), "f")
        tz = bind.execute(sa.text("SELECT timezone FROM groups WHERE programme_id = :p "
                                  "ORDER BY id LIMIT 1"), {"p": pid}).scalar()
        bind.execute(sa.text("UPDATE programmes SET usd_rate = :r, timezone = :tz WHERE id = :p"),
                     {"r": rate, "tz": tz or "UTC", "p": pid})
        if currency not in seen:
            seen.add(currency)
            bind.execute(sa.text("INSERT INTO currencies (code, minor_digits, created_at) "
                                 "VALUES (:c, :d, CURRENT_TIMESTAMP)"),
                         {"c": currency, "d": digits})


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_api_tokens_operator_unscoped"), type_="check")
        batch.drop_constraint(op.f("ck_api_tokens_role_known"), type_="check")
        batch.create_check_constraint(op.f("ck_api_tokens_role_known"), sa.text(OLD_ROLES))
    op.drop_table("currencies")
    with op.batch_alter_table("programmes") as batch:
        batch.drop_column("usd_rate")
        batch.drop_column("languages")
        batch.drop_column("timezone")

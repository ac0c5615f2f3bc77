"""groups.locale: the CLDR locale a group's amounts are read and written in ("12,50" is 12.50 in
sq_XK, "1,250" is 1250 in en_KE). Existing groups get the default: their language in their
country where CLDR has it (sw_KE), else the country's first official language CLDR has there
(en in Kosovo -> sq_XK), else the language alone. The same rule as
vision_ledger.amounts.default_locale, kept here so this revision never changes with the code.

Revision ID: 0006_group_locale
Revises: 0003_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from babel import localedata
from babel.core import Locale
from babel.languages import get_official_languages

revision = "0006_group_locale"
down_revision = "0003_indexes"
branch_labels = None
depends_on = None


def _default(language: str, country: str) -> str:
    country = (country or "").upper()
    for name in [f"{language}_{country}", *(f"{lang}_{country}" for lang in get_official_languages(country))]:
        if localedata.exists(name):
            return str(Locale.parse(name))
    return str(Locale.parse(language or "en"))


def upgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locale", sa.String(length=32), nullable=True))
    conn = op.get_bind()
    groups = sa.table("groups", sa.column("id", sa.BigInteger), sa.column("language", sa.String),
                      sa.column("country", sa.String), sa.column("locale", sa.String))
    rows = conn.execute(sa.select(groups.c.id, groups.c.language, groups.c.country)).all()
    for group_id, language, country in rows:
        conn.execute(groups.update().where(groups.c.id == group_id)
                     .values(locale=_default(language, country)))
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.alter_column("locale", existing_type=sa.String(length=32), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("groups", schema=None) as batch_op:
        batch_op.drop_column("locale")

"""Each entry keeps its canonical bytes: `entries.canonical`, the exact bytes its hash covers after
the previous entry's hash (`ledger.journal.entry_body` in UTF-8), written by `ledger.post` from
now on. Verification on PostgreSQL then hashes those bytes and compares what they say with the
columns and postings in SQL, on the server, instead of rebuilding every entry in Python.

The column is back-filled here for the entries already written, from their columns and
postings, in batches of entry ids (the same function `post` uses). An entry whose columns were
altered before this revision gets bytes that say what it says now: its hash still disagrees with
them, and verification names it as before. Entries are append-only (revision 0002_guards): the
back-fill lifts the UPDATE guard for its own statements and puts it back.

Revision ID: 0015_ledger
Revises: 0014_period_totals
"""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace

import sqlalchemy as sa
from alembic import op

from vision_ledger.ledger.journal import entry_body

revision = "0015_ledger"
down_revision = "0014_period_totals"
branch_labels = None
depends_on = None

BATCH = 5000

_entries = sa.table(
    "entries", sa.column("id", sa.BigInteger), sa.column("group_id", sa.BigInteger),
    sa.column("seq", sa.BigInteger), sa.column("kind", sa.String), sa.column("member_id", sa.BigInteger),
    sa.column("meeting_id", sa.BigInteger), sa.column("cycle_id", sa.BigInteger),
    sa.column("loan_id", sa.BigInteger), sa.column("effective_date", sa.Date),
    sa.column("recorded_at", sa.DateTime(timezone=True)), sa.column("actor", sa.String),
    sa.column("channel", sa.String), sa.column("idempotency_key", sa.String),
    sa.column("fingerprint", sa.String), sa.column("reverses_id", sa.BigInteger),
    sa.column("memo", sa.Text), sa.column("details", sa.JSON), sa.column("prev_hash", sa.String),
    sa.column("canonical", sa.LargeBinary),
)
_postings = sa.table("postings", sa.column("entry_id", sa.BigInteger), sa.column("account_id", sa.BigInteger),
                     sa.column("amount", sa.BigInteger), sa.column("units", sa.BigInteger))
_accounts = sa.table("accounts", sa.column("id", sa.BigInteger), sa.column("key", sa.String))

# revision 0002_guards' SQLite trigger, dropped and made again around the back-fill
_SQLITE_NO_UPDATE = ("CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries BEGIN SELECT "
                     "RAISE(ABORT, 'ledger: UPDATE of entries is refused; post a reversal instead'); END")


def upgrade() -> None:
    op.add_column("entries", sa.Column("canonical", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    if pg:
        op.execute("ALTER TABLE entries DISABLE TRIGGER entries_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS entries_no_update")
    _backfill(bind)
    if pg:
        op.execute("ALTER TABLE entries ENABLE TRIGGER entries_append_only")
    else:
        op.execute(_SQLITE_NO_UPDATE)


def _backfill(bind: sa.engine.Connection) -> None:
    """Every entry's canonical bytes from its columns and postings, BATCH entries at a time."""
    columns = [c for c in _entries.c if c.key != "canonical"]
    update = _entries.update().where(_entries.c.id == sa.bindparam("eid")).values(
        canonical=sa.bindparam("body"))
    last = 0
    while True:
        rows = bind.execute(sa.select(*columns).where(_entries.c.id > last)
                            .order_by(_entries.c.id).limit(BATCH)).all()
        if not rows:
            return
        first, last = rows[0].id, rows[-1].id
        lines: dict[int, list[tuple[str, int, int]]] = defaultdict(list)
        for entry_id, key, amount, units in bind.execute(
                sa.select(_postings.c.entry_id, _accounts.c.key, _postings.c.amount, _postings.c.units)
                .join(_accounts, _accounts.c.id == _postings.c.account_id)
                .where(_postings.c.entry_id.between(first, last))):
            lines[entry_id].append((key, amount, units))
        bind.execute(update, [
            {"eid": row.id, "body": entry_body(SimpleNamespace(**row._mapping), lines[row.id]).encode()}
            for row in rows])


def downgrade() -> None:
    op.drop_column("entries", "canonical")

"""post()'s SQL on PostgreSQL: the whole entry in one statement (data-modifying CTEs), one round
trip.

It reads the accounts and the entry the idempotency key already made and, only if there is no
such entry, every account exists, no cash account would go below zero and no balance or share
count would pass MAX_AMOUNT_MINOR, writes the entry, its postings (ids in line order), the
balances, the journal's head and the member's receipt. It returns the entry's id and postings'
ids, or nothing written and what it read, from which post() decides (replay, refusal, or open an
account and try again).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from ..db import utcnow
from ..money import MAX_AMOUNT_MINOR
from .chart import CASH_ACCOUNTS
from .driver import Driver, Outcome, Pending, execute
from .journal import canonical

_CASH = ", ".join(f"'{code}'" for code in CASH_ACCOUNTS)
# Written with "?" placeholders for reading, given to the driver as "%s". Formats in only the
# integer MAX_AMOUNT_MINOR and the chart's own cash account codes.
_POST = (
    "WITH acc AS (SELECT a.id, a.key, a.code, a.balance, a.units, d.amount, d.units AS dunits"  # noqa: S608
    "  FROM unnest(?::varchar[], ?::bigint[], ?::bigint[]) AS d(key, amount, units)"
    "  JOIN accounts a ON a.group_id = ? AND a.key = d.key),"
    " replay AS (SELECT id, seq, fingerprint FROM entries WHERE group_id = ? AND idempotency_key = ?),"
    " go AS (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM replay) AND (SELECT count(*) FROM acc) = ?"
    f"  AND NOT EXISTS (SELECT 1 FROM acc WHERE code IN ({_CASH}) AND balance + amount < 0)"
    # No balance or share count past the ledger's ceiling (limits.py); post() says which.
    f"  AND NOT EXISTS (SELECT 1 FROM acc WHERE abs(balance + amount) > {MAX_AMOUNT_MINOR}"
    f"   OR abs(units + dunits) > {MAX_AMOUNT_MINOR})),"
    " e AS (INSERT INTO entries (group_id, seq, kind, member_id, meeting_id, cycle_id, loan_id,"
    "  effective_date, recorded_at, actor, channel, idempotency_key, fingerprint, reverses_id, memo,"
    "  details, prev_hash, hash, canonical)"
    "  SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::bytea FROM go"
    "  RETURNING id),"
    " p AS (INSERT INTO postings (group_id, entry_id, account_id, amount, units)"
    "  SELECT ?, e.id, acc.id, l.amount, l.units FROM e,"
    "  unnest(?::varchar[], ?::bigint[], ?::bigint[]) WITH ORDINALITY AS l(key, amount, units, n)"
    "  JOIN acc ON acc.key = l.key ORDER BY l.n RETURNING id),"
    " b AS (UPDATE accounts SET balance = accounts.balance + acc.amount,"
    "  units = accounts.units + acc.dunits"
    "  FROM acc, e WHERE accounts.id = acc.id),"
    " h AS (UPDATE groups SET last_seq = ?, last_hash = ? WHERE id = ? AND EXISTS (SELECT FROM e)),"
    " o AS (INSERT INTO outbox (group_id, member_id, entry_id, phone, language, kind, payload,"
    "  status, attempts, next_attempt_at, created_at, updated_at)"
    "  SELECT ?, m.id, e.id, m.phone, m.language, 'receipt',"
    "  (?::jsonb || jsonb_build_object('member', m.name, 'member_number', m.number) || ?::jsonb)::json,"
    "  'pending', 0, ?, ?, ? FROM e, members m WHERE m.id = ?)"
    " SELECT 'e', e.id, NULL, NULL, NULL, NULL, NULL, ARRAY(SELECT id FROM p ORDER BY id) FROM e"
    " UNION ALL SELECT 'a', id, key, code, balance, units, NULL, NULL FROM acc"
    " UNION ALL SELECT 'r', id, NULL, NULL, seq, NULL, fingerprint, NULL FROM replay"
).replace("?", "%s")


def post_postgresql(conn: Connection, driver: Driver, cursor: Any, p: Pending) -> Outcome:
    """The whole entry in one statement; see the module's docstring."""
    group, lines, keys, deltas, values = p.group, p.lines, p.keys, p.deltas, p.values
    gid = group.id
    now = utcnow()
    header = {"group": group.name, "currency": group.currency, "locale": group.locale}
    params = [
        keys, [deltas[k][0] for k in keys], [deltas[k][1] for k in keys], gid,
        gid, values["idempotency_key"], len(keys),
        *p.entry_params,
        gid, [line.key for line in lines], [line.amount.minor for line in lines],
        [line.units for line in lines],
        values["seq"], values["hash"], gid,
        gid, canonical(header), canonical(p.receipt or {}), now, now, now,
        values["member_id"] if p.receipt is not None else None,
    ]
    execute(conn, cursor, _POST, params)
    done = None
    rows = []
    for row in cursor.fetchall():
        if row[0] == "e":
            done = (row[1], row[7])
        else:
            rows.append(tuple(row[:7]))
    return done, rows

"""post()'s SQL on SQLite: one read (the accounts, the entry the idempotency key already made,
the member's contact), then, when post() may write, the writes, each one call into the library.
SQLite has no data-modifying CTEs, and a call into it costs microseconds, not a round trip.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.engine import Connection

from ..limits import within_ledger_limit
from .chart import CASH_ACCOUNTS
from .driver import OUTBOX_COLUMNS, Driver, Outcome, Pending, converted, execute
from .outbox import outbox_row

_READ = (
    "SELECT 'a', id, key, code, balance, units, NULL FROM accounts"
    " WHERE group_id = ? AND key IN (SELECT value FROM json_each(?))"
    " UNION ALL SELECT 'r', id, NULL, NULL, seq, NULL, fingerprint FROM entries"
    " WHERE group_id = ? AND idempotency_key = ?"
    " UNION ALL SELECT 'm', number, phone, language, NULL, NULL, name FROM members WHERE id = ?"
)
_INSERT_ENTRY = (
    "INSERT INTO entries (group_id, seq, kind, member_id, meeting_id, cycle_id, loan_id,"
    " effective_date, recorded_at, actor, channel, idempotency_key, fingerprint, reverses_id, memo,"
    " details, prev_hash, hash, canonical)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_POSTING = ("INSERT INTO postings (group_id, entry_id, account_id, amount, units)"
                   " VALUES (?, ?, ?, ?, ?)")
_ADD_TO_BALANCE = "UPDATE accounts SET balance = balance + ?, units = units + ? WHERE id = ?"
_SET_HEAD = "UPDATE groups SET last_seq = ?, last_hash = ? WHERE id = ?"
_INSERT_OUTBOX = (
    "INSERT INTO outbox (group_id, member_id, entry_id, phone, language, kind, payload, status,"
    " attempts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def post_sqlite(conn: Connection, driver: Driver, cursor: Any, p: Pending) -> Outcome:
    """Read, decide here, then write; nothing is written when post() must decide otherwise."""
    gid, keys, deltas, values = p.group.id, p.keys, p.deltas, p.values
    member_id = values["member_id"] if p.receipt is not None else None
    execute(conn, cursor, _READ, (gid, json.dumps(keys), gid, values["idempotency_key"], member_id))
    rows: list[tuple[Any, ...]] = cursor.fetchall()
    found = {row[2]: row for row in rows if row[0] == "a"}
    if any(row[0] == "r" for row in rows) or len(found) < len(keys) or any(
            found[k][3] in CASH_ACCOUNTS and found[k][4] + deltas[k][0] < 0 for k in keys) or any(
            not within_ledger_limit(found[k][4] + deltas[k][0])
            or not within_ledger_limit(found[k][5] + deltas[k][1]) for k in keys):
        return None, rows
    contact = next((row for row in rows if row[0] == "m"), None)
    execute(conn, cursor, _INSERT_ENTRY, p.entry_params)
    entry_id: int = cursor.lastrowid
    posting_ids = []
    for line in p.lines:
        execute(conn, cursor, _INSERT_POSTING,
                (gid, entry_id, found[line.key][1], line.amount.minor, line.units))
        posting_ids.append(cursor.lastrowid)
    execute(conn, cursor, _ADD_TO_BALANCE,
            [(deltas[k][0], deltas[k][1], found[k][1]) for k in keys], many=True)
    execute(conn, cursor, _SET_HEAD, (values["seq"], values["hash"], gid))
    if p.receipt is not None and contact is not None:
        _, number, phone, language, _, _, name = contact
        row = outbox_row(p.group, member_id, "receipt", (phone, language, name, number), p.receipt)
        row["entry_id"] = entry_id
        execute(conn, cursor, _INSERT_OUTBOX,
                converted([row[k] for k in OUTBOX_COLUMNS], driver.outbox_bind))
    return (entry_id, posting_ids), rows

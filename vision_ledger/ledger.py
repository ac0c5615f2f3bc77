"""The ledger: the chart of accounts, `post` (the only code that writes entries), balances and
`verify`, which recomputes everything from the postings.

Sign convention: amounts are integer minor units, debit positive and credit negative, so every
entry's postings sum to zero and asset balances are positive, equity and income negative.

`post` is on every write's path, so it speaks the database driver's own SQL rather than going
through SQLAlchemy statement by statement (see `_Driver`): on SQLite one read and a few library
calls, on PostgreSQL a single statement (data-modifying CTEs), one round trip.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import weakref
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, event, inspect, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from . import closure, faults, telemetry
from .actors import Actor
from .db import utcnow
from .errors import Conflict, DomainError, LedgerFault
from .limits import within_ledger_limit
from .models import Account, Entry, Group, Member, OutboxMessage, Posting
from .money import MAX_AMOUNT_MINOR, Money

CHART: dict[str, str] = {
    "loan_fund_cash": "asset",  # the main bag in the box
    "social_fund_cash": "asset",  # the second bag
    "loans_receivable": "asset",  # per member: principal plus service charge owed
    "member_shares": "equity",  # per member: savings bought as shares (units = shares)
    "social_fund": "equity",  # contributions less welfare payouts; carried across cycles
    "seed_capital": "equity",  # programme grants
    "carried_remainder": "equity",  # share-out rounding carried into the next cycle
    "service_charge_income": "income",
    "fine_income": "income",
    "loan_write_offs": "expense",
    "cash_variance": "expense",
}
MEMBER_ACCOUNTS = ("loans_receivable", "member_shares")
CASH_ACCOUNTS = ("loan_fund_cash", "social_fund_cash")
GROUP_ACCOUNTS = tuple(code for code in CHART if code not in MEMBER_ACCOUNTS)


def account_key(code: str, member_id: int | None = None) -> str:
    if code not in CHART:
        raise ValueError(f"unknown account {code!r}")
    if code in MEMBER_ACCOUNTS:
        if member_id is None:
            raise ValueError(f"{code} is a member account")
        return f"{code}:{member_id}"
    return code


@dataclass(frozen=True)
class Line:
    """One posting to be made: an account key, a signed Money (debit positive), share units."""

    key: str
    amount: Money
    units: int = 0


def debit(code: str, amount: Money, member_id: int | None = None, units: int = 0) -> Line:
    return Line(account_key(code, member_id), amount, units)


def credit(code: str, amount: Money, member_id: int | None = None, units: int = 0) -> Line:
    """Units are a plain quantity (shares held), not signed like money: a purchase adds them."""
    return Line(account_key(code, member_id), -amount, units)


# --- prepared statements ----------------------------------------------------------------------
# Built once: constructing a statement per call costs more than the database's own work here.

_accounts, _entries, _postings = Account.__table__, Entry.__table__, Posting.__table__
_groups, _members, _outbox = Group.__table__, Member.__table__, OutboxMessage.__table__
_HEAD = select(*_groups.c).where(_groups.c.id == bindparam("gid"))
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_TOUCH_GROUP = _groups.update().where(_groups.c.id == bindparam("gid")).values(
    lock_version=_groups.c.lock_version)
_REPLAY = select(_entries.c.id, _entries.c.fingerprint, _entries.c.seq).where(
    _entries.c.group_id == bindparam("gid"), _entries.c.idempotency_key == bindparam("key"))
_MEMBER_CONTACT = select(_members.c.phone, _members.c.language, _members.c.name,
                         _members.c.number).where(_members.c.id == bindparam("mid"))
_BALANCE = select(_accounts.c.balance, _accounts.c.type).where(
    _accounts.c.group_id == bindparam("gid"), _accounts.c.key == bindparam("key"))
_UNITS = select(_accounts.c.units).where(
    _accounts.c.group_id == bindparam("gid"), _accounts.c.key == bindparam("key"))
_INSERT_OUTBOX = _outbox.insert()

# post()'s hot path speaks the driver's SQL (see _Driver). Written with "?" placeholders, which the
# PostgreSQL driver gets as "%s"; the column lists are checked against the models below.
_ENTRY_COLUMNS = ("group_id", "seq", "kind", "member_id", "meeting_id", "cycle_id", "loan_id",
                  "effective_date", "recorded_at", "actor", "channel", "idempotency_key",
                  "fingerprint", "reverses_id", "memo", "details", "prev_hash", "hash")
_OUTBOX_COLUMNS = ("group_id", "member_id", "entry_id", "phone", "language", "kind", "payload",
                   "status", "attempts", "next_attempt_at", "created_at", "updated_at")
if set(_ENTRY_COLUMNS) != {c.key for c in _entries.columns} - {"id"} or not set(_OUTBOX_COLUMNS) <= {
        c.key for c in _outbox.columns}:
    raise RuntimeError("ledger: post()'s SQL names other columns than the models; update both")
# SQLite: one read (the accounts, the entry the idempotency key already made, the member's
# contact), then the writes, each a call into the library.
_READ_SQLITE = (
    "SELECT 'a', id, key, code, balance, units, NULL FROM accounts"
    " WHERE group_id = ? AND key IN (SELECT value FROM json_each(?))"
    " UNION ALL SELECT 'r', id, NULL, NULL, seq, NULL, fingerprint FROM entries"
    " WHERE group_id = ? AND idempotency_key = ?"
    " UNION ALL SELECT 'm', number, phone, language, NULL, NULL, name FROM members WHERE id = ?"
)
_INSERT_ENTRY_SQL = (
    "INSERT INTO entries (group_id, seq, kind, member_id, meeting_id, cycle_id, loan_id,"
    " effective_date, recorded_at, actor, channel, idempotency_key, fingerprint, reverses_id, memo,"
    " details, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_POSTING_SQL = ("INSERT INTO postings (group_id, entry_id, account_id, amount, units)"
                       " VALUES (?, ?, ?, ?, ?)")
_ADD_TO_BALANCE_SQL = "UPDATE accounts SET balance = balance + ?, units = units + ? WHERE id = ?"
_SET_HEAD_SQL = "UPDATE groups SET last_seq = ?, last_hash = ? WHERE id = ?"
_INSERT_OUTBOX_SQL = (
    "INSERT INTO outbox (group_id, member_id, entry_id, phone, language, kind, payload, status,"
    " attempts, next_attempt_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# PostgreSQL: one statement, one round trip. It reads the accounts and the entry the idempotency
# key already made and, only if there is no such entry, every account exists, no cash account
# would go below zero and no balance or share count would pass MAX_AMOUNT_MINOR, writes the entry,
# its postings (ids in line order), the balances, the journal's head and the member's receipt. It
# returns the entry's id and postings' ids, or nothing written and what it read, from which post()
# decides (replay, refusal, or open an account and try again).
_POST_PG = (
    "WITH acc AS (SELECT a.id, a.key, a.code, a.balance, a.units, d.amount, d.units AS dunits"  # noqa: S608  (formats in only the integer MAX_AMOUNT_MINOR)
    "  FROM unnest(?::varchar[], ?::bigint[], ?::bigint[]) AS d(key, amount, units)"
    "  JOIN accounts a ON a.group_id = ? AND a.key = d.key),"
    " replay AS (SELECT id, seq, fingerprint FROM entries WHERE group_id = ? AND idempotency_key = ?),"
    " go AS (SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM replay) AND (SELECT count(*) FROM acc) = ?"
    "  AND NOT EXISTS (SELECT 1 FROM acc WHERE code IN ('loan_fund_cash', 'social_fund_cash')"  # cash
    "   AND balance + amount < 0)"
    # No balance or share count past the ledger's ceiling (limits.py); post() says which.
    f"  AND NOT EXISTS (SELECT 1 FROM acc WHERE abs(balance + amount) > {MAX_AMOUNT_MINOR}"
    f"   OR abs(units + dunits) > {MAX_AMOUNT_MINOR})),"
    " e AS (INSERT INTO entries (group_id, seq, kind, member_id, meeting_id, cycle_id, loan_id,"
    "  effective_date, recorded_at, actor, channel, idempotency_key, fingerprint, reverses_id, memo,"
    "  details, prev_hash, hash) SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM go"
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
)


class _Driver:
    """post()'s SQL in the driver's own dialect, with the column conversions SQLAlchemy would
    apply (dates and JSON on SQLite).

    Each SQLAlchemy statement costs tens of microseconds of Python before the driver sees it,
    several times SQLite's own work per entry; on PostgreSQL each statement is a round trip. So
    post() speaks to the driver directly: on SQLite one read and a few cheap writes, on
    PostgreSQL a single statement.
    """

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        self.pg = dialect.name == "postgresql"
        self.entry_bind = [_processor(_entries.c[k], dialect) for k in _ENTRY_COLUMNS]
        self.outbox_bind = [_processor(_outbox.c[k], dialect) for k in _OUTBOX_COLUMNS]
        if self.pg:
            self.post = _POST_PG.replace("?", "%s")
        # lock_group's read of the group's row, compiled by SQLAlchemy once for this dialect.
        head = (_HEAD_FOR_UPDATE if self.pg else _HEAD).compile(dialect=dialect)
        touch = _TOUCH_GROUP.compile(dialect=dialect)
        self.head, self.touch_group = str(head), str(touch)
        self.head_columns = [c.key for c in _groups.columns]
        self.head_results = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                             for c in _groups.columns]
        self.read = _READ_SQLITE
        self.insert_entry = _INSERT_ENTRY_SQL
        self.insert_posting = _INSERT_POSTING_SQL
        self.add_to_balance = _ADD_TO_BALANCE_SQL
        self.set_head = _SET_HEAD_SQL
        self.insert_outbox = _INSERT_OUTBOX_SQL

    def gid_param(self, group_id: int) -> Any:
        return {"gid": group_id} if self.pg else (group_id,)


def _processor(column: Any, dialect: Dialect) -> Any:
    return column.type.dialect_impl(dialect).bind_processor(dialect)


def _converted(values: Sequence[Any], processors: Sequence[Any]) -> list[Any]:
    return [v if p is None or v is None else p(v) for v, p in zip(values, processors, strict=True)]


_drivers: weakref.WeakKeyDictionary[Dialect, _Driver] = weakref.WeakKeyDictionary()


def _driver(conn: Connection) -> _Driver:
    driver = _drivers.get(conn.dialect)
    if driver is None:
        driver = _drivers[conn.dialect] = _Driver(conn.dialect)
    return driver


def _execute(conn: Connection, cursor: Any, sql: str, params: Any, *, many: bool = False) -> Any:
    """Run SQL on the driver's cursor; errors come out as SQLAlchemy's (IntegrityError,
    OperationalError...), as from any other statement, and a lost connection is invalidated."""
    try:
        if many:
            return cursor.executemany(sql, params)
        return cursor.execute(sql, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error,
                                  connection_invalidated=lost, dialect=conn.dialect) from exc


def _attach(session: Session, cls: type, values: dict[str, Any]) -> Any:
    """A persistent ORM object for a row just read or written, without the unit of work's
    per-attribute bookkeeping (the values are the committed state)."""
    obj = inspect(cls).class_manager.new_instance()
    obj.__dict__.update(values)
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


# --- locking ----------------------------------------------------------------------------------

_LOCKED = "vision_locked_groups"


def lock_group(session: Session, group_id: int) -> Group:
    """Serialise writes to one group and return its row, fresh from the database.

    PostgreSQL: SELECT ... FOR UPDATE on the group's row (other groups never wait).
    SQLite: one writer for the whole file; a no-op UPDATE takes the write lock now, before any
    decision is made on what was read (unless the transaction began IMMEDIATE, which holds it).
    A second call in the same transaction costs nothing. Raises group.not_found.
    """
    locked: set[int] = session.info.setdefault(_LOCKED, set())
    if group_id in locked:
        group = session.get(Group, group_id)
        assert group is not None
        return group
    conn = session.connection()
    driver = _driver(conn)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if not driver.pg and not conn.get_execution_options().get("vision_write"):
            _execute(conn, cursor, driver.touch_group, driver.gid_param(group_id))
        _execute(conn, cursor, driver.head, driver.gid_param(group_id))
        row = cursor.fetchone()
    finally:
        cursor.close()
    if row is None:
        from .errors import NotFound

        raise NotFound("group.not_found", "No such group", group_id=group_id)
    head = {k: v if p is None or v is None else p(v)
            for k, v, p in zip(driver.head_columns, row, driver.head_results, strict=True)}
    held = session.identity_map.get(session.identity_key(Group, group_id))
    if held is not None:
        group = held
        # The journal's head is what post() builds on: take it from the locked row, not from a
        # copy the session loaded before the lock.
        for column in ("last_seq", "last_hash", "policy", "schedule"):
            set_committed_value(group, column, head[column])
    else:
        group = _attach(session, Group, head)
    locked.add(group_id)
    return group


@event.listens_for(Session, "after_transaction_end")
def _forget_locks(session: Session, transaction: Any) -> None:
    # A SAVEPOINT's end forgets them too: rolling back to a savepoint releases the row locks taken
    # inside it (PostgreSQL) and restores the journal's head that post() advanced, so the next
    # lock_group must take the lock and read the head again.
    if transaction.parent is None or transaction.nested:
        session.info.pop(_LOCKED, None)


# --- idempotency ------------------------------------------------------------------------------


def fingerprint_of(request: dict[str, Any]) -> str:
    """The SHA-256 of a request's canonical JSON: what an idempotency key promises to repeat."""
    return hashlib.sha256(_canonical(request).encode()).hexdigest()


def find_replay(session: Session, group_id: int, key: str | None, request: dict[str, Any]) -> Entry | None:
    """The entry an earlier call with this key made, if the request is the same one.

    Raises Conflict idempotency.key_reused when the key was used for a different request.
    """
    if not key:
        return None
    found = session.connection().execute(_REPLAY, {"gid": group_id, "key": key}).first()
    if found is None:
        return None
    entry = session.get(Entry, found.id)
    assert entry is not None
    if entry.fingerprint != fingerprint_of(request):
        raise Conflict(
            "idempotency.key_reused",
            "This idempotency key was already used for a different request",
            key=key, entry_seq=entry.seq,
        )
    return entry


# --- posting ----------------------------------------------------------------------------------


def post(
    session: Session,
    group: Group,
    actor: Actor,
    *,
    kind: str,
    lines: Sequence[Line],
    request: dict[str, Any],
    effective_date: date,
    idempotency_key: str | None = None,
    member_id: int | None = None,
    meeting_id: int | None = None,
    cycle_id: int | None = None,
    loan_id: int | None = None,
    reverses_id: int | None = None,
    memo: str | None = None,
    details: dict[str, Any] | None = None,
    receipt: dict[str, Any] | None = None,
) -> Entry:
    """Write one balanced entry to the group's journal and update stored balances.

    The group must have been locked with `lock_group` in this transaction. Checks that the entry
    balances, that every amount is in the group's currency and that no cash account goes below
    zero; assigns the next sequence number and hash; queues the member's receipt (when `receipt`
    is given and the entry is about a member). Raises group.closed, ledger.cash_short, ledger.amount_limit (a
    posting, balance or share count past MAX_AMOUNT_MINOR), idempotency.key_reused; an entry that
    breaks the ledger's own invariants (unbalanced, empty posting, fewer than two postings, another
    currency) is a bug of its caller: LedgerFault, logged and counted.
    """
    if group.id not in session.info.get(_LOCKED, ()):
        telemetry.invariant_fault("ledger.post_without_lock")
        raise RuntimeError("post() needs lock_group() first in this transaction")
    session.flush()  # whatever the operation changed before posting goes first
    if closure.closed(session, group):
        # A request repeated after the close is still answered with what it did before.
        replay = find_replay(session, group.id, idempotency_key, request)
        if replay is not None:
            return replay
        closure.ensure_open(session, group)
    conn = session.connection()
    driver = _driver(conn)
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        return _post(session, conn, driver, cursor, group, actor, kind=kind, lines=lines,
                     request=request, effective_date=effective_date,
                     idempotency_key=idempotency_key, member_id=member_id, meeting_id=meeting_id,
                     cycle_id=cycle_id, loan_id=loan_id, reverses_id=reverses_id, memo=memo,
                     details=details, receipt=receipt)
    finally:
        cursor.close()


def _post(  # noqa: PLR0917  (post()'s own helper)
        session: Session, conn: Connection, driver: _Driver, cursor: Any, group: Group,
        actor: Actor, *, kind: str, lines: Sequence[Line], request: dict[str, Any],
        effective_date: date, idempotency_key: str | None, member_id: int | None,
        meeting_id: int | None, cycle_id: int | None, loan_id: int | None,
        reverses_id: int | None, memo: str | None, details: dict[str, Any] | None,
        receipt: dict[str, Any] | None) -> Entry:
    gid = group.id
    try:
        _check_lines(group, lines)
    except LedgerFault as fault:
        # A repeated request is answered with what it did the first time, whatever its lines.
        replay = find_replay(session, gid, idempotency_key, request)
        if replay is not None:
            return replay
        raise faults.record(fault, group_id=gid, kind=kind, member_id=member_id,
                            meeting_id=meeting_id, loan_id=loan_id, reverses_id=reverses_id,
                            lines=[[line.key, line.amount.minor, line.amount.currency, line.units]
                                   for line in lines]) from None
    keys = sorted({line.key for line in lines})  # a fixed order of account rows
    deltas: dict[str, list[int]] = {k: [0, 0] for k in keys}
    for line in lines:
        d = deltas[line.key]
        d[0] += line.amount.minor
        d[1] += line.units
    seq = group.last_seq + 1
    values: dict[str, Any] = dict(
        group_id=gid, seq=seq, kind=kind, member_id=member_id, meeting_id=meeting_id,
        cycle_id=cycle_id, loan_id=loan_id, effective_date=effective_date, recorded_at=utcnow(),
        actor=actor.label, channel=actor.channel,
        idempotency_key=idempotency_key or f"auto:{uuid.uuid4().hex}",
        fingerprint=fingerprint_of(request), reverses_id=reverses_id, memo=memo,
        details=details or {}, prev_hash=group.last_hash,
    )
    values["hash"] = entry_hash(SimpleNamespace(**values),
                                [(line.key, line.amount.minor, line.units) for line in lines])
    entry_params = _converted([values[k] for k in _ENTRY_COLUMNS], driver.entry_bind)
    receipt_payload = None
    if receipt is not None and member_id is not None:
        receipt_payload = {"seq": seq, "kind": kind, "date": effective_date.isoformat(), **receipt}
    post_sql = _post_pg if driver.pg else _post_sqlite
    pending = _Pending(group, lines, keys, deltas, values, entry_params, receipt_payload)
    while True:
        done, rows = post_sql(conn, driver, cursor, pending)
        state: dict[str, list[Any]] = {}  # key -> [id, code, balance, units] before the entry
        for tag, rid, key, code, amount, units, text in rows:
            if tag == "a":
                state[key] = [rid, code, amount, units]
            elif tag == "r":
                if text != values["fingerprint"]:
                    raise Conflict(
                        "idempotency.key_reused",
                        "This idempotency key was already used for a different request",
                        key=idempotency_key, entry_seq=amount,
                    )
                entry = session.get(Entry, rid)
                assert entry is not None
                return entry
        missing = [k for k in keys if k not in state]
        for k in missing:
            _open_account(session, group, k)
        if missing:
            continue  # post again, with the accounts
        for k in keys:
            _, code, old, _ = state[k]
            if code in CASH_ACCOUNTS and old + deltas[k][0] < 0:
                raise DomainError(
                    "ledger.cash_short",
                    f"Not enough cash in the {code.replace('_cash', '').replace('_', ' ')} bag",
                    account=code, available=Money(old, group.currency),
                    needed=Money(-deltas[k][0], group.currency),
                )
        for k in keys:
            _, code, old, old_units = state[k]
            if not (within_ledger_limit(old + deltas[k][0])
                    and within_ledger_limit(old_units + deltas[k][1])):
                raise _beyond_limit(group, k, balance=old, change=deltas[k][0], units=old_units,
                                    units_change=deltas[k][1])
        assert done is not None
        break

    entry_id, posting_ids = done
    for k, row in state.items():
        row[2] += deltas[k][0]
        row[3] += deltas[k][1]
    set_committed_value(group, "last_seq", seq)
    set_committed_value(group, "last_hash", values["hash"])
    _sync_identity_map(session, state)

    # Give the caller an ORM Entry without asking the database again.
    entry = _attach(session, Entry, {"id": entry_id, **values})
    postings = [
        _attach(session, Posting, {"id": pid, "group_id": gid, "entry_id": entry_id,
                                   "account_id": state[line.key][0], "amount": line.amount.minor,
                                   "units": line.units})
        for pid, line in zip(posting_ids, lines, strict=True)
    ]
    set_committed_value(entry, "postings", postings)
    telemetry.entry_posted(session, kind)
    return entry


@dataclass
class _Pending:
    """An entry post() has decided to write, with what the SQL needs."""

    group: Group
    lines: Sequence[Line]
    keys: list[str]  # the accounts, in a fixed order
    deltas: dict[str, list[int]]  # key -> [amount, units]
    values: dict[str, Any]  # the entry's columns
    entry_params: list[Any]  # the same, converted for the driver
    receipt: dict[str, Any] | None  # the member's receipt


def _post_pg(conn: Connection, driver: _Driver, cursor: Any, p: _Pending) -> tuple[Any, list[Any]]:
    """PostgreSQL: the whole entry in one statement (see _POST_PG)."""
    group, lines, keys, deltas, values, receipt = p.group, p.lines, p.keys, p.deltas, p.values, p.receipt
    entry_params = p.entry_params
    gid = group.id
    now = utcnow()
    header = {"group": group.name, "currency": group.currency}
    params = [
        keys, [deltas[k][0] for k in keys], [deltas[k][1] for k in keys], gid,
        gid, values["idempotency_key"], len(keys),
        *entry_params,
        gid, [line.key for line in lines], [line.amount.minor for line in lines],
        [line.units for line in lines],
        values["seq"], values["hash"], gid,
        gid, _canonical(header), _canonical(receipt or {}), now, now, now,
        values["member_id"] if receipt is not None else None,
    ]
    _execute(conn, cursor, driver.post, params)
    done = None
    rows = []
    for row in cursor.fetchall():
        if row[0] == "e":
            done = (row[1], row[7])
        else:
            rows.append(row[:7])
    return done, rows


def _post_sqlite(conn: Connection, driver: _Driver, cursor: Any, p: _Pending) -> tuple[Any, list[Any]]:
    """SQLite: read, decide here, then write (SQLite has no data-modifying CTEs)."""
    group, lines, keys, deltas, values, receipt = p.group, p.lines, p.keys, p.deltas, p.values, p.receipt
    entry_params = p.entry_params
    gid = group.id
    member_id = values["member_id"] if receipt is not None else None
    _execute(conn, cursor, driver.read,
             (gid, json.dumps(keys), gid, values["idempotency_key"], member_id))
    rows = cursor.fetchall()
    found = {row[2]: row for row in rows if row[0] == "a"}
    if any(row[0] == "r" for row in rows) or len(found) < len(keys) or any(
            found[k][3] in CASH_ACCOUNTS and found[k][4] + deltas[k][0] < 0 for k in keys) or any(
            not within_ledger_limit(found[k][4] + deltas[k][0])
            or not within_ledger_limit(found[k][5] + deltas[k][1]) for k in keys):
        return None, rows
    contact = next((row for row in rows if row[0] == "m"), None)
    _execute(conn, cursor, driver.insert_entry, entry_params)
    entry_id = cursor.lastrowid
    posting_ids = []
    for line in lines:
        _execute(conn, cursor, driver.insert_posting,
                 (gid, entry_id, found[line.key][1], line.amount.minor, line.units))
        posting_ids.append(cursor.lastrowid)
    _execute(conn, cursor, driver.add_to_balance,
             [(deltas[k][0], deltas[k][1], found[k][1]) for k in keys], many=True)
    _execute(conn, cursor, driver.set_head, (values["seq"], values["hash"], gid))
    if receipt is not None and contact is not None:
        _, number, phone, language, _, _, name = contact
        row = _outbox_row(group, member_id, "receipt", (phone, language, name, number), receipt)
        row["entry_id"] = entry_id
        _execute(conn, cursor, driver.insert_outbox,
                 _converted([row[k] for k in _OUTBOX_COLUMNS], driver.outbox_bind))
    return (entry_id, posting_ids), rows


def _sync_identity_map(session: Session, state: dict[str, list[Any]]) -> None:
    """Account rows this session already holds get the balances just written."""
    for account_id, _, new_balance, new_units in state.values():
        held = session.identity_map.get(session.identity_key(Account, account_id))
        if held is not None:
            set_committed_value(held, "balance", new_balance)
            set_committed_value(held, "units", new_units)


def _delta(lines: Iterable[Line], key: str) -> int:
    return sum(line.amount.minor for line in lines if line.key == key)


def _check_lines(group: Group, lines: Sequence[Line]) -> None:
    """The entry's own invariants. The core builds every entry, so a failure here is a bug in the
    core (LedgerFault), never a refusal of what a user asked."""
    if len(lines) < 2:
        raise LedgerFault("ledger.too_few_postings", "An entry needs two or more postings",
                          found=len(lines))
    for line in lines:
        if line.amount.currency != group.currency:
            raise LedgerFault(
                "ledger.currency_mismatch",
                f"The group keeps its books in {group.currency}",
                expected=group.currency, given=line.amount.currency,
            )
        if line.amount.minor == 0 and line.units == 0:
            raise LedgerFault("ledger.empty_posting", "A posting of nothing", account=line.key)
        if not (within_ledger_limit(line.amount.minor) and within_ledger_limit(line.units)):
            raise _beyond_limit(group, line.key, balance=0, change=line.amount.minor, units=0,
                                units_change=line.units)
    total = sum(line.amount.minor for line in lines)
    if total != 0:
        raise LedgerFault("ledger.unbalanced", "The entry does not balance",
                          difference=Money(total, group.currency))


def _beyond_limit(group: Group, key: str, *, balance: int, change: int, units: int,
                  units_change: int) -> DomainError:
    """ledger.amount_limit: a posting, balance or share count past MAX_AMOUNT_MINOR.

    A refusal, not a fault: the amounts come from people (each within its policy maximum, but
    enough of them, or a policy set too high, add up), nothing was written, and the one who asked
    can be told. The schema's CHECK constraints stand behind it.
    """
    return DomainError(
        "ledger.amount_limit",
        "The amount would take the books past the largest amount they hold; check the figure",
        account=key, limit=Money(MAX_AMOUNT_MINOR, group.currency),
        balance=Money(balance, group.currency), change=Money(change, group.currency),
        units=units, units_change=units_change,
    )


def _open_account(session: Session, group: Group, key: str) -> Account:
    code, _, member = key.partition(":")
    member_id = int(member) if member else None
    if member_id is not None:
        owner = session.get(Member, member_id)
        if owner is None or owner.group_id != group.id:
            raise DomainError("member.not_found", "No such member in this group", member_id=member_id)
    account = Account(group_id=group.id, key=key, code=code, type=CHART[code], member_id=member_id,
                      balance=0, units=0)
    session.add(account)
    session.flush()
    return account


def open_group_accounts(session: Session, group: Group) -> None:
    """Create the group's chart of accounts (member sub-accounts open with the member)."""
    for code in GROUP_ACCOUNTS:
        session.add(Account(group_id=group.id, key=code, code=code, type=CHART[code], balance=0,
                            units=0))


def open_member_accounts(session: Session, group: Group, member: Member) -> None:
    for code in MEMBER_ACCOUNTS:
        session.add(Account(group_id=group.id, key=account_key(code, member.id), code=code,
                            type=CHART[code], member_id=member.id, balance=0, units=0))


# --- hashing ----------------------------------------------------------------------------------


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def entry_hash(entry: Any, postings: Iterable[tuple[str, int, int]]) -> str:
    """SHA-256 over the previous hash and everything the entry says, postings in a fixed order.

    `entry` is an Entry or anything with its columns as attributes (a row of JOURNAL_COLUMNS).
    """
    body = {
        "group": entry.group_id, "seq": entry.seq, "kind": entry.kind, "member": entry.member_id,
        "meeting": entry.meeting_id, "cycle": entry.cycle_id, "loan": entry.loan_id,
        "date": entry.effective_date.isoformat(), "recorded_at": _utc_text(entry.recorded_at),
        "actor": entry.actor, "channel": entry.channel, "key": entry.idempotency_key,
        "fingerprint": entry.fingerprint, "reverses": entry.reverses_id, "memo": entry.memo,
        "details": entry.details or {}, "postings": sorted([list(p) for p in postings]),
    }
    return hashlib.sha256((entry.prev_hash + _canonical(body)).encode()).hexdigest()


# --- reading ----------------------------------------------------------------------------------


def balance(session: Session, group: Group, code: str, member_id: int | None = None) -> Money:
    """A stored balance, one row read, in the account's natural sign (assets positive, equity positive)."""
    row = session.connection().execute(
        _BALANCE, {"gid": group.id, "key": account_key(code, member_id)}).first()
    if row is None:
        return Money.zero(group.currency)
    amount, kind = row
    return Money(amount if kind in ("asset", "expense") else -amount, group.currency)


def units(session: Session, group: Group, member_id: int) -> int:
    """Shares a member holds this cycle."""
    value = session.connection().execute(
        _UNITS, {"gid": group.id, "key": account_key("member_shares", member_id)}).scalar()
    return int(value or 0)


def balances(session: Session, group: Group) -> list[Account]:
    return list(session.scalars(select(Account).where(Account.group_id == group.id).order_by(Account.key)))


def trial_balance(session: Session, group: Group) -> dict[str, Any]:
    """Totals by account type; `balanced` says debits equal credits."""
    totals = {"asset": 0, "equity": 0, "income": 0, "expense": 0}
    accounts = balances(session, group)
    for account in accounts:
        totals[account.type] += account.balance
    return {
        "accounts": accounts,
        "totals": {k: Money(v, group.currency) for k, v in totals.items()},
        "balanced": sum(totals.values()) == 0,
    }


# --- verification -----------------------------------------------------------------------------


@dataclass
class VerifyReport:
    group_id: int
    entries_checked: int = 0
    ok: bool = True
    problem: dict[str, Any] | None = None  # the first difference found
    problems: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, **problem: Any) -> None:
        self.ok = False
        if self.problem is None:
            self.problem = problem
        if len(self.problems) < 20:
            self.problems.append(problem)


# An entry's columns as the chain check reads them (entry_hash needs all but id and hash).
JOURNAL_COLUMNS = (
    Entry.id, Entry.group_id, Entry.seq, Entry.kind, Entry.member_id, Entry.meeting_id,
    Entry.cycle_id, Entry.loan_id, Entry.effective_date, Entry.recorded_at, Entry.actor,
    Entry.channel, Entry.idempotency_key, Entry.fingerprint, Entry.reverses_id, Entry.memo,
    Entry.details, Entry.prev_hash, Entry.hash,
)


def verify_chain(report: VerifyReport, journal: Iterable[tuple[Any, Sequence[tuple[str, int, int]]]],
                 *, last_seq: int, last_hash: str) -> None:
    """What "the chain verifies" means, for `verify` here and the auditors' `audit.verify_many`.

    `journal` yields one group's entries in seq order (rows with the JOURNAL_COLUMNS), each with
    its postings as (account key, amount, units). Checks that sequence numbers run 1, 2, 3...
    without a gap, that each entry names the previous one's hash and that its own hash is the
    SHA-256 of what it says, that each entry balances over two or more postings, and that the
    group's head (last_seq, last_hash) is the journal's last entry. Every difference goes into `report`.
    """
    expected_prev = "0" * 64
    expected_seq = 1
    checked = 0
    for row, postings in journal:
        checked += 1
        if row.seq != expected_seq:
            report.fail(seq=expected_seq, problem="sequence_gap", found=row.seq)
            expected_seq = row.seq
        if row.prev_hash != expected_prev:
            report.fail(seq=row.seq, entry_id=row.id, problem="chain_broken",
                        expected=expected_prev, found=row.prev_hash)
        recomputed = entry_hash(row, postings)
        if recomputed != row.hash:
            report.fail(seq=row.seq, entry_id=row.id, problem="hash_mismatch",
                        expected=recomputed, found=row.hash)
        total = sum(p[1] for p in postings)
        if total:
            report.fail(seq=row.seq, entry_id=row.id, problem="unbalanced", difference=total)
        if len(postings) < 2:  # what post() refuses as ledger.too_few_postings
            report.fail(seq=row.seq, entry_id=row.id, problem="too_few_postings", found=len(postings))
        expected_prev = row.hash
        expected_seq += 1
    report.entries_checked = checked
    if last_seq != checked:
        report.fail(problem="head_seq_mismatch", expected=checked, found=last_seq)
    if last_hash != expected_prev:
        report.fail(problem="head_hash_mismatch", expected=expected_prev, found=last_hash)


def verify(session: Session, group: Group, *, batch: int = 5000) -> VerifyReport:
    """Recompute the hash chain, the sequence and every balance from the postings.

    Names the first entry where the chain, the sequence or an entry's balance disagrees, then any
    account whose stored balance differs from the sum of its postings, then any loan (or member)
    whose loan register differs from the loans_receivable postings (see `register`). The journal is streamed
    (`batch` rows at a time), so a group's history of any length fits in memory.
    """
    report = VerifyReport(group_id=group.id)
    keys = {a.id: a.key for a in balances(session, group)}
    computed: dict[int, list[int]] = {}
    stmt = (
        select(*JOURNAL_COLUMNS, Posting.account_id, Posting.amount, Posting.units)
        .outerjoin(Posting, Posting.entry_id == Entry.id)  # an entry without postings is seen too
        .where(Entry.group_id == group.id)
        .order_by(Entry.seq, Posting.id)
        .execution_options(yield_per=batch)
    )

    def journal() -> Iterator[tuple[Any, list[tuple[str, int, int]]]]:
        current: Any = None
        postings: list[tuple[str, int, int]] = []
        for row in session.execute(stmt):
            if current is not None and row.id != current.id:
                yield current, postings
                postings = []
            current = row
            if row.account_id is None:
                continue
            postings.append((keys.get(row.account_id, f"?{row.account_id}"), row.amount, row.units))
            acc = computed.setdefault(row.account_id, [0, 0])
            acc[0] += row.amount
            acc[1] += row.units
        if current is not None:
            yield current, postings

    verify_chain(report, journal(), last_seq=group.last_seq, last_hash=group.last_hash)
    for account in balances(session, group):
        bal, unit = computed.get(account.id, [0, 0])
        if account.balance != bal or account.units != unit:
            report.fail(problem="balance_mismatch", account=account.key,
                        expected=bal, found=account.balance, expected_units=unit,
                        found_units=account.units)
    from .register import check_loans  # the register proves itself against these postings

    check_loans(session, select(Group.id).where(Group.id == group.id), {group.id: report})
    return report


# --- messages ---------------------------------------------------------------------------------


def queue_message(
    session: Session,
    group: Group | None,
    member_id: int | None,
    kind: str,
    *,
    payload: dict[str, Any],
    entry: Entry | None = None,
    phone: str | None = None,
    language: str | None = None,
) -> None:
    """Write an outbox row in the caller's transaction; the SMS worker sends it later."""
    contact = None
    if member_id is not None:
        contact = session.connection().execute(_MEMBER_CONTACT, {"mid": member_id}).first()
        assert contact is not None
    row = _outbox_row(group, member_id, kind, contact, payload, phone=phone, language=language)
    row["entry_id"] = entry.id if entry is not None else None
    session.connection().execute(_INSERT_OUTBOX, row)


def _outbox_row(group: Group | None, member_id: int | None, kind: str, contact: Any,
                payload: dict[str, Any], *, phone: str | None = None,
                language: str | None = None) -> dict[str, Any]:
    """An outbox row's values; `contact` is the member's (phone, language, name, number)."""
    if contact is not None:
        phone = phone or contact[0]
        language = language or contact[1]
        payload = {"member": contact[2], "member_number": contact[3], **payload}
    if group is not None:
        payload = {"group": group.name, "currency": group.currency, **payload}
    now = utcnow()
    return dict(
        group_id=group.id if group is not None else None, member_id=member_id, entry_id=None,
        phone=phone, language=language or (group.language if group is not None else "en"),
        kind=kind, payload=json.loads(_canonical(payload)), status="pending", attempts=0,
        next_attempt_at=now, created_at=now, updated_at=now,
    )

"""What `post` and `lock_group` say to the database driver directly, shared by both databases.

Each SQLAlchemy statement costs tens of microseconds of Python before the driver sees it, several
times SQLite's own work per entry; on PostgreSQL each statement is a round trip. So the posting
path speaks to the driver (DB-API cursor) in the dialect's own SQL: on SQLite one read and a few
cheap writes (`sqlite.py`), on PostgreSQL a single statement (`postgresql.py`). This module holds
what both need: the column lists (checked against the models at import), the conversions
SQLAlchemy would apply to them (dates and JSON on SQLite), the group-head statements compiled once
per dialect, and `execute`, which turns a driver error into SQLAlchemy's like any other statement.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, MultipleResultsFound, NoResultFound
from sqlalchemy.sql import Select

from ..models import Entry, Group, OutboxMessage
from .chart import Line

_entries, _groups, _outbox = Entry.__table__, Group.__table__, OutboxMessage.__table__

ENTRY_COLUMNS = ("group_id", "seq", "kind", "member_id", "meeting_id", "cycle_id", "loan_id",
                 "effective_date", "recorded_at", "actor", "channel", "idempotency_key",
                 "fingerprint", "reverses_id", "memo", "details", "prev_hash", "hash", "canonical")
OUTBOX_COLUMNS = ("group_id", "member_id", "entry_id", "phone", "language", "kind", "payload",
                  "status", "attempts", "next_attempt_at", "created_at", "updated_at")
if set(ENTRY_COLUMNS) != {c.key for c in _entries.columns} - {"id"} or not set(OUTBOX_COLUMNS) <= {
        c.key for c in _outbox.columns}:
    raise RuntimeError("ledger: post()'s SQL names other columns than the models; update both")

_HEAD = select(*_groups.c).where(_groups.c.id == bindparam("gid"))
_TOUCH_GROUP = update(Group).where(Group.id == bindparam("gid")).values(
    lock_version=Group.lock_version)

Converter = Callable[[Any], Any] | None


def _bind(column: Any, dialect: Dialect) -> Converter:
    converter: Converter = column.type.dialect_impl(dialect).bind_processor(dialect)
    return converter


def converted(values: Sequence[Any], converters: Sequence[Converter]) -> list[Any]:
    """Values as the driver takes them (None and unconverted types as they are)."""
    return [v if c is None or v is None else c(v) for v, c in zip(values, converters, strict=True)]


class Driver:
    """One dialect's statements and conversions, built once per dialect (see `driver_for`)."""

    def __init__(self, dialect: Dialect):
        self.dialect = dialect
        self.pg = dialect.name == "postgresql"
        self.entry_bind = [_bind(_entries.c[k], dialect) for k in ENTRY_COLUMNS]
        self.outbox_bind = [_bind(_outbox.c[k], dialect) for k in OUTBOX_COLUMNS]
        # lock_group's read of the group's row, compiled by SQLAlchemy once for this dialect.
        head = (_HEAD.with_for_update() if self.pg else _HEAD).compile(dialect=dialect)
        self.head = str(head)
        self.touch_group = str(_TOUCH_GROUP.compile(dialect=dialect))
        self.head_columns = [c.key for c in _groups.columns]
        self.head_results: list[Converter] = [
            c.type.dialect_impl(dialect).result_processor(dialect, None) for c in _groups.columns]

        self.reads: dict[Select[Any], _Read] = {}

    def gid_param(self, group_id: int) -> Any:
        return {"gid": group_id} if self.pg else (group_id,)


@dataclass(frozen=True, slots=True)
class _Read:
    """A Core SELECT compiled once for SQLite: its SQL, each `?`'s bound name (None: the
    statement's own literal, in `fixed`) and the conversion of each column SQLAlchemy would do."""

    sql: str
    slots: tuple[tuple[str | None, Any], ...]  # (bound name, None) or (None, fixed value)
    results: list[Converter]


def _compile_read(statement: Select[Any], dialect: Dialect, params: dict[str, Any]) -> _Read:
    compiled = statement.compile(dialect=dialect)
    defaults = compiled.construct_params(params)
    order = compiled.positiontup or []
    return _Read(str(compiled),
                 tuple((n, None) if n in params else (None, defaults[n]) for n in order),
                 [c.type.dialect_impl(dialect).result_processor(dialect, None)
                  for c in statement.selected_columns])


def read_one(conn: Connection, statement: Select[Any], params: dict[str, Any]) -> tuple[Any, ...]:
    """The one row of a Core SELECT, as a tuple. On SQLite it goes to the driver's cursor, compiled
    once: through `Connection.execute` a read costs tens of microseconds of cache lookup, parameter
    processing and Row building, more than SQLite's own work. PostgreSQL's stays a Core statement
    (a round trip dwarfs that). Raises what `Result.one()` raises for no row or several."""
    driver = driver_for(conn)
    if driver.pg:
        return tuple(conn.execute(statement, params).one())
    read = driver.reads.get(statement)
    if read is None:
        read = driver.reads[statement] = _compile_read(statement, conn.dialect, params)
    cursor = cursor_of(conn)
    try:
        execute(conn, cursor, read.sql,
                [params[name] if name is not None else fixed for name, fixed in read.slots])
        rows = cursor.fetchmany(2)
    finally:
        cursor.close()
    if len(rows) != 1:
        raise NoResultFound("No row was found when one was required") if not rows else \
            MultipleResultsFound("Multiple rows were found when exactly one was required")
    return tuple(converted(rows[0], read.results))


_drivers: weakref.WeakKeyDictionary[Dialect, Driver] = weakref.WeakKeyDictionary()


def driver_for(conn: Connection) -> Driver:
    driver = _drivers.get(conn.dialect)
    if driver is None:
        driver = _drivers[conn.dialect] = Driver(conn.dialect)
    return driver


def cursor_of(conn: Connection) -> Any:
    """A DB-API cursor on the connection the session's transaction runs on."""
    driver_connection = conn.connection.driver_connection
    assert driver_connection is not None
    return driver_connection.cursor()


def execute(conn: Connection, cursor: Any, sql: str, params: Any, *, many: bool = False) -> Any:
    """Run SQL on the driver's cursor; errors come out as SQLAlchemy's (IntegrityError,
    OperationalError...), as from any other statement, and a lost connection is invalidated."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        if many:
            return cursor.executemany(sql, params)
        return cursor.execute(sql, params)
    except dbapi.Error as exc:
        lost = conn.dialect.is_disconnect(exc, conn.connection.dbapi_connection, cursor)
        if lost:
            conn.invalidate(exc)
        raise DBAPIError.instance(sql, params, exc, dbapi.Error, connection_invalidated=lost,
                                  dialect=conn.dialect) from exc


@dataclass(frozen=True, slots=True)
class Pending:
    """An entry post() has decided to write, with what the SQL of either database needs."""

    group: Group
    lines: Sequence[Line]
    keys: list[str]  # the accounts, in a fixed order
    deltas: dict[str, tuple[int, int]]  # key -> (amount, units)
    values: dict[str, Any]  # the entry's columns
    entry_params: list[Any]  # the same, converted for the driver
    receipt: dict[str, Any] | None  # the member's receipt


# What the SQL of either database answers: the entry's id and its postings' ids when it wrote the
# entry (else None), and what it read: ("a", id, key, code, balance, units, None) per account,
# ("r", id, None, None, seq, None, fingerprint) for the entry the idempotency key already made.
Written = tuple[int, list[int]]
Outcome = tuple[Written | None, list[tuple[Any, ...]]]

"""Locking: every write to a group's books holds its lock, taken by `lock_group` before anything
is decided on what was read, so two writers of one group take turns and `post` builds the journal
on the head it read under the lock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, event, inspect, select
from sqlalchemy.orm import Session

from ..errors import NotFound
from ..models import Group, Programme
from .driver import cursor_of, driver_for, execute

_LOCKED = "vision_locked_groups"
# Built once, bound per call (an ORM select rebuilt on every call costs more Python than the
# lookup costs SQLite). Whether the programme is closed comes in the same read: post() refuses
# entries to a closed group or programme.
_LOCK = (select(Group, Programme.closed_at).join(Programme, Programme.id == Group.programme_id)
         .where(Group.id == bindparam("gid")).with_for_update(of=Group))
# The same read as a Core row: the locked row's columns, to check the session's copy against.
_groups = Group.__table__
_GROUP_COLUMNS = tuple(c.key for c in _groups.columns)
_LOCK_ROW = _LOCK.with_only_columns(*_groups.columns, Programme.closed_at.label("programme_closed_at"))
_MISSING = object()


def lock_group(session: Session, group_id: int) -> Group:
    """Serialise writes to one group and return its row, fresh from the database.

    PostgreSQL: SELECT ... FOR UPDATE on the group's row (other groups never wait).
    SQLite: one writer for the whole file; a no-op UPDATE takes the write lock now, before any
    decision is made on what was read (unless the transaction began IMMEDIATE, which holds it).
    A second call in the same transaction costs nothing. Raises group.not_found.
    """
    locked: dict[int, bool] = session.info.setdefault(_LOCKED, {})
    if group_id in locked:
        held = session.get(Group, group_id)
        assert held is not None
        return held
    conn = session.connection()
    driver = driver_for(conn)
    if not driver.pg and not conn.get_execution_options().get("vision_write"):
        cursor = cursor_of(conn)
        try:
            execute(conn, cursor, driver.touch_group, driver.gid_param(group_id))
        finally:
            cursor.close()
    # The journal's head is what post() builds on: it must come from the locked row, not from a
    # copy the session loaded before the lock. The caller usually holds the group already, loaded
    # moments before in this transaction: the locked row is read as a Core row and the session's
    # copy kept when it says the same (no ORM load); otherwise the ORM loads it over the copy
    # (populate_existing). What the caller changed is flushed first, as an ORM query would.
    held = session.identity_map.get((Group, (group_id,), None))
    if held is not None:
        session.flush()
        row = conn.execute(_LOCK_ROW, {"gid": group_id}).first()
        if row is not None and _same(held, row._mapping):
            locked[group_id] = row.closed_at is not None or row.programme_closed_at is not None
            return held
    found = session.execute(_LOCK, {"gid": group_id},
                            execution_options={"populate_existing": True}).first()
    if found is None:
        raise NotFound("group.not_found", "No such group", group_id=group_id)
    group, programme_closed_at = found
    locked[group_id] = group.closed_at is not None or programme_closed_at is not None
    return group


def _same(group: Group, row: Any) -> bool:
    """Whether the session's copy of the group holds every column as the locked row has it."""
    loaded = inspect(group).dict
    return all(loaded.get(key, _MISSING) == row[key] for key in _GROUP_COLUMNS)


def locked_closed(session: Session, group_id: int) -> bool | None:
    """None when the group is not locked in the session's current transaction; else whether it
    (or its programme) was closed when the lock was taken."""
    locked: dict[int, bool] = session.info.get(_LOCKED, {})
    return locked.get(group_id)


@event.listens_for(Session, "after_transaction_end")
def _forget_locks(session: Session, transaction: Any) -> None:
    # A SAVEPOINT's end forgets them too: rolling back to a savepoint releases the row locks taken
    # inside it (PostgreSQL) and restores the journal's head that post() advanced, so the next
    # lock_group must take the lock and read the head again.
    if transaction.parent is None or transaction.nested:
        session.info.pop(_LOCKED, None)

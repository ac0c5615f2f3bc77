"""Locking: every write to a group's books holds its lock, taken by `lock_group` before anything
is decided on what was read, so two writers of one group take turns and `post` builds the journal
on the head it read under the lock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, event, select
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
    # The journal's head is what post() builds on: populate_existing takes it from the locked row,
    # not from a copy the session loaded before the lock.
    found = session.execute(_LOCK, {"gid": group_id},
                            execution_options={"populate_existing": True}).first()
    if found is None:
        raise NotFound("group.not_found", "No such group", group_id=group_id)
    group, programme_closed_at = found
    locked[group_id] = group.closed_at is not None or programme_closed_at is not None
    return group


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

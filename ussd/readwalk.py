"""A hop walks its inputs in a read transaction and takes the write lock only for the action.

A hop replays every input of its session from the first page (ussd/router.py), 20-30 inputs by the
end of a savings round, and only the LAST input may act. On SQLite a writing hop used to hold the
one write lock for its whole walk, so the writers of every group took turns at the speed of the
walk's Python. Now (SQLite) the walk runs in a read transaction (WAL: it waits for no writer and
no writer waits for it), and when the action asks to write (`Ctx.require_write`) the hop:

1. runs again, still in the read snapshot, every SELECT the walk ran (as recorded here, with its
   parameters) and keeps a digest of each one's rows;
2. ends the read transaction (nothing was written), passes the write gate, begins the writing
   transaction (BEGIN IMMEDIATE), and runs those SELECTs once more under the lock;
3. goes on with the action if every digest is the same; otherwise raises `Stale`, and the door
   walks the whole text again under the write lock, as every writing hop did before.

Why this gives the answer the full walk under the lock would give: the walk is a function of the
text, the hop's clock and PIN-hash results (fixed for the hop), and the rows its SELECTs return.
Under the lock the first SELECT of a full walk is the walk's first SELECT; if it returns the same
rows the walk takes the same next step, so it issues the same next SELECT, and so on up to the
action: the same statements, the same rows, the same page and the same action. Whatever changed in
between (a meeting closed by staff, a member who left, the same hop acted by a duplicate request)
changes some row a SELECT of the walk read (the meeting, the member, the session's records, the
group's journal head), so the hop falls back to the full walk and answers exactly as before. The
business functions lock the group and check again anyway: the books never depend on this.

The check costs one more run of the walk's SELECTs outside the lock and one inside it: milliseconds
of database time, instead of the walk's Python (40-120 ms at the end of a round) under the lock.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

Read = tuple[str, Any]


class Stale(Exception):
    """Something the walk read changed before the write lock was taken: walk again under it."""


_current = threading.local()


@contextmanager
def recording() -> Iterator[list[Read]]:
    """The SELECTs this thread runs inside the block, in order, each once."""
    reads: list[Read] = []
    previous = getattr(_current, "reads", None)
    _current.reads, _current.seen = reads, set()
    try:
        yield reads
    finally:
        _current.reads, _current.seen = previous, set()


def stop() -> None:
    """Record nothing more in this thread (the walk has reached its action)."""
    _current.reads = None


# Registered once on the Engine class at import, as ussd/admission.py's timers are (see there why
# not on an engine at its first hop). Outside a recording it returns at once.
@event.listens_for(Engine, "before_cursor_execute")
def _record(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
    reads: list[Read] | None = getattr(_current, "reads", None)
    if reads is None or rest[-1] or not statement.lstrip()[:6].upper().startswith(("SELECT", "WITH")):
        return
    key = (statement, repr(parameters))
    if key not in _current.seen:
        _current.seen.add(key)
        reads.append((statement, parameters))


def digest(session: Session, reads: Sequence[Read]) -> list[str]:
    """Each read's rows, digested, run in the session's current transaction.

    Through the driver's own cursor: the statements are already the driver's, and these runs are
    neither recorded nor timed as the walk's (the caller times them)."""
    cursor = session.connection().connection.cursor()
    try:
        found = []
        for statement, parameters in reads:
            cursor.execute(statement, parameters)
            found.append(hashlib.sha256(repr(cursor.fetchall()).encode()).hexdigest())
        return found
    finally:
        cursor.close()

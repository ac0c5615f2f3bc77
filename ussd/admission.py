"""Admission and deadlines of USSD hops: a hop is served in time or answered "busy" and writes nothing.

Africa's Talking waits about 5 s for a page; past that the member's session is dead, whatever the
hop did. So each hop gets a deadline (`VISION_USSD_HOP_DEADLINE`, 4 s after the handler starts by
default, leaving room for the network's own legs) and three places where it gives up in time:

- the write gate: a process lets one writing hop at a time ask for SQLite's write lock (PostgreSQL:
  `GATE_SLOTS_PG` hops at a time into the database), the others wait in arrival order (FIFO). A hop
  that would wait past its deadline is refused. Without the gate, every thread polls SQLite's busy
  handler, which sleeps and retries and serves no one in order: the tails of 10-17 s at saturation
  were hops that lost the poll again and again while later ones won;
- on SQLite, the walk's gate (`WALK_SLOTS_SQLITE` walks at a time per process, same rules) and
  the writers' file lock across processes (`writers_queue`), asked for until the same time runs out;
- the database's own lock wait, bounded by what is left of the deadline (SQLite `busy_timeout`,
  PostgreSQL `lock_timeout`), for the wait on the other processes' writers;
- before commit: a hop past its deadline rolls back.

Each refusal raises `Busy`; the door answers END with a short "busy, dial again" in the member's
language. Nothing is written: the refusal comes before the transaction or rolls it back.

Admission before queueing (and not fair queueing across processes, or a shared queue service) was
chosen because it needs nothing but the process itself: the FIFO orders the hops of one worker,
SQLite orders the few workers, and the deadline bounds both. `Timing` measures where a hop's time
went (waiting for a lock, in the database, the rest in Python) for the benchmark and the logs.
"""

from __future__ import annotations

import fcntl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

GATE_SLOTS_PG = 4
# Walks (Python, the CPU) at a time per process on SQLite. A walk is CPU; run all at once under the
# GIL they share it, so each takes as long as all together and, worse, the hop holding the write
# lock gets a thread's share of its process: its lock is held that many times longer. Two: one
# walking while the other waits on the database.
WALK_SLOTS_SQLITE = 2

# The clock of deadlines and timings (tests replace it; no test sleeps).
clock: Callable[[], float] = time.monotonic


class Busy(Exception):
    """The hop cannot be served before its deadline: answer busy, write nothing."""


@dataclass
class Timing:
    """Where one hop's time went, in seconds (the rest of `total` is Python)."""

    started: float
    deadline: float
    lock: float = 0.0  # waiting in the write gate, for BEGIN IMMEDIATE, for SELECT ... FOR UPDATE
    db: float = 0.0  # every other statement and the commits
    queue: float = 0.0  # waiting for a turn to walk (SQLite: WALK_SLOTS_SQLITE walks at a time)

    def add(self, field: str, seconds: float) -> None:
        setattr(self, field, getattr(self, field) + seconds)

    def left(self) -> float:
        return self.deadline - clock()

    def admit_for(self) -> float:
        """How long the hop may still wait in line: what is left, less a quarter of the deadline
        (at most 1 s) kept for its own work. A hop let in with no time to do it would do the
        work and throw it away at its deadline: at saturation that wasted work is what piles up."""
        reserve = min((self.deadline - self.started) / 4, 1.0)
        return self.left() - reserve

    def check(self) -> None:
        if self.left() <= 0:
            raise Busy

    def header(self, total: float) -> str:
        python = max(total - self.lock - self.db - self.queue, 0.0)
        return (f"py;dur={python * 1000:.1f}, db;dur={self.db * 1000:.1f}, "
                f"lock;dur={self.lock * 1000:.1f}, queue;dur={self.queue * 1000:.1f}")


class Gate:
    """At most `slots` holders at once; the others wait in arrival order, each until its deadline."""

    def __init__(self, slots: int, waits: str = "lock") -> None:
        self.slots = slots
        self.waits = waits  # the Timing field its waits are added to
        self._held = 0
        self._line: deque[threading.Event] = deque()
        self._mutex = threading.Lock()

    @contextmanager
    def enter(self, timing: Timing) -> Iterator[None]:
        started = clock()
        turn: threading.Event | None = None
        with self._mutex:
            if self._held < self.slots and not self._line:
                self._held += 1
            else:
                turn = threading.Event()
                self._line.append(turn)
        if turn is not None and not turn.wait(max(timing.admit_for(), 0.0)):
            with self._mutex:
                if not turn.is_set():  # still in line: leave it
                    self._line.remove(turn)
                    timing.add(self.waits, clock() - started)
                    raise Busy
            # handed the slot just as the wait ran out: take it
        timing.add(self.waits, clock() - started)
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        with self._mutex:
            if self._line:
                self._line.popleft().set()  # the slot passes to the next in line
            else:
                self._held -= 1


_gates: dict[tuple[int, bool, bool], Gate] = {}
_gates_mutex = threading.Lock()


def gate_for(engine: Engine, writing: bool) -> Gate:
    """The gate a unit of work passes: SQLite writers one at a time, SQLite readers (the walks:
    WAL readers wait for no writer) WALK_SLOTS_SQLITE at a time, PostgreSQL GATE_SLOTS_PG hops."""
    sqlite = engine.dialect.name == "sqlite"
    key = (id(engine), sqlite, writing and sqlite)
    with _gates_mutex:
        if key not in _gates:
            if not sqlite:
                _gates[key] = Gate(GATE_SLOTS_PG)
            elif writing:
                _gates[key] = Gate(1)
            else:
                _gates[key] = Gate(WALK_SLOTS_SQLITE, waits="queue")
        return _gates[key]


class Writing:
    """Whether a hop of this process holds SQLite's write lock now. Walks step aside for it between
    two inputs: threads share their process's one GIL, so a walk running beside the lock holder
    would make it hold the lock twice as long (every other process's writer waiting on it)."""

    def __init__(self) -> None:
        self._free = threading.Event()
        self._free.set()
        self._holders = 0
        self._mutex = threading.Lock()

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._mutex:
            self._holders += 1
            self._free.clear()
        try:
            yield
        finally:
            with self._mutex:
                self._holders -= 1
                if not self._holders:
                    self._free.set()

    def step_aside(self, timing: Timing) -> None:
        """Wait while this process's writer holds the lock (never past the hop's own admission
        time: a walk that must finish in time goes on); counted as queue time."""
        if self._free.is_set():
            return
        started = clock()
        self._free.wait(max(min(timing.admit_for(), 1.0), 0.0))
        timing.queue += clock() - started


_writing: dict[int, Writing] = {}


def writing_for(engine: Engine) -> Writing:
    with _gates_mutex:
        return _writing.setdefault(id(engine), Writing())


@contextmanager
def writers_queue(path: Path | None, timing: Timing) -> Iterator[None]:
    """SQLite, across processes: the writers' file lock beside the database (api/session.py's, so
    the API's writers and these hops take turns on it), asked for until the hop's admission time
    runs out. Without it the gate holders of two workers met at SQLite's lock, whose busy handler
    sleeps up to 100 ms between tries: with the walk out of the lock, a writing hop holds it for
    a few milliseconds, and those sleeps left it free most of the time. Asked for in 1 ms steps
    (flock has no timeout), by one thread per process: the gate holder."""
    if path is None:
        yield
        return
    started = clock()
    with open(path, "a+b") as handle:
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if timing.admit_for() <= 0:
                    timing.lock += clock() - started
                    raise Busy from None
                time.sleep(QUEUE_POLL_SECONDS)
        timing.lock += clock() - started
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


QUEUE_POLL_SECONDS = 0.001


# --- the database side: statement timers and the bounded lock wait ----------------------------

_current = threading.local()


@contextmanager
def _local(name: str, value: Any) -> Iterator[None]:
    previous = getattr(_current, name, None)
    setattr(_current, name, value)
    try:
        yield
    finally:
        setattr(_current, name, previous)


def timed(timing: Timing) -> AbstractContextManager[None]:
    """Statements run by this thread inside the block are added to `timing`."""
    return _local("timing", timing)


def _is_lock(statement: str) -> bool:
    head = statement.lstrip()[:16].upper()
    return head.startswith("BEGIN IMMEDIATE") or "FOR UPDATE" in statement[-120:].upper()


# The listeners are registered once, on the Engine class, when this module is imported (as the app
# is built, before any request): registering them on an engine at its first USSD hop raced with
# other threads' transactions beginning on it (SQLAlchemy iterates an engine's listeners without a
# lock: "deque mutated during iteration"). Outside a timed hop they return at once.


@event.listens_for(Engine, "before_cursor_execute")
def _before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    if getattr(_current, "timing", None) is not None:
        conn.info["vision_stmt_started"] = clock()


@event.listens_for(Engine, "after_cursor_execute")
def _after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
    started = conn.info.pop("vision_stmt_started", None)
    timing: Timing | None = getattr(_current, "timing", None)
    if timing is None or started is None:
        return
    spent = clock() - started
    if _is_lock(statement):
        timing.lock += spent
    else:
        timing.db += spent


@event.listens_for(Engine, "begin")
def _bound_wait(conn: Any) -> None:
    # Class-level listeners run before an engine's own (db.py's BEGIN IMMEDIATE): the wait for the
    # lock ends with the deadline, and the commit's sync is chosen before the transaction begins.
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        _choose_sync(conn)
    timing: Timing | None = getattr(_current, "timing", None)
    if timing is None:
        if sqlite and conn.info.pop("vision_busy_bounded", False):
            conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")  # db.py's own
        return
    ms = max(int(timing.left() * 1000), 1)
    if sqlite:
        conn.info["vision_busy_bounded"] = True
        conn.exec_driver_sql(f"PRAGMA busy_timeout={ms}")
    else:
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")


def _choose_sync(conn: Any) -> None:
    if getattr(_current, "unsynced", False):
        conn.info["vision_unsynced"] = True
        conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
    elif conn.info.pop("vision_unsynced", False):
        conn.exec_driver_sql("PRAGMA synchronous=FULL")  # db.py's own, for every other transaction


def unsynced() -> AbstractContextManager[None]:
    """SQLite transactions this thread begins inside the block commit without waiting for the disk.

    For the hop counter of a read-only hop, a write of its own: in WAL mode with
    `synchronous=NORMAL` its commit is on disk at the next synced commit (any ledger write's) or
    checkpoint, and lost only if the machine loses power before that: a few hops uncounted,
    never a ledger entry. The limit itself holds as before (the same row, under the same lock);
    the commit just does not hold SQLite's one write lock through an fsync. The connection is
    put back to FULL when its next transaction begins."""
    return _local("unsynced", True)


SQLITE_BUSY_MS = 30000  # vision_ledger/db.py's busy_timeout, put back for the engine's other users


def is_lock_timeout(error: BaseException) -> bool:
    """SQLite's busy timeout ran out, or PostgreSQL's lock_timeout (55P03)."""
    orig = getattr(error, "orig", error)
    return ("database is locked" in str(orig)
            or getattr(orig, "sqlstate", None) == "55P03" or getattr(orig, "pgcode", None) == "55P03")

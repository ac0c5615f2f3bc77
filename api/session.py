"""One unit of work per request: the session is opened on first use, committed once when the
response is a success, rolled back otherwise (the door owns the commit; the core only flushes)."""

from __future__ import annotations

import fcntl
import functools
import logging
from collections.abc import Callable

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from vision_ledger.db import Database, ReplicaStatus, begin_write, database_of, replica_status

from . import problems

log = logging.getLogger("api")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def database() -> Database:
    """The app's Database."""
    return database_of(current_app.config)


def _queue_for_write(db: Database) -> None:
    """SQLite has one writer at a time. Writers of every worker process and thread queue on a file
    lock beside the database (the kernel wakes them in turn) instead of polling the database lock
    with SQLite's busy handler, whose sleeps of up to 100 ms make the tail latency long."""
    path = db.lock_path(".writers")
    if path is None:
        return
    handle = open(path, "a+b")  # noqa: SIM115 (held until the request ends)
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    g.writer_lock = handle


def _leave_write_queue() -> None:
    handle = g.pop("writer_lock", None)
    if handle is not None:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        handle.close()


def session() -> Session:
    """The request's session; a writing request takes the write lock up front (SQLite)."""
    s: Session | None = g.get("db_session")
    if s is None:
        db = database()
        if request.method in WRITE_METHODS:
            _queue_for_write(db)
        s = db.session()
        if request.method in WRITE_METHODS:
            begin_write(s)
        g.db_session = s
    return s


def read_session() -> Session:
    """The request's session for heavy reads that need not see its own writes (measures, flags,
    verification, exports): on the read replica when one is configured, else the request's own
    session. The answer then carries where the replica stood (`replica_headers`)."""
    db = database()
    if db.replica_sessionmaker is None:
        return session()
    s: Session | None = g.get("db_read_session")
    if s is None:
        s = db.read_session()
        g.db_read_session = s
        g.replica_status = replica_status(s)
    return s


def replica_headers(status: ReplicaStatus) -> dict[str, str]:
    """How far behind the data of a replica-read answer may be: the WAL position the replica had
    replayed and how many seconds it trailed the primary when the read began."""
    return {"X-Replica-Replay-Lsn": status.replay_lsn or "",
            "X-Replica-Lag-Seconds": f"{status.lag_seconds:.3f}"}


def _close_read_session(response: Response | None = None) -> None:
    s: Session | None = g.pop("db_read_session", None)
    if s is not None:
        s.rollback()
        s.close()
    status = g.pop("replica_status", None)
    if response is not None and status is not None:
        response.headers.update(replica_headers(status))


def _finish(response: Response, before_commit: Callable[[Session, Response], None],
            after_clash: Callable[[], Response | None]) -> Response:
    _close_read_session(response)
    s: Session | None = g.pop("db_session", None)
    if s is None:
        return response
    try:
        if response.status_code < 400:
            before_commit(s, response)
            s.commit()
        else:
            s.rollback()
    except IntegrityError as exc:
        s.rollback()
        replay = after_clash()
        if replay is not None:
            return replay
        log.warning("integrity error at commit (request %s): %s", problems.request_id(), exc.orig)
        return problems.problem(409, "request.conflict",
                                "The request clashed with another one; try again")
    except OperationalError as exc:
        s.rollback()
        return problems.database_error(exc)
    finally:
        s.close()
        _leave_write_queue()
    return response


def _teardown(_exc: BaseException | None) -> None:
    _close_read_session()
    s: Session | None = g.pop("db_session", None)
    if s is not None:
        s.rollback()
        s.close()
    _leave_write_queue()


def install(app: Flask, *, before_commit: Callable[[Session, Response], None],
            after_clash: Callable[[], Response | None]) -> None:
    """Commit each request's session once: `before_commit(session, response)` runs just before a
    successful response's commit (the idempotency store), `after_clash()` after a unique-key clash
    at commit and may answer instead (the response a concurrent twin stored)."""
    app.after_request(functools.partial(_finish, before_commit=before_commit, after_clash=after_clash))
    app.teardown_request(_teardown)

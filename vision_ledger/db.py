"""Storage: the declarative base, engines for SQLite (embedded default) and PostgreSQL, sessions.

Core functions take a Session and flush; the doors own the commit (one per request).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import MetaData, Table, create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from . import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        # Every model here is declared with its own table (no model maps a join or a select), so
        # its __table__ is a Table: insert()/update() take it as one.
        __table__: ClassVar[Table]


def utcnow() -> datetime:
    return clock.now()


DEFAULT_SQLITE_PATH = Path("instance") / "vision_ledger.sqlite3"


def embedded_sqlite_url() -> str:
    """The embedded SQLite file under ./instance (made ready): where VISION_DATABASE_URL is unset."""
    DEFAULT_SQLITE_PATH.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{DEFAULT_SQLITE_PATH.resolve()}"


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings this ledger relies on.

    SQLite: WAL, foreign keys, a busy timeout, and transactions that pysqlite does not manage by
    itself (so SAVEPOINT works and a writer can take the write lock up front with BEGIN IMMEDIATE).
    PostgreSQL: psycopg 3, READ COMMITTED; group rows are locked with SELECT ... FOR UPDATE;
    a pooled connection idle for `ping_after` seconds is pinged before use (not every checkout:
    see PING_AFTER_IDLE_SECONDS); passing pool_pre_ping chooses SQLAlchemy's own instead.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("timeout", 30)
        kwargs["connect_args"].setdefault("check_same_thread", False)
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    ping_after = kwargs.pop("ping_after", PING_AFTER_IDLE_SECONDS)
    if "pool_pre_ping" in kwargs:
        return create_engine(url, **kwargs)
    engine = create_engine(url, **kwargs)
    _ping_when_idle(engine, ping_after)
    return engine


# A pooled PostgreSQL connection is pinged before use when it has sat idle this long. SQLAlchemy's
# pool_pre_ping pings on every checkout: one more round trip per transaction, a fifth of a short
# write's. A connection in steady use does not go stale unnoticed for long: the first statement
# to meet a dead server fails (OperationalError), SQLAlchemy then recycles the whole pool.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine, seconds: float) -> None:
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["vision_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("vision_idle_since")
        if since is None or time.monotonic() - since < seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("the pooled connection is gone") from exc  # the pool reconnects


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode is durable against application crashes; FULL also against power
            # loss, which is what a ledger acknowledging money wants.
            cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("vision_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


class Database:
    """An engine and its session factory; passed to the doors, never fetched from a global."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None,
                 replica_url: str | None = None, **kwargs: Any):
        """Bind to a URL (by default the embedded SQLite file) or an engine.

        `replica_url` names a read replica (a PostgreSQL streaming standby) for `read_session`;
        without one, read sessions are ordinary sessions on the primary.
        """
        self.replica_engine: Engine | None = None
        self.replica_sessionmaker: sessionmaker[Session] | None = None
        if replica_url:
            self.replica_engine = make_engine(replica_url)
            self.replica_sessionmaker = sessionmaker(bind=self.replica_engine, expire_on_commit=False)
        self.engine = engine if engine is not None else make_engine(url or embedded_sqlite_url(), **kwargs)
        self.sessionmaker = sessionmaker(bind=self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self.sessionmaker()

    def lock_path(self, suffix: str) -> Path | None:
        """A file beside the SQLite database on which every process using it can queue (`flock`):
        its writers, its one SMS worker. None where no such queue is needed: PostgreSQL (row
        locks), an in-memory database (one process)."""
        name = self.engine.url.database if self.dialect == "sqlite" else None
        if not name or name == ":memory:":
            return None
        return Path(name).with_name(Path(name).name + suffix)

    def read_session(self) -> Session:
        """A session of its own for heavy reads that need not see the caller's own last write: on
        the read replica when one is configured (it never writes; it may trail the primary), else
        the primary. It may outlive the caller's unit of work (a streamed export); close it after."""
        if self.replica_sessionmaker is not None:
            return self.replica_sessionmaker()
        return self.sessionmaker()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.replica_engine is not None:
            self.replica_engine.dispose()

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        """A session that commits on success and rolls back on any error.

        `write=True` takes SQLite's write lock when the transaction begins, so a transaction that
        reads and then writes can never fail to upgrade its lock under concurrency.
        """
        session = self.sessionmaker()
        try:
            if write:
                begin_write(session)
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def database_of(config: Mapping[str, Any]) -> Database:
    """The Database an application's configuration holds (`DATABASE`, where `api.create_app`
    puts it): how every door's request handlers find it (`database_of(current_app.config)`)."""
    database: Database = config["DATABASE"]
    return database


def begin_write(session: Session) -> None:
    """Mark the session's transaction as a writer (BEGIN IMMEDIATE on SQLite; no-op elsewhere).

    Must come before the transaction's first statement.
    """
    if isinstance(session.get_bind(), Connection) or session.in_transaction():
        return
    session.connection(execution_options={"vision_write": True})


@dataclass(frozen=True)
class ReplicaStatus:
    """Where a read replica stands: the WAL position it has replayed and how far it trails."""

    replay_lsn: str | None
    lag_seconds: float


def replica_status(session: Session) -> ReplicaStatus:
    """The replay position and lag of the server the session reads from.

    A primary (or SQLite) has no lag. A standby that has replayed all it received trails by
    nothing, however old its last replayed transaction (an idle primary sends nothing new);
    otherwise it trails by the age of the last transaction it replayed.
    """
    if session.get_bind().dialect.name != "postgresql":
        return ReplicaStatus(None, 0.0)
    row = session.execute(text(
        "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
        "CASE WHEN pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
        " THEN 0 ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
    )).one()
    if not row[0]:
        return ReplicaStatus(None, 0.0)
    return ReplicaStatus(row[1], max(0.0, float(row[2])))


def ping(session: Session) -> bool:
    session.execute(text("SELECT 1"))
    return True

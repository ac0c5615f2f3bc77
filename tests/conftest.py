"""Shared fixtures: the migrated test database (SQLite by default, PostgreSQL when
VISION_TEST_DATABASE_URL names one), a rolled-back transaction per test, and factories.

Tests run against the schema Alembic builds, so the database's own triggers and constraints are
tested too. Each test runs inside an outer transaction that is rolled back; sessions commit into
SAVEPOINTs (`join_transaction_mode="create_savepoint"`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from migrations import upgrade
from vision_ledger import clock, money, pins
from vision_ledger.db import Database, make_engine

from .factories import Factory

TEST_URL = os.environ.get("VISION_TEST_DATABASE_URL", "sqlite")

# The test groups meet in Africa/Nairobi (the factory's default) and the ledger dates business by
# the group's local day. Tests compute "today" with date.today(); running the process on Nairobi
# time keeps the two the same day, also between 21:00 and 24:00 UTC.
os.environ["TZ"] = "Africa/Nairobi"
time.tzset()

# PINs are peppered with a server-side key (vision_ledger/pins.py); the suite has its own, which
# the servers it starts inherit. A test that needs another sets it with pins.configure.
TEST_PIN_PEPPER = "test-pepper-" + "p" * 32
os.environ.setdefault("VISION_PIN_PEPPER", TEST_PIN_PEPPER)


@pytest.fixture(autouse=True)
def _suite_pin_pepper() -> None:
    """Every test starts with the suite's pepper, as a process starts with its settings' one."""
    pins.configure(TEST_PIN_PEPPER)


# Every secret the suite configures somewhere; none may reach a log line (see _suite_log).
SUITE_SECRETS = ("s3cret", "demo-ussd", "demo-sms", TEST_PIN_PEPPER, "at-api-key-of-the-tests")
_LEAKS = (re.compile(r"\bvl_(?!\*\*\*)[A-Za-z0-9_-]{8,}"),  # an API token
          re.compile(r"/(?:ussd|sms)/(?!\*\*\*)(?![\w.-]+\.py\b)[^/\s?\"']+"),  # a callback secret
          re.compile(r"(?i)bearer\s+(?!\*\*\*)[A-Za-z0-9_-]{8,}"))


@pytest.fixture(scope="session", autouse=True)
def _suite_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Everything the suite logs, at every level, goes to one file; at the end the file is read
    and must hold no secret and no token (issue 10: secrets out of logs)."""
    path = tmp_path_factory.mktemp("log") / "suite.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    quiet = {name: logging.getLogger(name).level for name in ("sqlalchemy", "alembic", "faker",
                                                                 "hypothesis", "urllib3")}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
    yield path
    root.removeHandler(handler)
    handler.close()
    root.setLevel(level)
    for name, previous in quiet.items():
        logging.getLogger(name).setLevel(previous)
    leaks = find_leaks(path.read_text(encoding="utf-8", errors="replace"))
    assert not leaks, f"secrets in the suite's log {path}: {leaks[:5]}"


def find_leaks(text: str) -> list[str]:
    """The lines of a log that carry a configured secret or a token."""
    return [line for line in text.splitlines()
            if any(secret in line for secret in SUITE_SECRETS)
            or any(pattern.search(line) for pattern in _LEAKS)]


# A test marked nodb runs in scripts/test.sh's SQLite pass only; one that asks for a database is
# not what its mark says.
_DATABASE_FIXTURES = frozenset({"engine", "connection", "db", "session", "fresh_db", "committed"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        uses = _DATABASE_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if item.get_closest_marker("nodb") and uses:
            raise pytest.UsageError(f"{item.nodeid} is marked nodb but uses {sorted(uses)}")


def is_postgres() -> bool:
    return TEST_URL.startswith("postgresql")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests may talk to 127.0.0.1 only (the stand-ins and servers they start themselves)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and host not in (
            "127.0.0.1", "localhost", "::1",
        ):
            raise RuntimeError(f"test tried to reach {address!r}: loopback only")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


@pytest.fixture(autouse=True)
def _cheap_pin_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """New PIN hashes at 1/16 of production's scrypt cost (n=2**10: about 1 ms instead of 20-40).
    pins.SCRYPT is the cost of new hashes, and each hash names its own parameters, so checking and
    rehashing run production's code unchanged; tests of the parameters set their own."""
    monkeypatch.setattr(pins, "SCRYPT", {**pins.SCRYPT, "n": 2**10})


class SteppedClock:
    """The system clock plus whatever the test advanced it by: time passes without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return clock.system_now() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def stepped_clock() -> Iterator[SteppedClock]:
    """The service reads its time (vision_ledger.clock) from a clock the test advances."""
    stepped = SteppedClock()
    previous = clock.use(stepped)
    yield stepped
    clock.use(previous)


@pytest.fixture(autouse=True)
def _installation_digits() -> Iterator[None]:
    """Each test starts with no recorded minor digits (a process's choices come from its database,
    and each test has its own)."""
    money.reset_minor_digits()
    yield
    money.reset_minor_digits()


_templates: dict[str, str] = {}  # the suite's migrated template: a database name or a file path


def _template(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated once per session (Alembic to heads) that fresh databases are copied from:
    on PostgreSQL CREATE DATABASE ... TEMPLATE, on SQLite a copy of the file; nothing connects to it
    after its migration."""
    if "template" not in _templates:
        if is_postgres():
            name = f"vt_template_{uuid.uuid4().hex[:8]}"
            _create_pg_database(f'CREATE DATABASE "{name}"')
            upgrade(f"{TEST_URL.rsplit('/', 1)[0]}/{name}")
        else:
            name = str(tmp_path_factory.mktemp("template") / "ledger.sqlite3")
            upgrade(f"sqlite:///{name}")
        _templates["template"] = name
    return _templates["template"]


def _create_pg_database(statement: str) -> None:
    admin = make_engine(TEST_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


def fresh_database_url(tmp_path_factory: pytest.TempPathFactory, name: str = "db") -> str:
    """A new, empty, migrated database of the suite's kind, for tests that need real commits: a copy
    of the session's migrated template (the migrations themselves run once)."""
    template = _template(tmp_path_factory)
    if is_postgres():
        dbname = f"vt_{name}_{uuid.uuid4().hex[:8]}"
        _create_pg_database(f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"')
        return f"{TEST_URL.rsplit('/', 1)[0]}/{dbname}"
    path: Path = tmp_path_factory.mktemp(name) / "ledger.sqlite3"
    shutil.copyfile(template, path)
    if os.path.exists(template + "-wal"):
        shutil.copyfile(template + "-wal", str(path) + "-wal")
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = fresh_database_url(tmp_path_factory, "suite")
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[object]:
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        if outer.is_active:
            outer.rollback()


class OneConnectionDatabase(Database):
    """The tests' Database: every session on one connection whose outer transaction the test rolls
    back. Sessions commit into SAVEPOINTs of it; a read session joins it without a savepoint of its
    own (so it may outlive a request's session, whose commit releases that session's savepoint).
    The one connection already serialises every user, so no file lock queues them."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(engine=connection.engine)
        self.connection = connection
        self.sessionmaker = sessionmaker(bind=connection, expire_on_commit=False,
                                         join_transaction_mode="create_savepoint")

    def read_session(self) -> Session:
        return Session(bind=self.connection, join_transaction_mode="rollback_only")

    def lock_path(self, suffix: str) -> Path | None:
        return None


@pytest.fixture
def db(connection: Connection) -> Database:
    """A Database whose sessions live inside the test's rolled-back transaction."""
    return OneConnectionDatabase(connection)


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    s = db.session()
    yield s
    s.close()


@pytest.fixture
def factory(session: Session) -> Factory:
    return Factory(session)


@pytest.fixture
def today() -> date:
    return date.today()


@pytest.fixture
def weeks_ago(today: date):
    return lambda n: today - timedelta(weeks=n)

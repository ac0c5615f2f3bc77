"""Worlds built once and shared: a conftest's `connection` fixture gives each test that asks for its
world the connection holding it, inside a SAVEPOINT rolled back after the test.

A world is built once per session (again when the local day changes, as it is dated by today) in a
database of its own, inside an outer transaction that is never committed. Every test, also one that
writes (postings, tokens, rate-limit counters, idempotency rows, PIN failures), starts from the same
pristine world; building it is paid once instead of per test. Tests that do not ask for the world keep
the suite database and a per-test transaction, as tests/conftest.py gives them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from vision_ledger.db import make_engine

from .conftest import OneConnectionDatabase, fresh_database_url
from .factories import Factory


@dataclass
class Built:
    """A world built in `connection`'s outer transaction on `day`: `ids` is what the builder returned
    (plain values a test loads into its own session), `phones` the factory's phone counter after it."""

    engine: Engine
    connection: Connection
    day: date
    ids: Any
    phones: int

    def drop(self) -> None:
        self.connection.rollback()
        self.connection.close()


_built: dict[str, Built] = {}
_engines: dict[str, Engine] = {}


def _close_all() -> None:
    for built in _built.values():
        built.drop()
    _built.clear()
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()


def _world(request: pytest.FixtureRequest, name: str, build: Callable[[Session, Factory], Any]) -> Built:
    """The world `name` of today, built now if it is not yet (or was built on another day)."""
    built = _built.get(name)
    if built is not None and built.day == date.today():
        return built
    if built is not None:
        built.drop()
    if name not in _engines:
        if not _engines:
            request.config.add_cleanup(_close_all)
        tmp = request.getfixturevalue("tmp_path_factory")
        _engines[name] = make_engine(fresh_database_url(tmp, name))
    conn = _engines[name].connect()
    conn.begin()
    session = OneConnectionDatabase(conn).session()
    factory = Factory(session)
    ids = build(session, factory)
    session.commit()
    session.close()
    _built[name] = built = Built(_engines[name], conn, date.today(), ids, factory.phones_used)
    return built


def connection(request: pytest.FixtureRequest, engine: Engine, name: str, fixture: str,
               build: Callable[[Session, Factory], Any]) -> Iterator[Connection]:
    """The body of a conftest's `connection` fixture: the world `name` (built by `build`, which
    returns what a test needs to find it) in a SAVEPOINT when the test asks for `fixture`;
    otherwise the suite database in a transaction rolled back after the test."""
    if fixture not in request.fixturenames:
        with engine.connect() as conn:
            outer = conn.begin()
            yield conn
            if outer.is_active:
                outer.rollback()
        return
    conn = _world(request, name, build).connection
    savepoint = conn.begin_nested()
    yield conn
    if savepoint.is_active:
        savepoint.rollback()


def ids(name: str, connection: Connection, factory: Factory) -> Any:
    """What the world's builder returned; the test's factory hands out phone numbers past the world's."""
    built = _built[name]
    assert connection is built.connection, f"the {name} world needs the connection of tests/worlds.py"
    factory.phones_used = built.phones
    return built.ids

"""Fixtures of the REST API's tests: the app on the test's database, tokens per role, a world
with two programmes (each with a group holding an open meeting) to probe scope.

The world is built once per session and shared between its tests, each in a SAVEPOINT rolled
back afterwards (tests/worlds.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from api import create_app
from api.auth import create_token
from vision_ledger import loans, savings
from vision_ledger.models import Group, Meeting, Member, Programme

from .. import worlds
from ..factories import Factory

_keys = itertools.count(1)


@pytest.fixture
def app(db: Any) -> Flask:
    return create_app({"DATABASE": db, "TESTING": True})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Api:
    """A test client that speaks as one token: `api.get(path)`, `api.post(path, json, key=...)`."""

    def __init__(self, client: FlaskClient, token: str | None) -> None:
        self.client = client
        self.token = token

    def headers(self, key: str | None = None, **extra: str) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if key is not None:
            headers["Idempotency-Key"] = key
        headers.update(extra)
        return headers

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers(), **kw)

    def post(self, path: str, json: Any = None, *, key: str | bool | None = True, **kw: Any) -> Any:
        """POST with a fresh Idempotency-Key unless `key` is given (False: none)."""
        if key is True:
            key = f"test-{next(_keys)}"
        elif key is False:
            key = None
        return self.client.post(path, json=json if json is not None else {}, headers=self.headers(key), **kw)

    def patch(self, path: str, json: Any, **kw: Any) -> Any:
        return self.client.patch(path, json=json, headers=self.headers(), **kw)

    def put(self, path: str, json: Any, **kw: Any) -> Any:
        return self.client.put(path, json=json, headers=self.headers(), **kw)


@dataclass
class Side:
    """One programme with one group, its meeting open, a treasurer and a member with shares."""

    programme: Programme
    group: Group
    members: list[Member]
    meeting: Meeting
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def g(self) -> str:
        return f"/api/groups/{self.group.id}"

    @property
    def p(self) -> str:
        return f"/api/programmes/{self.programme.id}"

    @property
    def m(self) -> str:
        return f"{self.g}/meetings/{self.meeting.id}"


@dataclass
class World:
    own: Side
    other: Side
    client: FlaskClient

    def as_(self, role: str, side: str = "own") -> Api:
        return Api(self.client, getattr(self, side).tokens[role])


def build_side(session: Any, factory: Any) -> Side:
    today = date.today()
    group = factory.ready(start=today - timedelta(weeks=10))
    members = factory.members(group)
    treasurer = factory.treasurer(group)
    factory.meeting(group, on=today - timedelta(weeks=1))
    for m in members:
        savings.buy_shares(session, treasurer, group, m, 5)
        savings.pay_social_fund(session, treasurer, group, m)
    loans.disburse_loan(session, treasurer, group, members[2], factory.money(group, "1000"))
    factory.close(group)
    meeting = factory.meeting(group, on=today)
    programme = session.get(Programme, group.programme_id)
    side = Side(programme=programme, group=group, members=members, meeting=meeting)
    for role, kw in (("admin", {"programme_id": programme.id}), ("auditor", {"programme_id": programme.id}),
                     ("treasurer", {"group_id": group.id}), ("member", {"member_id": members[1].id})):
        _, secret = create_token(session, role=role, name=f"{role} of test", **kw)
        side.tokens[role] = secret
    _, side.tokens["operator"] = create_token(session, role="operator", name="operator of test")
    return side


@dataclass(frozen=True)
class SideIds:
    """What a test needs to load one side of the world into its own session."""

    programme: int
    group: int
    members: tuple[int, ...]
    meeting: int
    tokens: dict[str, str]

    @classmethod
    def of(cls, side: Side) -> SideIds:
        return cls(side.programme.id, side.group.id, tuple(m.id for m in side.members), side.meeting.id,
                   dict(side.tokens))

    def load(self, session: Session) -> Side:
        by_id = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(self.members)))}
        return Side(programme=session.get_one(Programme, self.programme),
                    group=session.get_one(Group, self.group), members=[by_id[i] for i in self.members],
                    meeting=session.get_one(Meeting, self.meeting), tokens=dict(self.tokens))


def _build_world(session: Session, factory: Factory) -> tuple[SideIds, SideIds]:
    return SideIds.of(build_side(session, factory)), SideIds.of(build_side(session, factory))


@pytest.fixture
def connection(request: pytest.FixtureRequest, engine: Any) -> Iterator[Connection]:
    """The world's connection in a SAVEPOINT for a test of the world, else the suite database's."""
    yield from worlds.connection(request, engine, "api", "world", _build_world)


@pytest.fixture
def world(connection: Connection, session: Session, factory: Factory, client: FlaskClient) -> World:
    own, other = worlds.ids("api", connection, factory)
    return World(own=own.load(session), other=other.load(session), client=client)


@pytest.fixture
def treasurer(world: World) -> Api:
    return world.as_("treasurer")


@pytest.fixture
def admin(world: World) -> Api:
    return world.as_("admin")


@pytest.fixture
def auditor(world: World) -> Api:
    return world.as_("auditor")


@pytest.fixture
def member(world: World) -> Api:
    return world.as_("member")


def money(amount: str, currency: str = "KES") -> dict[str, str]:
    return {"amount": amount, "currency": currency}


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["code"] == code, body
    assert body["status"] == status
    for key in ("type", "title", "detail", "facts", "request_id"):
        assert key in body
    return body

"""Fixtures of the console's tests: the app on the test's database, two programmes (each with a
group that met, a loan out and a failed SMS) with tokens per role, and a signed-in browser stand-in
(`Console`) speaking through Flask's test client."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api import create_app
from api.auth import create_token
from vision_ledger import loans, savings
from vision_ledger.models import Group, Member, OutboxMessage, Programme

CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@pytest.fixture
def app(db: Any) -> Flask:
    return create_app({"DATABASE": db, "TESTING": True})


@dataclass
class Side:
    programme: Programme
    group: Group
    members: list[Member]
    failed: OutboxMessage
    tokens: dict[str, str] = field(default_factory=dict)


def build_side(session: Any, factory: Any, *, name: str = "Umoja VSLA") -> Side:
    """A group of 15 that met twice (one member absent once), with a loan out, a closed meeting's
    statements in the outbox and one of them failed."""
    today = date.today()
    programme = factory.programme()
    group = factory.group(programme, name=name)
    factory.cycle(group, start=today - timedelta(weeks=4))
    members = factory.members(group)
    treasurer = factory.treasurer(group)
    for week, absent in ((2, (members[4].id,)), (1, ())):
        factory.meeting(group, on=today - timedelta(weeks=week), absent=absent)
        for m in members:
            if m.id not in absent:
                savings.buy_shares(session, treasurer, group, m, 5)
                savings.pay_social_fund(session, treasurer, group, m)
        if week == 2:
            loans.disburse_loan(session, treasurer, group, members[2], factory.money(group, "1000"))
        factory.close(group)
    failed = session.query(OutboxMessage).filter_by(group_id=group.id).order_by(OutboxMessage.id).first()
    failed.status, failed.failure_reason, failed.attempts = "failed", "InvalidPhoneNumber", 3
    side = Side(programme=programme, group=group, members=members, failed=failed)
    for role, kw in (("admin", {"programme_id": programme.id}), ("auditor", {"programme_id": programme.id}),
                     ("treasurer", {"group_id": group.id}), ("member", {"member_id": members[1].id})):
        _, side.tokens[role] = create_token(session, role=role, name=f"{role} of test", **kw)
    session.flush()
    return side


@dataclass
class World:
    own: Side
    other: Side


@pytest.fixture
def world(session: Any, factory: Any) -> World:
    own = build_side(session, factory)
    other = build_side(session, factory, name="Other VSLA")
    session.commit()
    return World(own=own, other=other)


class Console:
    """A browser stand-in: signs in with a token, keeps the cookies, posts forms with their CSRF."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.csrf = ""

    def get(self, path: str, **kw: Any) -> Any:
        response = self.client.get(path, **kw)
        found = CSRF.search(response.get_data(as_text=True))
        if found:
            self.csrf = found.group(1)
        return response

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True, **kw: Any) -> Any:
        form = dict(data or {})
        if csrf:
            form.setdefault("csrf", self.csrf)
        return self.client.post(path, data=form, **kw)

    def sign_in(self, token: str, language: str = "en") -> Any:
        self.get("/console/")
        response = self.post("/console/sign-in", {"token": token, "language": language})
        assert response.status_code == 303, response.get_data(as_text=True)
        self.get("/console/home", follow_redirects=True)
        return response


@pytest.fixture
def console(app: Flask) -> Console:
    return Console(app.test_client())


@pytest.fixture
def signed(console: Console, world: World) -> Console:
    """Signed in as the own programme's admin."""
    console.sign_in(world.own.tokens["admin"])
    return console

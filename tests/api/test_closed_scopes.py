"""Closing a group or a programme: its tokens stop working at once (401 auth.scope_closed), the
group takes no meetings or entries (group.closed), and closing is done once."""

from __future__ import annotations

import pytest

from api import cli
from tests.conftest import fresh_database_url
from vision_ledger import closure, meetings, savings
from vision_ledger.actors import Actor
from vision_ledger.db import Database
from vision_ledger.errors import DomainError

from .conftest import assert_problem

SYSTEM = Actor(role="system", channel="cli", name="test")
OPERATOR = Actor(role="operator", channel="cli", name="test")


def test_tokens_of_a_closed_group_stop_working_at_once(world, session):
    side = world.own
    treasurer, member, admin = world.as_("treasurer"), world.as_("member"), world.as_("admin")
    assert treasurer.get(side.g).status_code == 200 and member.get(side.g).status_code == 200
    closure.close_group(session, SYSTEM, side.group)
    session.commit()
    for api in (treasurer, member):
        body = assert_problem(api.get(side.g), 401, "auth.scope_closed")
        assert "group is closed" in body["detail"]
    read = admin.get(side.g)  # the programme's staff still read its books, and see it closed
    assert read.status_code == 200 and read.get_json()["closed_at"] is not None
    assert world.as_("treasurer", "other").get(world.other.g).status_code == 200


def test_tokens_of_a_closed_programme_stop_working_at_once(world, session):
    side = world.own
    closure.close_programme(session, OPERATOR, side.programme)
    session.commit()
    for role in ("admin", "auditor", "treasurer", "member"):
        body = assert_problem(world.as_(role).get(side.g), 401, "auth.scope_closed")
        assert "is closed" in body["detail"]
    for role in ("admin", "treasurer"):
        assert world.as_(role, "other").get(world.other.g).status_code == 200
    operator = world.as_("operator")
    assert operator.get(side.p).get_json()["closed_at"] is not None


def test_a_closed_group_refuses_new_entries(world, session, factory):
    side = world.own
    closure.close_group(session, SYSTEM, side.group)
    with pytest.raises(DomainError) as refused:
        savings.buy_shares(session, factory.treasurer(side.group), side.group, side.members[3], 1)
    assert refused.value.code == "group.closed"


def test_a_closed_group_refuses_new_meetings(world, session, factory):
    side = world.own
    factory.close(side.group)
    closure.close_group(session, SYSTEM, side.group)
    with pytest.raises(DomainError) as refused:
        meetings.open_meeting(session, factory.treasurer(side.group), side.group)
    assert refused.value.code == "group.closed"


def test_a_group_of_a_closed_programme_refuses_new_entries(world, session, factory):
    side = world.own
    closure.close_programme(session, OPERATOR, side.programme)
    with pytest.raises(DomainError) as refused:
        savings.pay_social_fund(session, factory.treasurer(side.group), side.group, side.members[3])
    assert refused.value.code == "group.closed"


def test_a_closed_group_answers_a_repeated_request_with_what_it_did(world, session, factory):
    side = world.own
    treasurer = factory.treasurer(side.group)
    first = savings.buy_shares(session, treasurer, side.group, side.members[3], 1, idempotency_key="k-closed")
    closure.close_group(session, SYSTEM, side.group)
    again = savings.buy_shares(session, treasurer, side.group, side.members[3], 1, idempotency_key="k-closed")
    assert again.id == first.id


def test_a_group_already_closed_cannot_be_closed_again(world, session):
    closure.close_group(session, SYSTEM, world.own.group)
    with pytest.raises(DomainError) as refused:
        closure.close_group(session, SYSTEM, world.own.group)
    assert refused.value.code == "group.already_closed"
    closure.close_programme(session, OPERATOR, world.own.programme)
    with pytest.raises(DomainError) as refused:
        closure.close_programme(session, OPERATOR, world.own.programme)
    assert refused.value.code == "programme.already_closed"


def test_only_the_programmes_admins_close_a_group_and_only_operators_a_programme(world, session):
    treasurer = Actor(role="treasurer", channel="api", group_id=world.own.group.id, name="t")
    admin = Actor(role="admin", channel="api", programme_id=world.own.programme.id, name="a")
    with pytest.raises(DomainError) as refused:
        closure.close_group(session, treasurer, world.own.group)
    assert refused.value.code == "permission.staff_only"
    with pytest.raises(DomainError) as refused:
        closure.close_programme(session, admin, world.own.programme)
    assert refused.value.code == "permission.operator_only"


def test_group_close_and_programme_close_commands(tmp_path_factory, capsys):
    url = fresh_database_url(tmp_path_factory, "closing")
    assert cli.main(["--database", url, "demo"]) == 0
    capsys.readouterr()
    assert cli.main(["--database", url, "group", "close", "1"]) == 0
    assert "group 1 closed" in capsys.readouterr().out
    assert cli.main(["--database", url, "group", "close", "1"]) == 2
    assert "group.already_closed" in capsys.readouterr().err
    assert cli.main(["--database", url, "programme", "close", "1"]) == 0
    assert "programme 1 closed" in capsys.readouterr().out
    assert cli.main(["--database", url, "programme", "close", "999"]) == 2
    assert "programme.not_found" in capsys.readouterr().err
    Database(url).engine.dispose()

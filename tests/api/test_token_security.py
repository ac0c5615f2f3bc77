"""Tokens that stop working: a member who left, an expired token; and a burst of bad tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

from api import cli, create_app
from api.auth import authenticate, create_token, revoke_token
from tests.conftest import fresh_database_url
from vision_ledger.db import Database, utcnow
from vision_ledger.errors import DomainError

from .conftest import Api, assert_problem


def test_the_token_of_a_member_who_left_stops_working_at_once(world, treasurer):
    side = world.own
    member = world.as_("member")
    assert member.get(side.g).status_code == 200
    leaving = side.members[1]
    r = treasurer.post(f"{side.g}/members/{leaving.id}/exit", {})
    assert r.status_code == 201, r.get_data(as_text=True)
    for path in (side.g, f"{side.g}/journal", f"{side.g}/members/{leaving.id}/statement"):
        assert_problem(member.get(path), 401, "auth.unauthorised")


def test_an_expired_token_is_refused(world, session):
    side = world.own
    token, secret = create_token(session, role="treasurer", name="short", group_id=side.group.id,
                                 expires_at=utcnow() + timedelta(minutes=5))
    session.commit()
    api = Api(world.client, secret)
    assert api.get(side.g).status_code == 200
    token.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    body = assert_problem(api.get(side.g), 401, "auth.unauthorised")
    assert "expired" in body["detail"]


def test_a_revoked_token_moves_no_money_and_gets_no_replay(world, session):
    """Authentication reads the token afresh on every request (nothing is cached): the request
    after a revocation is refused, even one repeating a key whose response is stored."""
    side = world.own
    token, secret = create_token(session, role="treasurer", name="phone", group_id=side.group.id)
    session.commit()
    api = Api(world.client, secret)
    body = {"member_id": side.members[0].id, "shares": 1}
    assert api.post(f"{side.m}/share-purchases", body, key="before-revoke").status_code == 201
    revoke_token(session, token.id)
    session.commit()
    for key in ("before-revoke", "after-revoke"):
        assert_problem(api.post(f"{side.m}/share-purchases", body, key=key), 401, "auth.unauthorised")


def test_authentication_reads_the_counts_and_the_token_with_its_scope_in_two_selects(db, world):
    """One SELECT for the failure counts, one for the token with its group's, programme's and
    member's states (it was four: the token, then its group and programme one by one)."""
    app = create_app({"DATABASE": db, "TESTING": True})
    selects: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    engine = db.engine
    for role in ("treasurer", "member", "auditor", "operator"):
        selects.clear()
        headers = {"Authorization": f"Bearer {world.own.tokens[role]}"}
        with app.test_request_context("/api/me", headers=headers):
            event.listen(engine, "before_cursor_execute", count)
            try:
                actor = authenticate()
            finally:
                event.remove(engine, "before_cursor_execute", count)
        assert actor.role == role
        assert len(selects) == 2, (role, selects)


def test_a_token_cannot_be_created_already_expired(world, session):
    with pytest.raises(DomainError) as refused:
        create_token(session, role="treasurer", name="x", group_id=world.own.group.id,
                     expires_at=utcnow() - timedelta(days=1))
    assert refused.value.code == "token.expiry_in_past"


def test_failed_authentications_per_address_are_limited_with_retry_after(db, world):
    app = create_app({"DATABASE": db, "TESTING": True, "VISION_AUTH_FAILURE_LIMIT": "5/60"})
    client = app.test_client()
    good = Api(client, world.own.tokens["treasurer"])
    for n in range(5):
        assert_problem(Api(client, f"vl_wrong{n:040d}").get(world.own.g), 401, "auth.unauthorised")
    body = assert_problem(Api(client, "vl_wrong-again").get(world.own.g), 429, "auth.too_many_failures")
    assert body["facts"]["retry_after"] >= 1
    response = good.get(world.own.g)  # the address is blocked for the window, good token or not
    assert response.status_code == 429 and 1 <= int(response.headers["Retry-After"]) <= 60
    other = app.test_client()
    r = other.get(world.own.g, headers={"Authorization": f"Bearer {world.own.tokens['treasurer']}"},
                  environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert r.status_code == 200  # another address is not blocked


def test_failed_authentications_per_token_prefix_are_limited_from_any_address(db, world):
    app = create_app({"DATABASE": db, "TESTING": True, "VISION_AUTH_FAILURE_LIMIT": "3/60"})
    client = app.test_client()
    for n in range(4):
        r = client.get(world.own.g, headers={"Authorization": f"Bearer vl_SAMEPREFIX{n}"},
                       environ_base={"REMOTE_ADDR": f"10.0.0.{n}"})
    assert_problem(r, 429, "auth.too_many_failures")


def test_token_create_with_expiry_and_list_shows_last_use_and_expiry(tmp_path_factory, capsys):
    url = fresh_database_url(tmp_path_factory, "tokexp")
    assert cli.main(["--database", url, "demo"]) == 0
    capsys.readouterr()
    assert cli.main(["--database", url, "token", "create", "--role", "treasurer", "--group", "1",
                     "--name", "phone", "--expires", "30d"]) == 0
    assert "expires 20" in capsys.readouterr().out
    assert cli.main(["--database", url, "token", "create", "--role", "treasurer", "--group", "1",
                     "--name", "bad", "--expires", "soon"]) == 2
    assert "token.bad_expiry" in capsys.readouterr().err
    assert cli.main(["--database", url, "token", "list"]) == 0
    out = capsys.readouterr().out
    assert "last used" in out and "expires" in out
    line = next(line for line in out.splitlines() if line.endswith(" phone"))
    assert "never" in line and "active" in line
    Database(url).engine.dispose()

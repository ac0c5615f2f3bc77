"""The application itself: the OpenAPI document, errors as problem documents, tokens."""

from __future__ import annotations

import re

from api.auth import create_token, revoke_token
from vision_ledger import savings

from .conftest import Api, assert_problem


def test_openapi_document_describes_every_route_and_the_bearer_scheme(app, client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops
                  if method != "parameters"}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.rule.startswith("/api/openapi"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, (path, method)
    problem = spec["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert "application/problem+json" in problem


def test_unknown_url_is_a_problem_document(client):
    assert_problem(client.get("/api/nothing-here"), 404, "http.not_found")


def test_wrong_method_is_a_problem_document_with_allow(world):
    r = world.client.delete(f"{world.own.g}/journal", headers=world.as_("treasurer").headers())
    body = assert_problem(r, 405, "http.method_not_allowed")
    assert "GET" in r.headers["Allow"]
    assert body["request_id"] == r.headers["X-Request-Id"]


def test_request_without_token_is_refused_with_401(world):
    r = world.client.get(world.own.g)
    assert_problem(r, 401, "auth.unauthorised")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_token_is_refused(world):
    assert_problem(Api(world.client, "vl_nope").get(world.own.g), 401, "auth.unauthorised")


def test_revoked_token_is_refused(world, session):
    token, secret = create_token(session, role="treasurer", group_id=world.own.group.id, name="phone")
    session.commit()
    api = Api(world.client, secret)
    assert api.get(world.own.g).status_code == 200
    revoke_token(session, token.id)
    session.commit()
    assert_problem(api.get(world.own.g), 401, "auth.unauthorised")


def test_token_records_its_last_use(world, session):
    token, secret = create_token(session, role="auditor", programme_id=world.own.programme.id, name="a")
    session.commit()
    assert token.last_used_at is None
    Api(world.client, secret).get(world.own.g)
    session.refresh(token)
    assert token.last_used_at is not None


def test_token_is_stored_hashed(session, world):
    token, secret = create_token(session, role="treasurer", group_id=world.own.group.id, name="x")
    assert secret not in token.token_hash and len(token.token_hash) == 64


def test_me_tells_the_tokens_role_and_scope(world):
    body = world.as_("member").get("/api/me").get_json()
    assert body["role"] == "member" and body["member_id"] == world.own.members[1].id


def test_unexpected_error_is_a_500_problem_with_request_id_and_no_trace(world, monkeypatch, caplog):
    def boom(*a, **k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(savings, "buy_shares", boom)
    r = world.as_("treasurer").post(f"{world.own.m}/share-purchases",
                                    {"member_id": world.own.members[0].id, "shares": 1})
    body = assert_problem(r, 500, "server.unexpected")
    assert "secret internals" not in r.get_data(as_text=True)
    assert "Traceback" not in r.get_data(as_text=True)
    assert body["request_id"] in caplog.text


def test_a_ledger_fault_is_a_500_problem_never_a_refusal(world, monkeypatch, caplog, session):
    """A core that builds an unbalanced entry is our bug: 500 with the fault's code, nothing
    recorded, the fault counted and logged with the entry's facts."""
    from vision_ledger import faults, ledger
    from vision_ledger.money import Money

    def off_by_one(code, amount, member_id=None, units=0):
        return ledger.credit(code, amount - Money(1, amount.currency), member_id, units)

    monkeypatch.setattr(savings, "credit", off_by_one)
    before = faults.total()
    seq = session.get(type(world.own.group), world.own.group.id).last_seq
    r = world.as_("treasurer").post(f"{world.own.m}/share-purchases",
                                    {"member_id": world.own.members[0].id, "shares": 1})
    body = assert_problem(r, 500, "server.ledger_fault")
    assert body["facts"] == {"fault": "ledger.unbalanced"}
    assert faults.total() == before + 1
    assert "share_purchase" in caplog.text and body["request_id"] in caplog.text
    session.expire_all()
    assert session.get(type(world.own.group), world.own.group.id).last_seq == seq


def test_request_id_given_by_the_client_is_echoed(world):
    r = world.client.get(world.own.g, headers={**world.as_("admin").headers(), "X-Request-Id": "abc12345-x"})
    assert r.headers["X-Request-Id"] == "abc12345-x"


def test_validation_errors_list_every_field(world):
    r = world.as_("treasurer").post(f"{world.own.m}/loans", {"member_id": "x", "principal": {"amount": "1"}})
    body = assert_problem(r, 422, "request.invalid")
    fields = {e["field"] for e in body["errors"]}
    assert {"member_id", "principal.currency"} <= fields


def test_money_is_a_decimal_string_with_currency_never_a_float(world):
    body = world.as_("treasurer").get(f"{world.own.g}/balances").get_json()
    assert body["loan_fund_cash"] == {"amount": "6500.00", "currency": "KES"}


def test_timestamps_carry_their_offset(world):
    body = world.as_("admin").get(world.own.g).get_json()
    assert body["created_at"].endswith("+00:00")


def test_malformed_json_body_is_a_problem(world):
    r = world.client.post(f"{world.own.m}/share-purchases", data="{not json",
                          headers={**world.as_("treasurer").headers("k1"),
                                   "Content-Type": "application/json"})
    assert r.status_code in (400, 422)
    assert r.mimetype == "application/problem+json"


def test_the_service_app_serves_the_outbox_to_staff_only(world, admin, auditor, treasurer):
    """The SMS outbox is part of the API: bearer tokens, the programme's scope, the contract."""
    r = admin.get("/api/outbox")
    assert r.status_code == 200, r.get_data(as_text=True)
    counts = r.get_json()["counts"]
    assert counts["pending"] >= 1  # the receipts of the world's share purchases wait to be sent
    assert auditor.get(f"/api/outbox?group_id={world.own.group.id}").status_code == 200
    assert auditor.get(f"/api/outbox?group_id={world.other.group.id}").status_code == 404
    assert treasurer.get("/api/outbox").status_code == 403
    assert world.client.get("/api/outbox").status_code == 401
    paths = world.client.get("/api/openapi.json").get_json()["paths"]
    assert "/api/outbox" in paths and "/api/outbox/{message_id}/retry" in paths

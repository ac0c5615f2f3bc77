"""Amounts at and past every limit through the API: refusals are 4xx with a stable code, nothing
is a 5xx, and the books verify after every step. Includes the issue's overflow sequence (100
grants of 999,999,999,999,999.99) on a real database, read back by every report and `verify --all`.
"""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError, OperationalError

from api import cli, create_app, problems
from api.auth import create_token
from tests.conftest import fresh_database_url
from tests.factories import Factory
from vision_ledger.db import Database
from vision_ledger.money import MAX_AMOUNT_MINOR

from .conftest import Api, assert_problem, build_side, money

HUGE = "999999999999999.99"
LIMIT = "100000000000.00"  # MAX_AMOUNT_MINOR in KES


def _reads_work(api: Api, side) -> None:
    for path in (f"{side.g}/balances", f"{side.g}/trial-balance", f"{side.p}/measures",
                 f"{side.p}/flags"):
        r = api.get(path)
        assert r.status_code == 200, (path, r.get_data(as_text=True))
    verified = api.post(f"{side.p}/verify", {})
    assert verified.status_code == 200, verified.get_data(as_text=True)
    assert api.get(f"{side.g}/verify").get_json()["ok"] is True


def test_the_issues_overflow_sequence_ends_in_refusals_and_every_report_still_works(
        tmp_path_factory):
    url = fresh_database_url(tmp_path_factory, "overflow")
    db = Database(url)
    try:
        with db.session() as s:
            side = build_side(s, Factory(s))
            _, admin_secret = create_token(s, role="admin", name="staff",
                                           programme_id=side.programme.id)
            _, treasurer_secret = create_token(s, role="treasurer", name="t", group_id=side.group.id)
            s.commit()
            g, m = side.g, side.m
        client = create_app({"DATABASE": db, "TESTING": True}).test_client()
        admin, treasurer = Api(client, admin_secret), Api(client, treasurer_secret)

        for _ in range(100):
            r = admin.post(f"{g}/grants", {"amount": money(HUGE)})
            body = assert_problem(r, 422, "request.invalid")
            assert body["errors"][0]["field"] == "amount.amount"
        # Within the ledger's limit but above the programme's maximum: the core's refusal.
        body = assert_problem(admin.post(f"{g}/grants", {"amount": money(LIMIT)}), 422,
                              "grant.above_maximum")
        assert body["facts"] == {"maximum": "650000.00", "requested": LIMIT}
        # A share price past everything, through a treasurer: refused before the core.
        r = treasurer.post(f"{g}/cycles", {"share_price": money(HUGE),
                                           "social_fund_contribution": money("20"),
                                           "start_date": "2025-01-02", "fines": {}})
        assert_problem(r, 422, "request.invalid")
        # The largest legitimate grant is taken, and the meeting still closes on its count.
        assert admin.post(f"{g}/grants", {"amount": money("650000")}).status_code == 201
        expected = treasurer.get(m).get_json()
        r = treasurer.post(f"{m}/close", {"counted_loan_fund": expected["expected_loan_fund"],
                                          "counted_social_fund": expected["expected_social_fund"]})
        assert r.status_code == 200, r.get_data(as_text=True)
        _reads_work(admin, side)
        assert cli.main(["--database", url, "verify", "--all"]) == 0
    finally:
        db.engine.dispose()


# --- what a database error is answered as --------------------------------------------------------


def _wrapped(cls, message, **kw):
    return cls("SELECT 1", {}, sqlite3.OperationalError(message), **kw)


def test_an_overflow_in_the_database_is_a_fault_not_unavailable():
    assert problems.database_kind(_wrapped(OperationalError, "integer overflow")) == "fault"


def test_a_lock_wait_that_ran_out_is_a_clash():
    assert problems.database_kind(_wrapped(OperationalError, "database is locked")) == "clash"


def test_only_a_lost_connection_is_unavailable():
    lost = _wrapped(OperationalError, "server closed the connection", connection_invalidated=True)
    assert problems.database_kind(lost) == "unreachable"
    assert problems.database_kind(_wrapped(OperationalError, "unable to open database file")) == \
        "unreachable"


def test_a_database_overflow_on_a_report_is_a_500_problem(world, auditor, monkeypatch):
    from vision_ledger import audit

    def overflow(*_a, **_k):
        raise _wrapped(OperationalError, "integer overflow")

    monkeypatch.setattr(audit, "verify_many", overflow)
    assert_problem(auditor.post(f"{world.own.p}/verify", {}), 500, "server.unexpected")


def test_a_broken_check_constraint_is_a_500_problem(world, auditor):
    app = world.client.application
    with app.test_request_context():
        r = problems.integrity_error(_wrapped(IntegrityError, "CHECK constraint failed: x"))
    assert r.status_code == 500


# --- the property: extreme amounts never make a 5xx, and the books always verify -----------------

EXTREMES = ["0", "-1", "0.01", "0.001", "1.234567", "20", "650", "650.01", "1300.01", "2600",
            "2600.01", "26000", "26000.01", "650000", "650000.01", LIMIT, "100000000000.01", HUGE,
            "10000000000000000000", "-" + HUGE, "99999999999999"]
amounts = st.one_of(st.sampled_from(EXTREMES),
                    st.integers(min_value=-(10**20), max_value=10**20).map(str),
                    st.decimals(min_value=-(10**16), max_value=10**16, places=2,
                                allow_nan=False, allow_infinity=False).map(str))
STEPS = ["grant", "cycle", "welfare", "loan", "repay", "close", "policy"]


def _step(world, kind: str, amount: str):
    own = world.own
    t, a = world.as_("treasurer"), world.as_("admin")
    member = own.members[3].id
    if kind == "grant":
        return a.post(f"{own.g}/grants", {"amount": money(amount)})
    if kind == "cycle":
        return t.post(f"{own.g}/cycles", {"share_price": money(amount),
                                          "social_fund_contribution": money(amount),
                                          "start_date": "2025-01-02",
                                          "fines": {"late": money(amount)}})
    if kind == "welfare":
        return t.post(f"{own.m}/welfare-payouts", {"member_id": member, "amount": money(amount),
                                                   "reason": "funeral"})
    if kind == "loan":
        return t.post(f"{own.m}/loans", {"member_id": member, "principal": money(amount)})
    if kind == "repay":
        return t.post(f"{own.m}/repayments", {"member_id": own.members[2].id,
                                              "amount": money(amount)})
    if kind == "policy":
        whole = amount.split(".", maxsplit=1)[0].lstrip("-") or "0"
        return a.patch(f"{own.p}/policy", {"grant_max": int(whole)})
    # close with an extreme count, then open the next meeting so business can go on
    r = t.post(f"{own.m}/close", {"counted_loan_fund": money(amount),
                                  "counted_social_fund": money("0"), "variance_reason": "test"})
    if r.status_code == 200:
        opened = t.post(f"{own.g}/meetings", {})
        assert opened.status_code == 201, opened.get_data(as_text=True)
        own.meeting = type(own.meeting)(id=opened.get_json()["id"])
    return r


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=st.lists(st.tuples(st.sampled_from(STEPS), amounts), min_size=1, max_size=6))
def test_extreme_amounts_are_refused_or_taken_never_a_server_error(world, steps):
    auditor = world.as_("auditor")
    for kind, amount in steps:
        r = _step(world, kind, amount)
        assert r.status_code < 500, (kind, amount, r.get_data(as_text=True))
        report = auditor.get(f"{world.own.g}/verify")
        assert report.status_code == 200 and report.get_json()["ok"] is True, report.get_json()
        for path in (f"{world.own.g}/balances", f"{world.own.g}/trial-balance"):
            assert auditor.get(path).status_code == 200


def test_money_in_refuses_past_the_ledger_limit_before_the_core(world, admin):
    body = assert_problem(admin.post(f"{world.own.g}/grants",
                                     {"amount": money("100000000000.01")}), 422, "request.invalid")
    assert "100000000000.00" in body["errors"][0]["message"]
    assert MAX_AMOUNT_MINOR == 10**13


@pytest.mark.parametrize("amount", ["99999999999999", "100000000000.00"])
def test_the_close_form_takes_every_count_up_to_the_ledger_limit(world, treasurer, amount):
    # The form accepts it (no request.invalid); the books then say the count does not match.
    r = treasurer.post(f"{world.own.m}/close", {"counted_loan_fund": money(amount),
                                                "counted_social_fund": money("0")})
    body = assert_problem(r, 422, "request.invalid" if amount.startswith("9999") else
                          "meeting.cash_mismatch")
    assert body

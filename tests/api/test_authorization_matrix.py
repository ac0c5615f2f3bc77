"""Every role (the operator too) x every route x own / other scope, with the expected status.

The routes come from the app's own route table: a route missing from MATRIX fails, so no new
route can escape the matrix. Outside its scope every role gets 404 (never 403), so ids of other
groups and programmes cannot be probed.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import object_session

from api import create_app
from vision_ledger import indicators, verification
from vision_ledger.actors import Actor
from vision_ledger.audit import ManyReport
from vision_ledger.db import Database, utcnow
from vision_ledger.errors import NotFound
from vision_ledger.models import Cycle, Entry, Loan, OutboxMessage

from .conftest import Api, Side, money

ROLES = ("auditor", "member", "admin", "treasurer")  # the order requests are made in
_phones = itertools.count(100)


def _new_member(_: Side) -> dict[str, Any]:
    return {"name": "Newcomer", "phone": f"0744000{next(_phones):03d}"}


def _verified(side: Side) -> None:
    """No body: keeps a verification run of the side's programme, so that there is a last run."""
    session = object_session(side.group)
    report = ManyReport(ok=True, groups_checked=1, entries_checked=0, seconds=0.0, failures=[])
    verification.record_run(session, side.programme.id, report, scope="programme", trigger="api",
                            started_at=utcnow())
    session.commit()


TITLES = {"en": "Groups formed", "sw": "Vikundi", "ar": "مجموعات"}


def _indicator(body: dict[str, Any] | None) -> Any:
    """The side's programme has an indicator `matrix` with a target for 2027Q1 (a delete by an
    earlier role is made good before the next request)."""
    def make(side: Side) -> dict[str, Any] | None:
        session = object_session(side.group)
        system = Actor.system()
        try:
            indicators.get_indicator(session, system, side.programme.id, "matrix")
        except NotFound:
            indicators.create_indicator(session, system, side.programme.id, code="matrix", titles=TITLES,
                                        measure="groups_formed")
        indicators.set_target(session, system, side.programme.id, "matrix", period="2027Q1", value="2")
        session.commit()
        return body
    return make


def _close(side: Side) -> dict[str, Any]:
    return {"counted_loan_fund": money("6500"), "counted_social_fund": money("300")}


G, P, M = "{g}", "{p}", "{m}"
# endpoint: (method, path, body, expected statuses for auditor, member, admin, treasurer in own scope)
MATRIX: dict[str, tuple[str, str, Any, tuple[int, int, int, int]]] = {
    "programmes.me": ("GET", "/api/me", None, (200, 200, 200, 200)),
    "programmes.get_programme": ("GET", P, None, (200, 404, 200, 404)),
    "programmes.get_policy": ("GET", P + "/policy", None, (200, 404, 200, 404)),
    "programmes.update_policy": ("PATCH", P + "/policy", {"service_charge_bp": 900}, (403, 404, 200, 404)),
    "programmes.list_groups": ("GET", P + "/groups", None, (200, 404, 200, 404)),
    "programmes.create_group": ("POST", P + "/groups", {"name": "New", "schedule": "FREQ=WEEKLY;BYDAY=MO",
                                                        "timezone": "Africa/Nairobi"}, (403, 404, 201, 404)),
    # The matrix sends JSON: an admin gets as far as the media type check (415).
    "imports.import_members": ("POST", P + "/imports", None, (403, 404, 415, 404)),
    "programmes.list_programmes": ("GET", "/api/programmes", None, (403, 403, 403, 403)),
    "programmes.create_programme": ("POST", "/api/programmes", {
        "name": "Matrix programme", "country": "KE", "currency": "KES",
        "timezone": "Africa/Nairobi", "usd_rate": "130"}, (403, 403, 403, 403)),
    "programmes.create_programme_token": ("POST", P + "/tokens", {"role": "admin", "name": "first"},
                                          (403, 404, 403, 404)),
    "groups.get_group": ("GET", G, None, (200, 200, 200, 200)),
    "groups.get_group_policy": ("GET", G + "/policy", None, (200, 200, 200, 200)),
    "groups.update_group_policy": ("PATCH", G + "/policy", {"shares_max": 4}, (403, 403, 200, 200)),
    "groups.update_group": ("PATCH", G, {"village": "Kikambala"}, (403, 403, 200, 200)),
    "groups.list_members": ("GET", G + "/members", None, (200, 404, 200, 200)),
    "groups.add_member": ("POST", G + "/members", _new_member, (403, 403, 201, 201)),
    "groups.get_member": ("GET", G + "/members/{member}", None, (200, 200, 200, 200)),
    "groups.update_member": ("PATCH", G + "/members/{member}", {"language": "sw"}, (403, 200, 200, 200)),
    "groups.set_pin": ("PUT", G + "/members/{member}/pin", {"pin": "2468"}, (403, 403, 200, 200)),
    "groups.exit_member": ("POST", G + "/members/{member}/exit", {}, (403, 403, 403, 201)),
    "groups.statement": ("GET", G + "/members/{member}/statement", None, (200, 200, 200, 200)),
    "groups.list_cycles": ("GET", G + "/cycles", None, (200, 404, 200, 200)),
    "groups.start_cycle": ("POST", G + "/cycles", {"share_price": money("50"), "social_fund_contribution":
                                                   money("10"), "start_date": "2024-01-04"},
                    (403, 403, 422, 422)),
    "groups.get_cycle": ("GET", G + "/cycles/{cycle}", None, (200, 404, 200, 200)),
    "meetings.list_meetings": ("GET", G + "/meetings", None, (200, 404, 200, 200)),
    "meetings.open_meeting": ("POST", G + "/meetings", {}, (403, 403, 403, 422)),
    "meetings.get_meeting": ("GET", M, None, (200, 404, 200, 200)),
    "meetings.close_meeting": ("POST", M + "/close", _close, (403, 403, 403, 200)),
    "meetings.meeting_entries": ("GET", M + "/entries", None, (200, 200, 200, 200)),
    "meetings.buy_shares": ("POST", M + "/share-purchases", {"member_id": "{member0}", "shares": 1},
                            (403, 403, 403, 201)),
    "meetings.pay_social_fund": ("POST", M + "/social-fund-payments", {"member_id": "{member0}"},
                                 (403, 403, 403, 201)),
    "meetings.charge_fine": ("POST", M + "/fines", {"member_id": "{member0}", "fine": "late"},
                             (403, 403, 403, 201)),
    "meetings.pay_welfare": ("POST", M + "/welfare-payouts", {"member_id": "{member0}",
                                                               "amount": money("100"),
                                                               "reason": "illness"}, (403, 403, 403, 201)),
    "meetings.disburse_loan": ("POST", M + "/loans", {"member_id": "{member0}", "principal": money("1000")},
                               (403, 403, 403, 201)),
    "meetings.repay_loan": ("POST", M + "/repayments", {"member_id": "{borrower}", "amount": money("100")},
                            (403, 403, 403, 201)),
    "meetings.write_off_loan": ("POST", M + "/write-offs", {"loan_id": "{loan}", "reason": "moved away"},
                                (403, 403, 403, 201)),
    "books.list_loans": ("GET", G + "/loans", None, (200, 200, 200, 200)),
    "books.get_loan": ("GET", G + "/loans/{loan}", None, (200, 404, 200, 200)),
    "books.list_grants": ("GET", G + "/grants", None, (200, 200, 200, 200)),
    "books.record_grant": ("POST", G + "/grants", {"amount": money("5000")}, (403, 403, 201, 403)),
    "books.preview_share_out": ("GET", G + "/share-out", None, (200, 404, 200, 200)),
    "books.execute_share_out": ("POST", G + "/share-out", None, (403, 403, 403, 422)),
    "books.reverse_entry": ("POST", G + "/reversals", {"entry_id": "{entry}", "reason": "audit"},
                            (403, 403, 201, 422)),
    "books.list_accounts": ("GET", G + "/accounts", None, (200, 404, 200, 200)),
    "books.balances": ("GET", G + "/balances", None, (200, 404, 200, 200)),
    "books.journal": ("GET", G + "/journal", None, (200, 200, 200, 200)),
    "books.journal_csv": ("GET", G + "/journal.csv", None, (200, 200, 200, 200)),
    "books.trial_balance": ("GET", G + "/trial-balance", None, (200, 404, 200, 200)),
    "books.verify": ("GET", G + "/verify", None, (200, 404, 200, 200)),
    # api/audit.py (programme staff's measures, flags and exports)
    "audit.programme_measures": ("GET", P + "/measures", None, (200, 404, 200, 404)),
    "audit.group_measures": ("GET", G + "/measures", None, (200, 403, 200, 403)),
    "audit.programme_flags": ("GET", P + "/flags", None, (200, 404, 200, 404)),
    "audit.group_flags": ("GET", G + "/flags", None, (200, 403, 200, 403)),
    "audit.verify_programme": ("POST", P + "/verify", None, (200, 404, 200, 404)),
    "audit.last_verification": ("GET", P + "/verify", _verified, (200, 404, 200, 404)),
    "audit.export_journal": ("GET", P + "/export/journal.csv", None, (200, 404, 200, 404)),
    "audit.export_statements": ("GET", G + "/export/statements.json", None, (200, 403, 200, 403)),
    # api/views/indicators.py (programme results: admins write, auditors read)
    "indicators.indicator_results": ("GET", P + "/indicators?period=2027Q1", _indicator(None),
                                     (200, 404, 200, 404)),
    "indicators.indicator_report_csv": ("GET", P + "/indicators.csv?period=2027", _indicator(None),
                                        (200, 404, 200, 404)),
    "indicators.create_indicator": ("POST", P + "/indicators", {
        "code": "created", "titles": TITLES, "measure": "groups_active"}, (403, 404, 201, 404)),
    "indicators.get_indicator": ("GET", P + "/indicators/matrix", _indicator(None), (200, 404, 200, 404)),
    "indicators.replace_indicator": ("PUT", P + "/indicators/matrix", _indicator({"titles": TITLES,
                                     "breakdowns": ["region"]}), (403, 404, 200, 404)),
    "indicators.delete_indicator": ("DELETE", P + "/indicators/matrix", _indicator(None),
                                    (403, 404, 204, 404)),
    "indicators.set_target": ("PUT", P + "/indicators/matrix/targets/2027Q2", _indicator({"value": "3"}),
                              (403, 404, 200, 404)),
    "indicators.delete_target": ("DELETE", P + "/indicators/matrix/targets/2027Q1", _indicator(None),
                                 (403, 404, 204, 404)),
    "indicators.indicator_changes": ("GET", P + "/indicator-changes", _indicator(None), (200, 404, 200, 404)),
    "indicators.loan_purposes": ("GET", P + "/loan-purposes", None, (200, 404, 200, 404)),
    "indicators.set_loan_purposes": ("PUT", P + "/loan-purposes", {"purposes": [
        {"code": "trade", "titles": {"en": "Trade", "sw": "Biashara", "ar": "تجارة"}, "business": True}]},
        (403, 404, 200, 404)),
    # api/views/outbox.py (the outbox: programme staff see it, admins retry a failed message)
    "outbox.outbox_summary": ("GET", "/api/outbox", None, (200, 403, 200, 403)),
    "outbox.outbox_retry": ("POST", "/api/outbox/{failed_sms}/retry", None, (403, 403, 200, 403)),
}
UNSCOPED = {"programmes.me", "outbox.outbox_summary", "programmes.list_programmes",
            "programmes.create_programme"}  # the token's own scope, whatever the path
# The installation's operator: programme records and their first staff tokens, in any programme;
# never a programme's settings, groups or books (403: a role refusal, the same in every
# programme), and no group at all (404, as outside any scope). Status in any programme.
OPERATOR = {
    "programmes.me": 200, "programmes.list_programmes": 200, "programmes.create_programme": 201,
    "programmes.get_programme": 200, "programmes.get_policy": 200,
    "programmes.create_programme_token": 201,
    "programmes.update_policy": 403, "programmes.list_groups": 403, "programmes.create_group": 403,
    "audit.programme_measures": 403, "audit.programme_flags": 403, "audit.verify_programme": 403,
    "audit.export_journal": 403, "outbox.outbox_summary": 403, "outbox.outbox_retry": 403,
    "imports.import_members": 403, "audit.last_verification": 403,
    **{endpoint: 403 for endpoint in (
        "indicators.indicator_results", "indicators.indicator_report_csv", "indicators.create_indicator",
        "indicators.get_indicator", "indicators.replace_indicator", "indicators.delete_indicator",
        "indicators.set_target", "indicators.delete_target", "indicators.indicator_changes",
        "indicators.loan_purposes", "indicators.set_loan_purposes")},
}  # every other route (a group's): 404
# Routes closed to a role whatever the ids: the refusal does not depend on whose id it is, so it
# tells nothing about other groups. expected statuses in the other scope, as MATRIX's tuples.
OTHER_SCOPE = {"outbox.outbox_retry": (404, 403, 404, 403)}


def _routes() -> list[tuple[str, str]]:
    """(endpoint, method) of every API route, read from the app's url_map."""
    app = create_app({"DATABASE": Database("sqlite://"), "TESTING": True})
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or rule.endpoint.startswith("api-docs"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, method))
    return sorted(routes)


def _ids(session: Any, side: Side) -> dict[str, Any]:
    group_id = side.group.id
    failed_sms = session.scalars(select(OutboxMessage).where(OutboxMessage.group_id == group_id)
                                 .order_by(OutboxMessage.id)).first()
    failed_sms.status = "failed"  # AT refused it for good; an admin may send it again
    session.commit()
    loan = session.scalars(select(Loan).where(Loan.group_id == group_id)).first()
    return {
        "g": side.g, "p": side.p, "m": side.m, "member": side.members[1].id, "member0": side.members[0].id,
        "borrower": side.members[2].id, "loan": loan.id, "failed_sms": failed_sms.id,
        "cycle": session.scalars(select(Cycle.id).where(Cycle.group_id == group_id)).first(),
        "entry": session.scalars(select(Entry.id).where(Entry.group_id == group_id)
                                 .order_by(Entry.seq)).first(),
    }


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in ids and "/" not in value:
            return ids[value[1:-1]]
        for name, v in ids.items():
            value = value.replace("{" + name + "}", str(v))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


def _request(api: Api, method: str, path: str, body: Any) -> Any:
    headers = api.headers(key=f"matrix-{next(_phones)}")
    if method == "GET":
        return api.client.get(path, headers=headers)
    return api.client.open(path, method=method, json=body if body is not None else {}, headers=headers)


@pytest.mark.parametrize(("endpoint", "method"), _routes())
def test_authorization_matrix(endpoint, method, world, session):
    assert endpoint in MATRIX, f"route {endpoint} ({method}) is missing from the authorization matrix"
    want_method, template, body, expected = MATRIX[endpoint]
    assert want_method == method
    own, other = _ids(session, world.own), _ids(session, world.other)
    # Someone else's group or programme: 404 for every role, before anything else happens.
    for role in ROLES:
        b = body(world.other) if callable(body) else body
        r = _request(world.as_(role), method, _fill(template, other), _fill(b, other))
        want = (expected[ROLES.index(role)] if endpoint in UNSCOPED
                else OTHER_SCOPE[endpoint][ROLES.index(role)] if endpoint in OTHER_SCOPE else 404)
        assert r.status_code == want, (role, "other", r.get_data(as_text=True))
        if want == 404:
            assert r.mimetype == "application/problem+json"
    for role, want in zip(ROLES, expected, strict=True):
        b = body(world.own) if callable(body) else body
        r = _request(world.as_(role), method, _fill(template, own), _fill(b, own))
        assert r.status_code == want, (role, "own", r.get_data(as_text=True))
        if want >= 400:
            assert r.mimetype == "application/problem+json"
    want = OPERATOR.get(endpoint, 404)
    for side, ids in ((world.own, own), (world.other, other)):
        b = body(side) if callable(body) else body
        r = _request(world.as_("operator"), method, _fill(template, ids), _fill(b, ids))
        assert r.status_code == want, ("operator", r.get_data(as_text=True))
        if want >= 400:
            assert r.mimetype == "application/problem+json"


def test_matrix_has_no_stale_routes():
    assert {e for e, _ in _routes()} == set(MATRIX)
    assert set(OPERATOR) <= set(MATRIX)

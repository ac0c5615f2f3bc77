"""The operator's API (programmes, their first staff tokens) and the group's constitution."""

from __future__ import annotations

import pytest

from api.auth import create_token
from vision_ledger.errors import DomainError

from .conftest import Api

KENYA = {"name": "PHSS Kenya", "country": "KE", "currency": "KES", "timezone": "Africa/Nairobi",
         "languages": ["en", "sw"], "usd_rate": "130"}


def _operator(world) -> Api:
    return world.as_("operator")


def test_operator_creates_a_programme_and_its_first_admin(world):
    operator = _operator(world)
    r = operator.post("/api/programmes", KENYA, key=False)
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert (body["currency"], body["minor_digits"], body["usd_rate"]) == ("KES", 2, "130")
    assert body["policy"]["loan_max"] == 260000 and body["languages"] == ["en", "sw"]
    pid = body["id"]
    assert pid in [p["id"] for p in operator.get("/api/programmes").get_json()]
    r = operator.post(f"/api/programmes/{pid}/tokens", {"role": "admin", "name": "first admin"},
                      key=False)
    assert r.status_code == 201
    admin = Api(world.client, r.get_json()["secret"])
    assert admin.get("/api/me").get_json()["programme_id"] == pid
    r = admin.post(f"/api/programmes/{pid}/groups", {"name": "Umoja", "schedule": "FREQ=WEEKLY"},
                   key=False)
    assert r.status_code == 201
    assert (r.get_json()["timezone"], r.get_json()["language"]) == ("Africa/Nairobi", "en")


def test_operator_token_for_a_treasurer_is_refused(world):
    r = _operator(world).post(f"{world.own.p}/tokens", {"role": "treasurer", "name": "x"}, key=False)
    assert r.status_code == 422


def test_programme_with_unknown_currency_is_refused_and_nothing_is_created(world):
    operator = _operator(world)
    before = len(operator.get("/api/programmes").get_json())
    r = operator.post("/api/programmes", {**KENYA, "currency": "XYZ"}, key=False)
    assert (r.status_code, r.get_json()["code"]) == (422, "money.unknown_currency")
    assert len(operator.get("/api/programmes").get_json()) == before


def test_programme_policy_outside_installation_bounds_is_refused_over_the_api(world, admin):
    r = admin.patch(f"{world.own.p}/policy", {"members_max": 25})
    assert (r.status_code, r.get_json()["code"]) == (422, "policy.out_of_range")
    assert r.get_json()["facts"]["bound"] == "installation"


def test_operator_token_with_a_scope_is_refused(session, world):
    with pytest.raises(DomainError) as info:
        create_token(session, role="operator", name="x", programme_id=world.own.programme.id)
    assert info.value.code == "token.operator_unscoped"


def test_group_constitution_is_read_and_changed_through_the_api(world, treasurer, member):
    path = f"{world.own.g}/policy"
    r = treasurer.patch(path, {"shares_max": 3})
    assert r.status_code == 200 and r.get_json()["group"] == {"shares_max": 3}
    assert member.get(path).get_json()["in_force"]["shares_max"] == 3
    r = treasurer.patch(path, {"shares_max": 9})
    assert (r.status_code, r.get_json()["code"]) == (422, "policy.out_of_range")
    r = treasurer.patch(path, {"shares_max": None})
    assert r.get_json()["group"] == {} and r.get_json()["in_force"]["shares_max"] == 5

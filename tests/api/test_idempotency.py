"""Idempotency-Key on money-moving requests."""

from __future__ import annotations

from sqlalchemy import func, select

from vision_ledger.models import Entry

from .conftest import assert_problem, money


def _entries(session, group_id):
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Entry).where(Entry.group_id == group_id))


def test_money_moving_post_without_key_is_refused_with_400(world, treasurer):
    r = treasurer.post(f"{world.own.m}/share-purchases", {"member_id": world.own.members[0].id, "shares": 1},
                       key=False)
    assert_problem(r, 400, "idempotency.key_required")


def test_every_money_moving_route_requires_a_key(world, treasurer, admin):
    paths = [f"{world.own.m}/{p}" for p in ("share-purchases", "social-fund-payments", "fines",
                                            "welfare-payouts", "loans", "repayments", "write-offs", "close")]
    paths += [f"{world.own.g}/share-out", f"{world.own.g}/reversals",
              f"{world.own.g}/members/{world.own.members[0].id}/exit"]
    for path in paths:
        assert_problem(treasurer.post(path, {}, key=False), 400, "idempotency.key_required")
    assert_problem(admin.post(f"{world.own.g}/grants", {"amount": money("1")}, key=False), 400,
                   "idempotency.key_required")


def test_replay_returns_the_original_response_and_posts_nothing(world, treasurer, session):
    body = {"member_id": world.own.members[0].id, "shares": 2}
    first = treasurer.post(f"{world.own.m}/share-purchases", body, key="buy-1")
    count = _entries(session, world.own.group.id)
    again = treasurer.post(f"{world.own.m}/share-purchases", body, key="buy-1")
    assert again.status_code == first.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert _entries(session, world.own.group.id) == count


def test_replay_with_keys_in_different_order_is_the_same_request(world, treasurer):
    m = world.own.members[0].id
    first = treasurer.client.post(f"{world.own.m}/share-purchases", data=f'{{"member_id": {m}, "shares": 1}}',
                                  headers=treasurer.headers("k-order"), content_type="application/json")
    again = treasurer.client.post(f"{world.own.m}/share-purchases", data=f'{{"shares":1,"member_id":{m}}}',
                                  headers=treasurer.headers("k-order"), content_type="application/json")
    assert first.status_code == 201 and again.get_json() == first.get_json()


def test_same_key_with_a_different_body_is_refused_with_422(world, treasurer, session):
    treasurer.post(f"{world.own.m}/share-purchases", {"member_id": world.own.members[0].id, "shares": 1},
                   key="buy-2")
    count = _entries(session, world.own.group.id)
    r = treasurer.post(f"{world.own.m}/share-purchases", {"member_id": world.own.members[0].id, "shares": 2},
                       key="buy-2")
    body = assert_problem(r, 422, "idempotency.key_reused")
    assert "different request" in body["detail"]
    assert _entries(session, world.own.group.id) == count


def test_a_refused_request_can_be_retried_with_the_same_key(world, treasurer):
    m = world.own.members[0].id
    refused = treasurer.post(f"{world.own.m}/share-purchases", {"member_id": m, "shares": 9}, key="k-retry")
    assert refused.status_code == 422
    ok = treasurer.post(f"{world.own.m}/share-purchases", {"member_id": m, "shares": 1}, key="k-retry")
    assert ok.status_code == 201


def test_keys_are_scoped_per_route(world, treasurer):
    m = world.own.members[0].id
    assert treasurer.post(f"{world.own.m}/share-purchases", {"member_id": m, "shares": 1},
                          key="shared").status_code == 201
    assert treasurer.post(f"{world.own.m}/social-fund-payments", {"member_id": m},
                          key="shared").status_code == 201


def test_keys_are_scoped_per_group(world):
    own, other = world.as_("treasurer"), world.as_("treasurer", "other")
    assert own.post(f"{world.own.m}/share-purchases", {"member_id": world.own.members[0].id, "shares": 1},
                    key="same").status_code == 201
    assert other.post(f"{world.other.m}/share-purchases", {"member_id": world.other.members[0].id,
                                                            "shares": 1}, key="same").status_code == 201


def test_core_key_reuse_is_answered_as_422(world, treasurer, monkeypatch):
    """When the ledger itself catches the reuse (the stored response missing), the API says 422."""
    from api import idempotency

    m = world.own.members[0].id
    treasurer.post(f"{world.own.m}/share-purchases", {"member_id": m, "shares": 1}, key="core-reuse")
    monkeypatch.setattr(idempotency, "_lookup", lambda *a: None)
    r = treasurer.post(f"{world.own.m}/share-purchases", {"member_id": m, "shares": 2}, key="core-reuse")
    assert_problem(r, 422, "idempotency.key_reused")


def test_invalid_key_is_refused(world, treasurer):
    r = treasurer.post(f"{world.own.m}/share-purchases", {"member_id": world.own.members[0].id, "shares": 1},
                       key="x" * 101)
    assert_problem(r, 400, "idempotency.key_invalid")

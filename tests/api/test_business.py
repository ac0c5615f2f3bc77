"""Meeting business over the API: every transaction, and each refusal as a problem document."""

from __future__ import annotations

from .conftest import assert_problem, money


def _entry_count(world, api=None):
    api = api or world.as_("auditor")
    return api.get(f"{world.own.g}/verify").get_json()["entries_checked"]


def test_treasurer_records_a_share_purchase(world, treasurer):
    m = world.own.members[0]
    r = treasurer.post(f"{world.own.m}/share-purchases", {"member_id": m.id, "shares": 3})
    assert r.status_code == 201
    body = r.get_json()
    assert body["kind"] == "share_purchase"
    amounts = {p["account"]: p["amount"] for p in body["postings"]}
    assert amounts["loan_fund_cash"] == money("300.00")
    assert amounts[f"member_shares:{m.id}"] == money("-300.00")


def test_shares_above_the_maximum_are_refused_with_problem_document(world, treasurer):
    r = treasurer.post(f"{world.own.m}/share-purchases", {"member_id": world.own.members[0].id, "shares": 6})
    body = assert_problem(r, 422, "shares.above_maximum")
    assert body["facts"]["maximum"] == 5


def test_share_purchase_into_a_closed_meeting_is_refused(world, treasurer, session):
    from sqlalchemy import select

    from vision_ledger.models import Meeting

    first = session.scalars(select(Meeting).where(Meeting.group_id == world.own.group.id)
                            .order_by(Meeting.id)).first()
    r = treasurer.post(f"{world.own.g}/meetings/{first.id}/share-purchases",
                       {"member_id": world.own.members[0].id, "shares": 1})
    assert_problem(r, 422, "meeting.not_open")


def test_member_of_another_group_cannot_buy_shares_here(world, treasurer):
    r = treasurer.post(f"{world.own.m}/share-purchases", {"member_id": world.other.members[0].id,
                                                          "shares": 1})
    assert_problem(r, 404, "member.not_found")


def test_social_fund_once_per_meeting(world, treasurer):
    m = world.own.members[0]
    assert treasurer.post(f"{world.own.m}/social-fund-payments", {"member_id": m.id}).status_code == 201
    r = treasurer.post(f"{world.own.m}/social-fund-payments", {"member_id": m.id})
    assert_problem(r, 422, "social_fund.already_paid")


def test_fine_from_the_cycles_schedule(world, treasurer):
    r = treasurer.post(f"{world.own.m}/fines", {"member_id": world.own.members[0].id, "fine": "late"})
    assert r.status_code == 201 and r.get_json()["kind"] == "fine"


def test_unknown_fine_is_refused_with_problem_document(world, treasurer):
    r = treasurer.post(f"{world.own.m}/fines", {"member_id": world.own.members[0].id, "fine": "singing"})
    assert_problem(r, 422, "fine.unknown")


def test_welfare_payout_from_the_social_fund(world, treasurer):
    r = treasurer.post(f"{world.own.m}/welfare-payouts",
                       {"member_id": world.own.members[0].id, "amount": money("100"), "reason": "funeral"})
    assert r.status_code == 201 and r.get_json()["memo"] == "funeral"


def test_welfare_above_the_social_fund_is_refused_with_problem_document(world, treasurer):
    r = treasurer.post(f"{world.own.m}/welfare-payouts",
                       {"member_id": world.own.members[0].id, "amount": money("5000"), "reason": "x"})
    body = assert_problem(r, 422, "welfare.above_social_fund")
    assert body["facts"]["available"] == "300.00"


def test_treasurer_disburses_a_loan_with_its_schedule(world, treasurer):
    m = world.own.members[0]
    r = treasurer.post(f"{world.own.m}/loans", {"member_id": m.id, "principal": money("1000")})
    assert r.status_code == 201
    loan = r.get_json()
    assert loan["principal"] == money("1000.00") and loan["balance"] == money("1100.00")
    detail = treasurer.get(f"{world.own.g}/loans/{loan['id']}").get_json()
    assert detail["due_on"] and [e["kind"] for e in detail["entries"]] == ["loan"]


def test_loan_above_programme_maximum_is_refused_with_problem_document(world, treasurer):
    r = treasurer.post(f"{world.own.m}/loans", {"member_id": world.own.members[0].id,
                                                "principal": money("3000")})
    body = assert_problem(r, 422, "loan.above_maximum")
    assert body["facts"] == {"maximum": "2600.00", "requested": "3000.00"}


def test_loan_above_three_times_savings_is_refused_with_problem_document(world, treasurer):
    r = treasurer.post(f"{world.own.m}/loans", {"member_id": world.own.members[0].id,
                                                "principal": money("1600")})
    assert_problem(r, 422, "loan.above_savings_multiple")


def test_second_active_loan_is_refused_with_problem_document(world, treasurer):
    r = treasurer.post(f"{world.own.m}/loans", {"member_id": world.own.members[2].id,
                                                "principal": money("700")})
    assert_problem(r, 422, "loan.active_loan_exists")


def test_loan_in_another_currency_is_refused(world, treasurer):
    r = treasurer.post(f"{world.own.m}/loans", {"member_id": world.own.members[0].id,
                                                "principal": money("10", "USD")})
    assert_problem(r, 422, "money.currency_mismatch")


def test_repayment_goes_to_the_charge_then_principal(world, treasurer):
    r = treasurer.post(f"{world.own.m}/repayments", {"member_id": world.own.members[2].id,
                                                     "amount": money("150")})
    assert r.status_code == 201
    assert r.get_json()["details"] == {"charge": 10000, "principal": 5000}


def test_repayment_above_the_balance_is_refused_with_problem_document(world, treasurer):
    r = treasurer.post(f"{world.own.m}/repayments", {"member_id": world.own.members[2].id,
                                                     "amount": money("5000")})
    assert_problem(r, 422, "repayment.above_balance")


def test_repayment_without_a_loan_is_refused(world, treasurer):
    r = treasurer.post(f"{world.own.m}/repayments", {"member_id": world.own.members[0].id,
                                                     "amount": money("10")})
    assert_problem(r, 422, "loan.none_active")


def test_write_off_is_a_recorded_decision(world, treasurer):
    loan = treasurer.get(f"{world.own.g}/loans?status=active").get_json()[0]
    r = treasurer.post(f"{world.own.m}/write-offs", {"loan_id": loan["id"], "reason": "moved away"})
    assert r.status_code == 201 and r.get_json()["kind"] == "write_off"
    assert treasurer.get(f"{world.own.g}/loans/{loan['id']}").get_json()["status"] == "written_off"


def test_write_off_without_reason_is_refused_with_problem_document(world, treasurer):
    loan = treasurer.get(f"{world.own.g}/loans").get_json()[0]
    r = treasurer.post(f"{world.own.m}/write-offs", {"loan_id": loan["id"], "reason": "  "})
    assert_problem(r, 422, "write_off.reason_required")


def test_treasurer_reverses_an_entry_of_the_open_meeting(world, treasurer):
    entry = treasurer.post(f"{world.own.m}/share-purchases",
                           {"member_id": world.own.members[0].id, "shares": 1}).get_json()
    r = treasurer.post(f"{world.own.g}/reversals", {"entry_id": entry["id"], "reason": "wrong member"})
    assert r.status_code == 201 and r.get_json()["reverses_id"] == entry["id"]


def test_treasurer_cannot_reverse_an_entry_of_a_past_meeting(world, treasurer):
    first = treasurer.get(f"{world.own.g}/journal?limit=1").get_json()["items"][0]
    r = treasurer.post(f"{world.own.g}/reversals", {"entry_id": first["id"], "reason": "x"})
    assert_problem(r, 422, "reversal.outside_open_meeting")


def test_admin_reverses_a_past_entry_with_a_reason(world, admin):
    first = admin.get(f"{world.own.g}/journal?limit=1").get_json()["items"][0]
    assert_problem(admin.post(f"{world.own.g}/reversals", {"entry_id": first["id"]}), 422,
                   "reversal.reason_required")
    r = admin.post(f"{world.own.g}/reversals", {"entry_id": first["id"], "reason": "audit"})
    assert r.status_code == 201


def test_admin_records_a_grant_and_members_are_told(world, admin, session):
    from sqlalchemy import func, select

    from vision_ledger.models import OutboxMessage

    r = admin.post(f"{world.own.g}/grants", {"amount": money("5000"), "reference": "IOM-1"})
    assert r.status_code == 201 and r.get_json()["kind"] == "grant"
    told = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.group_id == world.own.group.id, OutboxMessage.kind == "grant"))
    assert told == 15
    grants = admin.get(f"{world.own.g}/grants").get_json()["items"]
    assert [g["memo"] for g in grants] == ["IOM-1"]


def test_treasurer_cannot_record_a_grant(world, treasurer):
    assert_problem(treasurer.post(f"{world.own.g}/grants", {"amount": money("5000")}), 403,
                   "permission.staff_only")


def test_auditor_cannot_record_a_grant(world, auditor):
    assert_problem(auditor.post(f"{world.own.g}/grants", {"amount": money("5000")}), 403,
                   "permission.read_only")


def test_staff_cannot_record_meeting_business(world, admin):
    r = admin.post(f"{world.own.m}/share-purchases", {"member_id": world.own.members[0].id, "shares": 1})
    assert_problem(r, 403, "permission.treasurer_only")


def test_share_out_preview_and_refusal_while_loans_are_outstanding(world, treasurer):
    plan = treasurer.get(f"{world.own.g}/share-out").get_json()
    assert plan["loans_outstanding"] == 1 and plan["total_shares"] == 75
    assert_problem(treasurer.post(f"{world.own.g}/share-out"), 422, "shareout.loans_outstanding")


def test_share_out_executes_once_every_loan_is_settled(world, treasurer):
    treasurer.post(f"{world.own.m}/repayments",
                   {"member_id": world.own.members[2].id, "amount": money("1100")})
    r = treasurer.post(f"{world.own.g}/share-out")
    assert r.status_code == 201
    body = r.get_json()
    assert body["total_shares"] == 75
    cycles = treasurer.get(f"{world.own.g}/cycles").get_json()
    assert cycles[-1]["status"] == "closed"


def test_every_money_moving_post_leaves_the_books_verifiable(world, treasurer, auditor):
    before = _entry_count(world)
    treasurer.post(f"{world.own.m}/share-purchases", {"member_id": world.own.members[0].id, "shares": 1})
    report = auditor.get(f"{world.own.g}/verify").get_json()
    assert report["ok"] and report["entries_checked"] == before + 1
    assert auditor.get(f"{world.own.g}/trial-balance").get_json()["balanced"] is True


def test_json_amounts_are_the_machine_form_never_a_locale_form(world, treasurer):
    """JSON is machine to machine: "12.50", a dot and no grouping, whatever the group's locale."""
    before = _entry_count(world)
    for amount in ("1,250", "12,50", "1 250", "١٢٫٥٠"):
        r = treasurer.post(f"{world.own.m}/welfare-payouts",
                           {"member_id": world.own.members[0].id, "amount": money(amount), "reason": "x"})
        assert_problem(r, 422, "request.invalid")
    assert _entry_count(world) == before

"""Programmes, groups, members and cycles over the API."""

from __future__ import annotations

from datetime import date, timedelta

from .conftest import assert_problem, money


def test_admin_reads_the_programme_and_its_policy(world, admin):
    assert admin.get(world.own.p).get_json()["currency"] == "KES"
    assert admin.get(f"{world.own.p}/policy").get_json()["shares_max"] == 5


def test_admin_updates_the_programme_policy(world, admin):
    r = admin.patch(f"{world.own.p}/policy", {"service_charge_bp": 500})
    assert r.status_code == 200 and r.get_json()["service_charge_bp"] == 500


def test_policy_out_of_range_is_refused_with_problem_document(world, admin):
    assert_problem(admin.patch(f"{world.own.p}/policy", {"shares_min": 9}), 422, "policy.out_of_range")


def test_auditor_cannot_change_the_policy(world, auditor):
    assert_problem(auditor.patch(f"{world.own.p}/policy", {"service_charge_bp": 500}), 403,
                   "permission.read_only")


def test_treasurer_cannot_see_the_programme(world, treasurer):
    assert_problem(treasurer.get(world.own.p), 404, "programme.not_found")


def test_admin_of_another_programme_sees_404(world):
    assert_problem(world.as_("admin", "other").get(world.own.p), 404, "programme.not_found")
    assert_problem(world.as_("admin", "other").get(world.own.g), 404, "group.not_found")


def test_admin_creates_a_group(world, admin):
    r = admin.post(f"{world.own.p}/groups", {"name": "Tumaini", "schedule": "FREQ=WEEKLY;BYDAY=MO",
                                             "timezone": "Africa/Nairobi", "language": "sw"}, key=False)
    assert r.status_code == 201
    names = [g["name"] for g in admin.get(f"{world.own.p}/groups").get_json()]
    assert "Tumaini" in names


def test_group_with_an_invalid_schedule_is_refused_with_problem_document(world, admin):
    r = admin.post(f"{world.own.p}/groups",
                   {"name": "X", "schedule": "whenever", "timezone": "Africa/Nairobi"})
    assert_problem(r, 422, "group.invalid_schedule")


def test_treasurer_updates_the_group(world, treasurer):
    r = treasurer.patch(world.own.g, {"village": "Kikambala"})
    assert r.status_code == 200 and r.get_json()["village"] == "Kikambala"


def test_auditor_cannot_update_the_group(world, auditor):
    assert_problem(auditor.patch(world.own.g, {"village": "X"}), 403, "permission.read_only")


def test_treasurer_adds_a_member_with_an_initial_pin(world, treasurer):
    r = treasurer.post(f"{world.own.g}/members", {"name": "Rehema", "phone": "0722000111", "pin": "4321"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["phone"] == "+254722000111" and body["pin_set"] and body["pin_must_change"]
    assert "pin" not in body


def test_member_with_a_duplicate_phone_is_refused_with_problem_document(world, treasurer):
    r = treasurer.post(f"{world.own.g}/members", {"name": "Dup", "phone": world.own.members[0].phone})
    assert_problem(r, 422, "member.duplicate_phone")


def test_a_21st_member_is_refused_with_problem_document(world, treasurer):
    for i in range(5):
        assert treasurer.post(f"{world.own.g}/members",
                              {"name": f"N{i}", "phone": f"07330001{i:02d}"}).status_code == 201
    r = treasurer.post(f"{world.own.g}/members", {"name": "Extra", "phone": "0733000199"})
    assert_problem(r, 422, "group.full")


def test_treasurer_changes_a_members_role_phone_and_language(world, treasurer):
    m = world.own.members[3]
    r = treasurer.patch(f"{world.own.g}/members/{m.id}",
                        {"role": "key_holder", "phone": "0799000111", "language": "sw"})
    assert r.status_code == 200
    assert r.get_json()["role"] == "key_holder" and r.get_json()["language"] == "sw"


def test_member_changes_only_their_own_language(world, member):
    me = world.own.members[1]
    assert member.patch(f"{world.own.g}/members/{me.id}", {"language": "sw"}).status_code == 200
    assert_problem(member.patch(f"{world.own.g}/members/{me.id}", {"role": "chair"}), 403,
                   "permission.denied")


def test_member_cannot_read_another_member(world, member):
    assert_problem(member.get(f"{world.own.g}/members/{world.own.members[0].id}"), 404, "member.not_found")


def test_treasurer_sets_a_members_initial_pin(world, treasurer):
    m = world.own.members[4]
    r = treasurer.put(f"{world.own.g}/members/{m.id}/pin", {"pin": "1234"})
    assert r.status_code == 200 and r.get_json()["pin_set"]


def test_pin_that_is_not_four_digits_is_refused(world, treasurer):
    r = treasurer.put(f"{world.own.g}/members/{world.own.members[4].id}/pin", {"pin": "12a"})
    assert_problem(r, 422, "request.invalid")


def test_member_leaves_at_the_meeting_with_their_savings(world, treasurer):
    m = world.own.members[5]
    r = treasurer.post(f"{world.own.g}/members/{m.id}/exit", {})
    assert r.status_code == 201
    assert r.get_json()["details"]["payout"] == 50000
    assert treasurer.get(f"{world.own.g}/members/{m.id}").get_json()["status"] == "left"


def test_member_with_a_loan_larger_than_savings_cannot_leave(world, treasurer):
    r = treasurer.post(f"{world.own.g}/members/{world.own.members[2].id}/exit", {})
    assert_problem(r, 422, "member.exit_debt_exceeds_savings")


def test_member_reads_their_statement(world, member):
    me = world.own.members[1]
    body = member.get(f"{world.own.g}/members/{me.id}/statement").get_json()
    assert body["position"]["shares"] == 5
    assert body["position"]["savings"] == money("500.00")
    assert {e["member_id"] for e in body["entries"]} == {me.id}
    assert [line["entry"]["id"] for line in body["lines"]] == [e["id"] for e in body["entries"]]


def test_statement_shows_the_share_out_payout_with_running_totals(world, treasurer, member, session,
                                                                   factory):
    from sqlalchemy import select

    from vision_ledger import loans
    from vision_ledger.models import Loan, ShareOutPayout

    me = world.own.members[1]
    for loan in session.scalars(select(Loan).where(Loan.group_id == world.own.group.id,
                                                   Loan.status == "active")).all():
        loans.write_off_loan(session, factory.treasurer(world.own.group), world.own.group, loan, "gone")
    session.commit()
    r = treasurer.post(f"{world.own.g}/share-out", {})
    assert r.status_code == 201, r.get_json()
    body = member.get(f"{world.own.g}/members/{me.id}/statement").get_json()
    assert body["entries"][-1]["kind"] == "share_out" and body["entries"][-1]["member_id"] is None
    last = body["lines"][-1]
    assert last["entry"]["kind"] == "share_out"
    paid = session.scalars(select(ShareOutPayout.payout).where(ShareOutPayout.member_id == me.id)).one()
    assert last["amount"] == money(f"{paid // 100}.{paid % 100:02d}")
    assert (last["shares"], last["savings"], last["loan_balance"]) == (0, money("0.00"), money("0.00"))
    assert body["lines"][0]["shares"] == 5 and body["lines"][0]["savings"] == money("500.00")


def test_statement_filters_by_date(world, treasurer):
    me = world.own.members[1]
    future = (date.today() + timedelta(days=1)).isoformat()
    body = treasurer.get(f"{world.own.g}/members/{me.id}/statement?since={future}").get_json()
    assert body["entries"] == []


def test_cycle_settings_are_readable(world, treasurer):
    cycles = treasurer.get(f"{world.own.g}/cycles").get_json()
    one = treasurer.get(f"{world.own.g}/cycles/{cycles[0]['id']}").get_json()
    assert one["share_price"] == money("100.00") and one["fines"]["late"] == money("50.00")


def test_second_open_cycle_is_refused_with_problem_document(world, treasurer):
    r = treasurer.post(f"{world.own.g}/cycles", {"share_price": money("50"), "social_fund_contribution":
                                                 money("10"), "start_date": date.today().isoformat()})
    assert_problem(r, 422, "cycle.already_open")


def test_new_cycle_starts_after_share_out(world, treasurer):
    treasurer.post(f"{world.own.m}/repayments",
                   {"member_id": world.own.members[2].id, "amount": money("1100")})
    assert treasurer.post(f"{world.own.g}/share-out").status_code == 201
    r = treasurer.post(f"{world.own.g}/cycles", {
        "share_price": money("200"), "social_fund_contribution": money("20"),
        "start_date": date.today().isoformat(), "fines": {"late": money("20")}, "weeks": 40})
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["share_price"] == money("200.00") and r.get_json()["weeks"] == 40


def test_a_group_reads_amounts_in_its_countrys_locale_unless_told(world, admin):
    r = admin.post(f"{world.own.p}/groups", {"name": "Prishtina", "schedule": "FREQ=WEEKLY;BYDAY=MO",
                                             "timezone": "Europe/Belgrade", "country": "XK"}, key=False)
    assert r.status_code == 201 and r.get_json()["locale"] == "sq_XK"
    r = admin.post(f"{world.own.p}/groups", {"name": "Mitrovica", "schedule": "FREQ=WEEKLY;BYDAY=MO",
                                             "timezone": "Europe/Belgrade", "country": "XK",
                                             "locale": "sr-Latn-XK"}, key=False)
    assert r.status_code == 201 and r.get_json()["locale"] == "sr_Latn_XK"
    assert admin.get(world.own.g).get_json()["locale"] == "en_KE"


def test_a_group_with_an_unknown_locale_is_refused_with_problem_document(world, admin, treasurer):
    r = admin.post(f"{world.own.p}/groups", {"name": "X", "schedule": "FREQ=WEEKLY;BYDAY=MO",
                                             "timezone": "Africa/Nairobi", "locale": "xx_YY"}, key=False)
    assert_problem(r, 422, "group.unknown_locale")
    assert_problem(treasurer.patch(world.own.g, {"locale": "en_KE;x"}), 422, "group.unknown_locale")
    assert treasurer.get(world.own.g).get_json()["locale"] == "en_KE"


def test_treasurer_changes_the_groups_locale(world, treasurer):
    r = treasurer.patch(world.own.g, {"locale": "sw_KE"})
    assert r.status_code == 200 and r.get_json()["locale"] == "sw_KE"

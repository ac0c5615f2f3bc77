"""Opening and closing meetings; the journal, loans and accounts as read over the API."""

from __future__ import annotations

import csv
import io

from .conftest import assert_problem, money


def _close(api, world, loan="6500", social="300", **extra):
    return api.post(f"{world.own.m}/close", {"counted_loan_fund": money(loan),
                                            "counted_social_fund": money(social), **extra})


def test_meeting_shows_attendance_and_expected_cash(world, treasurer):
    body = treasurer.get(world.own.m).get_json()
    assert body["status"] == "open" and len(body["attendance"]) == 15
    assert body["expected_loan_fund"] == money("6500.00")
    assert body["expected_social_fund"] == money("300.00")


def test_meeting_closes_when_the_count_matches(world, treasurer):
    r = _close(treasurer, world)
    assert r.status_code == 200 and r.get_json()["status"] == "closed"
    assert r.get_json()["closing_loan_fund"] == money("6500.00")


def test_count_that_differs_without_a_reason_is_refused_with_problem_document(world, treasurer):
    body = assert_problem(_close(treasurer, world, loan="6400"), 422, "meeting.cash_mismatch")
    assert body["facts"]["expected_loan_fund"] == "6500.00"


def test_count_that_differs_with_a_reason_is_recorded_as_variance(world, treasurer):
    r = _close(treasurer, world, loan="6400", variance_reason="torn note")
    assert r.status_code == 200
    kinds = [e["kind"] for e in treasurer.get(f"{world.own.m}/entries").get_json()["items"]]
    assert kinds == ["cash_variance"]


def test_treasurer_opens_a_meeting_with_the_absent_members(world, treasurer):
    _close(treasurer, world)
    absent = [m.id for m in world.own.members[:3]]
    r = treasurer.post(f"{world.own.g}/meetings", {"absent_member_ids": absent})
    assert r.status_code == 201
    body = r.get_json()
    assert body["present_count"] == 12
    assert [a["member_id"] for a in body["attendance"] if not a["present"]] == absent


def test_second_open_meeting_is_refused_with_problem_document(world, treasurer):
    assert_problem(treasurer.post(f"{world.own.g}/meetings", {}), 422, "meeting.already_open")


def test_meeting_without_quorum_is_refused_with_problem_document(world, treasurer):
    _close(treasurer, world)
    absent = [m.id for m in world.own.members[:8]]
    assert_problem(treasurer.post(f"{world.own.g}/meetings", {"absent_member_ids": absent}), 422,
                   "meeting.no_quorum")


def test_auditor_cannot_open_a_meeting(world, auditor):
    assert_problem(auditor.post(f"{world.own.g}/meetings", {}), 403, "permission.treasurer_only")


def test_journal_pages_by_cursor(world, auditor):
    first = auditor.get(f"{world.own.g}/journal?limit=10").get_json()
    assert [e["seq"] for e in first["items"]] == list(range(1, 11))
    second = auditor.get(f"{world.own.g}/journal?limit=10&after={first['next_cursor']}").get_json()
    assert second["items"][0]["seq"] == 11
    everything = auditor.get(f"{world.own.g}/journal?limit=1000").get_json()
    assert everything["next_cursor"] is None and len(everything["items"]) == 31


def test_journal_filters_by_kind_member_meeting_and_dates(world, auditor, treasurer):
    m = world.own.members[2]
    loans = auditor.get(f"{world.own.g}/journal?kind=loan").get_json()["items"]
    assert [e["member_id"] for e in loans] == [m.id]
    mine = auditor.get(f"{world.own.g}/journal?member_id={m.id}").get_json()["items"]
    assert {e["kind"] for e in mine} == {"share_purchase", "social_fund", "loan"}
    treasurer.post(f"{world.own.m}/fines", {"member_id": m.id, "fine": "late"})
    now = auditor.get(f"{world.own.g}/journal?meeting_id={world.own.meeting.id}").get_json()["items"]
    assert [e["kind"] for e in now] == ["fine"]
    today = world.own.meeting.date.isoformat()
    assert len(auditor.get(f"{world.own.g}/journal?since={today}&until={today}").get_json()["items"]) == 1


def test_member_sees_only_their_own_journal_entries(world, member):
    items = member.get(f"{world.own.g}/journal").get_json()["items"]
    assert items and {e["member_id"] for e in items} == {world.own.members[1].id}


def test_journal_as_csv_has_one_row_per_posting(world, auditor):
    r = auditor.get(f"{world.own.g}/journal.csv?kind=loan")
    assert r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(rows) == 3 and sum(int(float(row["amount"]) * 100) for row in rows) == 0


def test_accounts_trial_balance_and_balances(world, auditor):
    accounts = auditor.get(f"{world.own.g}/accounts").get_json()
    assert any(a["key"] == "loan_fund_cash" for a in accounts)
    assert auditor.get(f"{world.own.g}/trial-balance").get_json()["balanced"]
    balances = auditor.get(f"{world.own.g}/balances").get_json()
    assert balances["savings"] == money("7500.00") and balances["total_shares"] == 75
    assert balances["loans_outstanding"] == money("1100.00")


def test_member_reads_only_their_own_loans(world, member, treasurer):
    assert member.get(f"{world.own.g}/loans").get_json() == []
    loan = treasurer.get(f"{world.own.g}/loans").get_json()[0]
    assert_problem(member.get(f"{world.own.g}/loans/{loan['id']}"), 404, "member.not_found")


def test_loan_of_another_group_is_not_found(world, treasurer):
    other = world.as_("treasurer", "other").get(f"{world.other.g}/loans").get_json()[0]
    assert_problem(treasurer.get(f"{world.own.g}/loans/{other['id']}"), 404, "loan.not_found")


def test_verify_reports_the_books_intact(world, auditor):
    report = auditor.get(f"{world.own.g}/verify").get_json()
    assert report == {"group_id": world.own.group.id, "entries_checked": 31, "ok": True,
                      "problem": None, "problems": []}

"""The audit routes: measures, flags, verification and exports, for programme staff only."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from sqlalchemy import text

from tests.conftest import is_postgres

from .conftest import assert_problem, money

TODAY = date.today()


def test_group_measures_are_documented_and_in_money_objects(world, auditor):
    r = auditor.get(f"{world.own.g}/measures")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    m = body["measures"]
    assert m["members"] == 15
    assert m["savings"] == money("7500.00")
    assert m["loans_outstanding"] == money("1100.00")
    assert m["loans_disbursed"] == 1 and m["average_loan_size"] == money("1000.00")
    assert m["attendance_rate"] == "1.0000"
    assert body["segments"]["female"]["total_assets"] is None
    spec = world.client.get("/api/openapi.json").get_json()
    described = spec["components"]["schemas"]["Measures"]["properties"]["repayment_rate"]["description"]
    assert "amount repaid / amount that fell due" in described


def test_group_measures_over_a_date_range(world, admin):
    start = (TODAY - timedelta(weeks=2)).isoformat()
    r = admin.get(f"{world.own.g}/measures?from={start}&to={TODAY.isoformat()}")
    assert r.status_code == 200
    assert r.get_json()["from"] == start


def test_programme_measures_roll_up_its_groups(world, auditor):
    r = auditor.get(f"{world.own.p}/measures?groups=true")
    assert r.status_code == 200
    body = r.get_json()
    assert body["groups"] == 1 and len(body["per_group"]) == 1
    assert body["measures"]["savings"] == money("7500.00")


def test_flags_name_their_facts(world, auditor):
    r = auditor.get(f"{world.own.g}/flags")
    assert r.status_code == 200
    codes = {f["code"] for f in r.get_json()["flags"]}
    assert "key_holders_short" in codes
    assert "ledger_verification_failed" not in codes
    r = auditor.get(f"{world.own.p}/flags?key_holders_min=0&missed_meetings_max=99")
    assert r.status_code == 200
    [group] = r.get_json()
    assert "key_holders_short" not in {f["code"] for f in group["flags"]}


def test_verify_a_programme_names_the_altered_entry(world, admin, session):
    r = admin.post(f"{world.own.p}/verify", key=False)
    assert r.status_code == 200 and r.get_json()["ok"] is True
    if is_postgres():
        session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        session.execute(text("DROP TRIGGER entries_no_update"))
    session.execute(text("UPDATE entries SET memo = 'x' WHERE group_id = :g AND seq = 4"),
                    {"g": world.own.group.id})
    body = admin.post(f"{world.own.p}/verify", key=False).get_json()
    assert body["ok"] is False
    assert body["first_problem"]["seq"] == 4 and body["first_problem"]["problem"] == "hash_mismatch"


def test_the_journal_exports_as_csv_and_json(world, auditor):
    r = auditor.get(f"{world.own.p}/export/journal.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert {row["group_id"] for row in rows} == {str(world.own.group.id)}
    r = auditor.get(f"{world.own.p}/export/journal.json")
    assert r.status_code == 200
    entries = r.get_json()["entries"]
    assert entries[-1]["hash"] == world.own.group.last_hash
    # The streamed export read inside the request's transaction and left it as it was.
    assert auditor.get(f"{world.own.g}/measures").get_json()["measures"]["savings"] == money("7500.00")


def test_statements_export(world, auditor):
    r = auditor.get(f"{world.own.g}/export/statements.json")
    assert r.status_code == 200
    assert len(r.get_json()["members"]) == 15
    assert auditor.get(f"{world.own.g}/export/statements.csv").status_code == 200


@pytest.mark.parametrize("path", ["/measures", "/flags", "/export/statements.csv"])
def test_group_audit_routes_refuse_the_treasurer_and_other_programmes(world, path):
    assert_problem(world.as_("treasurer").get(world.own.g + path), 403, "permission.staff_only")
    assert_problem(world.as_("auditor", "other").get(world.own.g + path), 404, "group.not_found")


@pytest.mark.parametrize("path", ["/measures", "/flags", "/export/journal.csv"])
def test_programme_audit_routes_are_out_of_scope_for_other_programmes(world, path):
    assert_problem(world.as_("auditor", "other").get(world.own.p + path), 404, "programme.not_found")
    assert_problem(world.as_("treasurer").get(world.own.p + path), 404, "programme.not_found")


@pytest.mark.parametrize("threshold", ["rollovers_max", "treasurer_reversals_max", "missed_meetings_max",
                                       "key_holders_min"])
def test_a_flag_threshold_past_any_reachable_count_is_refused_not_overflowed(world, auditor, threshold):
    r = auditor.get(f"{world.own.p}/flags?{threshold}=10000000000000000000")
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.get_json()["code"] == "request.invalid"

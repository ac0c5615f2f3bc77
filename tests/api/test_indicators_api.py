"""The results routes: indicators and targets over HTTP, the indicator table as JSON and as a CSV
donor report, problem documents for bad input, the trail of changes, loan purposes."""

from __future__ import annotations

import csv
import io
from datetime import date

from .conftest import assert_problem, money

TITLES = {"en": "Savings mobilised", "sw": "Akiba", "ar": "المدخرات"}
QUARTER = f"{date.today().year}Q{(date.today().month - 1) // 3 + 1}"


def _define(admin, world, code="savings", measure="savings_mobilised", **extra):
    r = admin.post(f"{world.own.p}/indicators", {"code": code, "titles": TITLES, "measure": measure, **extra})
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


def test_an_admin_defines_an_indicator_sets_targets_and_reads_the_table(world, admin, auditor):
    body = _define(admin, world, breakdowns=["gender"])
    assert (body["unit"], body["targets"], body["breakdowns"]) == ("money", [], ["gender"])
    r = admin.put(f"{world.own.p}/indicators/savings/targets/{QUARTER}", {"value": "15000.00"})
    assert r.status_code == 200 and r.get_json() == {"period": QUARTER, "value": "15000.00"}
    table = auditor.get(f"{world.own.p}/indicators?period={QUARTER}").get_json()
    [line] = table["indicators"]
    # build_side: 15 members bought 5 shares of KES 100 this quarter (a week ago): KES 7,500.
    assert (line["target"], line["actual"], line["percentage"]) == ("15000.00", "7500.00", "50.0")
    assert sum(float(v) for v in line["breakdown"].values()) == 7500
    assert table["columns"][:4] == ["gender:female", "gender:male", "gender:other", "gender:not_recorded"]
    assert set(table["columns"]) == set(line["breakdown"])  # JSON objects keep no order: columns do
    assert auditor.get(f"{world.own.p}/indicators/savings").get_json()["targets"] == [
        {"period": QUARTER, "value": "15000.00"}]


def test_the_csv_report_has_the_donor_layout_and_no_formula_runs(world, admin):
    _define(admin, world)
    r = admin.put(f"{world.own.p}/indicators/savings", {"titles": {**TITLES, "en": "=HYPERLINK(\"x\")"}})
    assert r.status_code == 200
    admin.put(f"{world.own.p}/indicators/savings/targets/{QUARTER}", {"value": "7500"})
    r = admin.get(f"{world.own.p}/indicators.csv?period={QUARTER}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows[0][:8] == ["indicator", "title", "measure", "unit", "period", "target", "actual",
                           "percentage"]
    assert rows[1][:8] == ["savings", "'=HYPERLINK(\"x\")", "savings_mobilised", "money", QUARTER,
                           "7500.00", "7500.00", "100.0"]


def test_bad_periods_and_values_get_a_problem_and_change_nothing(world, admin):
    _define(admin, world)
    for period in ("2027q1", "2027Q5", "Q1-2027", "２０２７"):
        assert_problem(admin.get(f"{world.own.p}/indicators?period={period}"), 422, "period.invalid")
        assert_problem(admin.put(f"{world.own.p}/indicators/savings/targets/{period}", {"value": "1"}),
                       422, "period.invalid")
    problem = assert_problem(admin.put(f"{world.own.p}/indicators/savings/targets/2027Q1",
                                       {"value": "1,000"}), 422, "target.invalid_value")
    assert problem["facts"]["unit"] == "money"
    assert admin.get(f"{world.own.p}/indicators?period=2027").status_code == 200
    assert admin.get(f"{world.own.p}/indicators/savings").get_json()["targets"] == []
    assert_problem(admin.post(f"{world.own.p}/indicators", {
        "code": "savings", "titles": TITLES, "measure": "groups_formed"}), 409, "indicator.code_taken")
    assert_problem(admin.post(f"{world.own.p}/indicators", {
        "code": "g", "titles": TITLES, "measure": "groups_formed", "breakdowns": ["gender"]}),
        422, "indicator.breakdown_not_applicable")
    assert_problem(admin.get(f"{world.own.p}/indicators/nothing"), 404, "indicator.not_found")
    assert_problem(admin.client.delete(f"{world.own.p}/indicators/savings/targets/2027Q1",
                                       headers=admin.headers()), 404, "target.not_found")


def test_auditors_see_who_changed_what_and_when(world, admin, auditor):
    _define(admin, world)
    admin.put(f"{world.own.p}/indicators/savings/targets/2027", {"value": "100"})
    admin.put(f"{world.own.p}/indicators/savings/targets/2027", {"value": "250.50"})
    assert_problem(auditor.put(f"{world.own.p}/indicators/savings/targets/2027", {"value": "1"}),
                   403, "permission.read_only")
    trail = auditor.get(f"{world.own.p}/indicator-changes?code=savings").get_json()
    assert [(c["subject"], c["action"], c["period"], c["old"], c["new"]) for c in trail[:2]] == [
        ("target", "update", "2027", {"value": "100.00"}, {"value": "250.50"}),
        ("target", "create", "2027", None, {"value": "100.00"})]
    assert trail[0]["actor"].startswith("admin:") and trail[0]["changed_at"].endswith("+00:00")
    assert auditor.get(f"{world.own.p}/indicator-changes?code=other").get_json() == []


def test_a_loan_takes_a_purpose_of_the_programmes_list(world, treasurer, admin):
    purposes = admin.get(f"{world.own.p}/loan-purposes").get_json()
    assert purposes[0]["code"] == "start_agriculture" and len(purposes) == 17
    path = f"{world.own.m}/loans"
    body = {"member_id": world.own.members[4].id, "principal": money("1000")}
    assert_problem(treasurer.post(path, {**body, "purpose": "yachts"}), 422, "loan.unknown_purpose")
    r = treasurer.post(path, {**body, "purpose": "start_trade"})
    assert r.status_code == 201 and r.get_json()["purpose"] == "start_trade"
    loans = treasurer.get(f"{world.own.g}/loans").get_json()
    assert {loan["purpose"] for loan in loans} == {None, "start_trade"}  # build_side's loan has none
    r = admin.put(f"{world.own.p}/loan-purposes", {"purposes": [
        {"code": "boda", "titles": {"en": "Motorbike", "sw": "Pikipiki", "ar": "دراجة"}, "business": True}]})
    assert r.status_code == 200 and [p["code"] for p in r.get_json()] == ["boda"]
    assert_problem(admin.put(f"{world.own.p}/loan-purposes", {"purposes": [
        {"code": "x", "titles": {"en": "X"}, "business": True}]}), 422, "purpose.title_required")

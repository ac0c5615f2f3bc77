"""The demo programme's indicator table, computed by hand from the demo's entries.

The demo (api/demo.py) loaded on 25 Nov 2026 holds five weekly meetings from 14 Oct to 11 Nov
2026: 15 members (i = 0..14; men where i % 3 == 0, born 1975 + 2i, disability for i = 4 and 11)
each buying 1 + (i + week) % 5 shares of KES 100 a week, the member (4 week + 5) % 15 absent and
fined KES 100 in weeks 1 and 3; loans of KES 1,000 (i = 3, start a trade, week 1), KES 1,500 (i = 6,
school fees, week 2) and KES 800 (i = 1, grow a farm, week 2), each charged 10% at issue; a late
fine of KES 50 (week 2). All of it lies in 2026Q4.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from api import demo
from vision_ledger import purposes
from vision_ledger.actors import Actor
from vision_ledger.indicators_report import indicator_table, table_csv
from vision_ledger.models import Attendance, Entry, Loan, Member

TODAY = date(2026, 11, 25)


@pytest.fixture
def loaded(session):
    return demo.load(session, today=TODAY)


def _by_hand(session, group_id):
    """The figures from the journal and the registers, one row at a time, with no SQL sums."""
    members = {m.id: m for m in session.scalars(select(Member).where(Member.group_id == group_id))}

    def tags(m):
        young = 2026 - m.birth_year <= 29
        return (f"gender:{m.gender}", f"youth:{'yes' if young else 'no'}",
                f"disability:{'yes' if m.disability else 'no'}")

    savings, fines, charges = Counter(), 0, 0
    for entry in session.scalars(select(Entry).where(Entry.group_id == group_id)):
        if entry.kind == "share_purchase":
            shares = next(p for p in entry.postings if p.amount < 0)  # the member's share account
            savings["total"] += -shares.amount
            for tag in tags(members[entry.member_id]):
                savings[tag] += -shares.amount
        elif entry.kind == "fine":
            fines += entry.postings[0].amount
        elif entry.kind == "loan":
            charges += entry.details["charge"]
    business = {p.code for p in purposes.DEFAULTS if p.business}
    loans = [loan for loan in session.scalars(select(Loan).where(Loan.group_id == group_id))
             if loan.purpose in business]
    present = {a.member_id for a in session.scalars(select(Attendance).where(Attendance.present))}
    return members, tags, savings, fines, charges, loans, present


def test_the_demo_table_matches_the_figures_by_hand(session, loaded):
    members, tags, savings, fines, charges, business_loans, present = _by_hand(session, loaded.group_id)
    # From the recipe: 45 shares a week (15 members cycling 1..5 three times) x 5 weeks, less the
    # two absentees' single shares: 223 shares = KES 22,300; men (i = 0, 3, 6, 9, 12) 15 shares
    # each less one absence (i = 9): 74 = KES 7,400; youth (i = 11..14, 29 or younger in 2026)
    # 60 shares = KES 6,000.
    assert savings == {"total": 2_230_000, "gender:female": 1_490_000, "gender:male": 740_000,
                       "youth:yes": 600_000, "youth:no": 1_630_000, "disability:yes": 2 * 1500 * 100,
                       "disability:no": 2_230_000 - 300_000}
    assert fines == 25_000 and charges == 33_000  # 2 x 100 + 50; 10% of 1,000 + 1,500 + 800
    assert sorted(loan.principal for loan in business_loans) == [80_000, 100_000]
    assert len(present) == 15
    gender = Counter(m.gender for m in members.values())
    youth = Counter(tags(m)[1] for m in members.values())
    disability = Counter(tags(m)[2] for m in members.values())
    assert (gender["female"], gender["male"], youth["youth:yes"], disability["disability:yes"]) == \
        (10, 5, 4, 2)
    borrowers = Counter(tags(members[loan.member_id])[0] for loan in business_loans)
    loan_value = Counter()
    for loan in business_loans:
        loan_value[tags(members[loan.member_id])[0]] += loan.principal
    # Return on savings: (charges + fines) / savings x 52 / weeks; 1 Oct to 25 Nov is 56 days.
    ros = (Decimal(charges + fines) / Decimal(savings["total"]) * 52 / 8).quantize(Decimal("0.0001"))
    assert ros == Decimal("0.1691")

    table = indicator_table(session, Actor.system(), loaded.programme_id, "2026Q4", today=TODAY)
    assert table.as_of == TODAY
    got = {line.code: line for line in table.lines}
    expected = {  # code: (target, actual, percentage)
        "reach": (20, 15, "75.0"), "active": (18, 15, "83.3"), "groups": (1, 1, "100.0"),
        "groups_active": (1, 1, "100.0"), "savings": (3_000_000, savings["total"], "74.3"),
        "business_loans": (4, len(business_loans), "50.0"),
        "business_loan_value": (400_000, sum(loan.principal for loan in business_loans), "45.0"),
        "borrowers": (3, len({loan.member_id for loan in business_loans}), "66.7"),
        "share_out": (0, 0, None), "ros": (1500, ros, "112.7"),
    }
    assert list(got) == [row[0] for row in demo.INDICATORS]
    for code, (target, actual, percent) in expected.items():
        line = got[code]
        assert (line.target, line.actual, None if line.percentage is None else str(line.percentage)) == \
            (target, actual, percent), code
    assert got["reach"].breakdown == {
        "gender:female": gender["female"], "gender:male": gender["male"], "gender:other": 0,
        "gender:not_recorded": 0, "youth:yes": youth["youth:yes"], "youth:no": youth["youth:no"],
        "disability:yes": disability["disability:yes"], "disability:no": disability["disability:no"]}
    women_present = [m for m in present if members[m].gender == "female"]
    assert got["active"].breakdown["gender:female"] == len(women_present)
    assert {k: v for k, v in got["savings"].breakdown.items() if v} == {
        k: v for k, v in savings.items() if k.startswith(("gender", "youth")) and v}
    assert got["business_loans"].breakdown["gender:female"] == borrowers["gender:female"] == 1
    assert got["business_loan_value"].breakdown["gender:male"] == loan_value["gender:male"] == 100_000
    assert got["groups"].breakdown == {"region:Coast": 1}
    assert got["ros"].breakdown == {"region:Coast": ros}

    # The same table as the donor report's CSV.
    lines = table_csv(table).splitlines()
    assert lines[0].startswith("indicator,title,measure,unit,period,target,actual,percentage,gender:female,")
    assert "savings,Savings mobilised,savings_mobilised,money,2026Q4,30000.00,22300.00,74.3," \
        "14900.00,7400.00,0.00,0.00,6000.00,16300.00,,," in lines
    assert lines[-1] == "ros,Return on savings,return_on_savings,ratio,2026Q4,0.1500,0.1691,112.7," \
        + "," * 8 + "0.1691"


def test_the_quarter_before_shows_nothing_and_the_year_the_same_flows_over_longer(session, loaded):
    table = indicator_table(session, Actor.system(), loaded.programme_id, "2026Q3", today=TODAY)
    assert table.as_of == date(2026, 9, 30)
    assert all(line.actual in (0, None) and line.target is None for line in table.lines)
    table = indicator_table(session, Actor.system(), loaded.programme_id, "2026", today=TODAY)
    got = {line.code: line for line in table.lines}
    assert (got["savings"].actual, got["savings"].target) == (2_230_000, 12_000_000)
    # 1 Jan to 25 Nov 2026 is 329 days: the same income over 47 weeks.
    assert got["ros"].actual == (Decimal(58_000) / Decimal(2_230_000) * 52 / (Decimal(329) / 7)).quantize(
        Decimal("0.0001"))

"""Measures for programme staff, each checked against a small cycle worked out by hand.

The worked group (KES, share price 100, service charge 10% a month flat, one-month loans):

meeting 1 (day S): a grant of 1,000; ten members buy 5 shares each (5,000) and pay the social
  fund (10 x 20); M2 and M4 borrow 1,000 each (charge 100 each).
meeting 2 (S + 7): M10 absent and fined 100; M2 repays 1,100; M3 borrows 650 (charge 65).
meeting 3 (S + 42): M4's and M3's loans roll over (100 and 65 more); M4 pays 200 and the group
  writes off the 1,000 M4 still owes; M5 borrows 650 (charge 65); M9 leaves with her 500; the
  counters find 10 less than the books in the loan fund (a recorded variance).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import update

from vision_ledger import grants, groups, loans, meetings, metrics, savings, shareout
from vision_ledger.errors import NotFound, PermissionDenied
from vision_ledger.models import Account
from vision_ledger.money import Money

TODAY = date.today()
S = TODAY - timedelta(weeks=30)
END = S + timedelta(days=42)


def kes(text: str) -> Money:
    return Money.parse(text, "KES")


def q(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.0001"))


def build_worked_group(session, factory, programme=None):
    group = factory.group(programme, members=0)
    attrs = [
        dict(role="treasurer", gender="male", birth_year=1980),
        dict(gender="female", birth_year=TODAY.year - 25),
        dict(gender="female", birth_year=1985, disability=True),
        dict(gender="male", birth_year=TODAY.year - 20),
        dict(gender="female", birth_year=1990),
        dict(gender="female", birth_year=1975),
        dict(gender="male", birth_year=1970),
        dict(gender="female", birth_year=1988),
        dict(gender="female", birth_year=1992),
        dict(gender="male", birth_year=1983),
    ]
    ms = [factory.member(group, **a) for a in attrs]
    factory.cycle(group, start=S)
    t = factory.treasurer(group)
    admin = factory.admin(group.programme_id)

    factory.meeting(group, on=S)
    grants.record_grant(session, admin, group, kes("1000"))
    for m in ms:
        savings.buy_shares(session, t, group, m, 5)
        savings.pay_social_fund(session, t, group, m)
    loans.disburse_loan(session, t, group, ms[1], kes("1000"))
    loan4 = loans.disburse_loan(session, t, group, ms[3], kes("1000"))
    factory.close(group)

    factory.meeting(group, on=S + timedelta(days=7), absent=(ms[9].id,))
    savings.charge_fine(session, t, group, ms[9], "absent")
    loans.repay_loan(session, t, group, ms[1], kes("1100"))
    loans.disburse_loan(session, t, group, ms[2], kes("650"))
    factory.close(group)

    factory.meeting(group, on=END)
    loans.repay_loan(session, t, group, ms[3], kes("200"))
    loans.write_off_loan(session, t, group, loan4, "moved away")
    loans.disburse_loan(session, t, group, ms[4], kes("650"))
    shareout.exit_member(session, t, group, ms[8])
    loan_fund, social = meetings.expected_cash(session, group)
    meetings.close_meeting(session, t, group, counted_loan_fund=loan_fund - kes("10"),
                           counted_social_fund=social, variance_reason="counting error")
    return group, ms


@pytest.fixture
def worked(session, factory):
    return build_worked_group(session, factory)


def test_measures_of_a_date_range_match_the_worked_cycle(session, factory, worked):
    group, _ = worked
    auditor = factory.auditor(group.programme_id)
    gm = metrics.group_measures(session, auditor, group.id, start=S, end=END)
    d = gm.measures.as_dict()
    # M9 left at meeting 3: nine members, savings 9 x 500.
    assert (d["members"], d["female"], d["male"], d["youth"], d["disability"]) == (9, 5, 4, 2, 1)
    assert d["savings"] == kes("4500")
    assert d["savings_per_member"] == kes("500")
    # Loan fund: 1,000 + 5,000 - 2,000 + 100 + 1,100 - 650 + 200 - 650 - 500 - 10 = 3,590.
    assert d["loan_fund_cash"] == kes("3590")
    assert d["social_fund_cash"] == kes("200")
    # Outstanding: M3 650 + 65 + 65 = 780, M5 650 + 65 = 715.
    assert d["loans_outstanding"] == kes("1495")
    assert d["total_assets"] == kes("5285")
    assert d["loan_fund_utilisation"] == q(Decimal(1495) / Decimal(1495 + 3590))
    # M3's loan fell due a month after S + 7, before S + 42: at risk 1 day, not 30.
    assert d["portfolio_at_risk_1"] == q(Decimal(780) / Decimal(1495))
    assert d["portfolio_at_risk_30"] == Decimal("0.0000")
    assert d["loans_disbursed"] == 4
    assert d["loans_disbursed_amount"] == kes("3300")
    assert d["average_loan_size"] == kes("825")
    # Fell due in the period: M2 1,100, M4 1,100, M3 715 (roll-over charges came after the due
    # date); repaid: M2 1,100, M4 200, M3 nothing.
    assert d["amount_fell_due"] == kes("2915")
    assert d["amount_repaid"] == kes("1300")
    assert d["repayment_rate"] == q(Decimal(1300) / Decimal(2915))
    assert d["written_off"] == kes("1000")
    assert d["write_off_rate"] == q(Decimal(1000) / Decimal(3300))
    assert d["meetings"] == 3
    assert d["attendance_rate"] == q(Decimal(29) / Decimal(30))
    assert d["member_retention"] == q(Decimal(9) / Decimal(10))
    # Income: charges 100 + 100 + 65 + 100 + 65 + 65 = 495, fines 100.
    assert d["service_charges"] == kes("495")
    assert d["fines"] == kes("100")
    assert d["cash_variance"] == kes("10")
    assert d["net_income"] == kes("-415")
    days = 43
    assert d["return_on_savings"] == q(Decimal(-415) / Decimal(4500) * 52 / (Decimal(days) / 7))
    assert d["grants"] == kes("1000")
    assert d["loans_after_grants"] == kes("3300")


def test_measures_are_disaggregated_by_gender_youth_and_disability(session, factory, worked):
    group, _ = worked
    gm = metrics.group_measures(session, factory.admin(group.programme_id), group.id, start=S, end=END)
    youth = gm.segments["youth"].as_dict()  # M2 and M4
    assert youth["members"] == 2
    assert youth["savings"] == kes("1000")
    assert youth["loans_disbursed"] == 2
    assert youth["average_loan_size"] == kes("1000")
    assert youth["repayment_rate"] == q(Decimal(1300) / Decimal(2200))
    assert youth["write_off_rate"] == q(Decimal(1000) / Decimal(2000))
    assert youth["total_assets"] is None and youth["return_on_savings"] is None
    disabled = gm.segments["disability"].as_dict()  # M3
    assert disabled["loans_outstanding"] == kes("780")
    assert disabled["portfolio_at_risk_1"] == Decimal("1.0000")
    assert disabled["repayment_rate"] == Decimal("0.0000")
    female = gm.segments["female"].as_dict()  # M2, M3, M5, M6, M8 and M9 (who left)
    assert female["members"] == 5
    assert female["member_retention"] == q(Decimal(5) / Decimal(6))
    assert female["attendance_rate"] == Decimal("1.0000")
    assert female["loans_disbursed_amount"] == kes("2300")
    male = gm.segments["male"].as_dict()  # M10 missed meeting 2
    assert male["attendance_rate"] == q(Decimal(11) / Decimal(12))


def test_cycle_measures_run_from_the_cycle_start_to_today(session, factory, worked):
    group, _ = worked
    gm = metrics.group_measures(session, factory.auditor(group.programme_id), group.id)
    assert (gm.start, gm.end) == (S, TODAY)
    assert gm.cycle_id is not None
    # Thirty weeks on, both outstanding loans are more than 30 days past due.
    assert gm.measures.portfolio_at_risk_30 == Decimal("1.0000")
    # M5's loan fell due within the cycle too: 715 more fell due, nothing more was repaid.
    assert gm.measures.facts.fell_due == 291500 + 71500


def test_measures_come_from_the_postings_not_stored_balances(session, factory, worked):
    group, _ = worked
    session.execute(update(Account).where(Account.group_id == group.id)
                    .values(balance=Account.balance + 12345))
    gm = metrics.group_measures(session, factory.auditor(group.programme_id), group.id, start=S, end=END)
    assert gm.measures.facts.savings == 450000
    assert gm.measures.facts.loan_fund_cash == 359000


def test_a_share_out_on_the_last_day_does_not_empty_the_cycle_measures(session, factory):
    group = factory.ready(members=10, start=S)
    t = factory.treasurer(group)
    factory.meeting(group, on=S)
    for m in factory.members(group):
        savings.buy_shares(session, t, group, m, 2)
    shareout.execute(session, t, group)
    factory.close(group)
    gm = metrics.group_measures(session, factory.auditor(group.programme_id), group.id)
    assert (gm.start, gm.end) == (S, S)
    assert gm.measures.facts.savings == 10 * 20000


def test_programme_roll_up_sums_groups_and_pools_ratios(session, factory, worked):
    group, _ = worked
    programme = group.programme
    other = factory.group(programme, members=10, name="Tumaini")
    factory.cycle(other, start=S)
    factory.meeting(other, on=S + timedelta(days=1), absent=(factory.members(other)[0].id,))
    for m in factory.members(other):
        savings.buy_shares(session, factory.treasurer(other), other, m, 1)
    factory.close(other)
    pm = metrics.programme_measures(session, factory.auditor(programme), programme.id, start=S, end=END,
                                    per_group=True)
    assert pm.groups == 2 and len(pm.per_group) == 2
    d = pm.measures.as_dict()
    assert d["members"] == 19
    assert d["savings"] == kes("5500")
    assert d["attendance_rate"] == q(Decimal(29 + 9) / Decimal(30 + 10))
    assert d["member_retention"] == q(Decimal(19) / Decimal(20))
    assert d["grants"] == kes("1000")
    assert d["loans_after_grants"] == kes("3300")
    assert pm.segments["youth"].as_dict()["members"] == 2
    region = metrics.programme_measures(session, factory.auditor(programme), programme.id, start=S,
                                        end=END, region="Nowhere")
    assert region.groups == 0


def test_measures_are_for_programme_staff_only(session, factory, worked):
    group, _ = worked
    with pytest.raises(PermissionDenied):
        metrics.group_measures(session, factory.treasurer(group), group.id)
    stranger = factory.programme()
    with pytest.raises(NotFound):
        metrics.group_measures(session, factory.auditor(stranger), group.id)
    with pytest.raises(NotFound):
        metrics.programme_measures(session, factory.admin(stranger), group.programme_id)


def test_youth_follows_the_programme_setting(session, factory):
    programme = factory.programme(youth_age_max=35)
    group = factory.group(programme, members=0)
    factory.member(group, role="treasurer", birth_year=TODAY.year - 33)
    factory.member(group, birth_year=TODAY.year - 40)
    gm = metrics.group_measures(session, factory.auditor(programme), group.id, start=S, end=TODAY)
    assert gm.measures.facts.youth == 1
    groups.update_member(session, factory.system, group, factory.members(group)[1], disability=True)
    gm = metrics.group_measures(session, factory.auditor(programme), group.id, start=S, end=TODAY)
    assert gm.measures.facts.disability == 1

"""Meeting business: shares, social fund, fines, welfare, loans, repayments, roll-overs, write-offs,
grants, share-out, exits and reversals. One test per rule; each refusal changes nothing."""

from datetime import timedelta

from sqlalchemy import select

from vision_ledger import grants, ledger, loans, reversals, savings, shareout
from vision_ledger.errors import Conflict
from vision_ledger.models import Loan, OutboxMessage
from vision_ledger.money import Money

from .helpers import ago, cash, entries, refused, save


def kes(text):
    return Money.parse(text, "KES")


# --- shares, social fund, fines, welfare ------------------------------------------------------


def test_share_purchase_is_shares_times_share_price(session, factory, meeting_group):
    m = factory.members(meeting_group)[0]
    assert ledger.units(session, meeting_group, m.id) == 5
    assert ledger.balance(session, meeting_group, "member_shares", m.id) == kes("500")
    assert cash(session, meeting_group) == 750000


def test_shares_1_to_5_per_meeting(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[0]
    with refused("shares.above_maximum"):
        savings.buy_shares(session, t, meeting_group, m, 1)  # already 5 this meeting
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(9))
    with refused("shares.below_minimum"):
        savings.buy_shares(session, t, meeting_group, m, 0)
    with refused("shares.above_maximum"):
        savings.buy_shares(session, t, meeting_group, m, 6)
    savings.buy_shares(session, t, meeting_group, m, 3)
    with refused("shares.above_maximum"):
        savings.buy_shares(session, t, meeting_group, m, 3)
    savings.buy_shares(session, t, meeting_group, m, 2)


def test_staff_reversal_of_an_old_purchase_does_not_free_shares_at_todays_meeting(
        session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[0]
    factory.close(meeting_group)
    first = ledger_entry(session, meeting_group, m, "share_purchase")
    factory.meeting(meeting_group, on=ago(9))
    savings.buy_shares(session, t, meeting_group, m, 5)
    reversals.reverse_entry(session, factory.admin(meeting_group.programme_id), meeting_group, first,
                            "recorded for the wrong member")
    with refused("shares.above_maximum"):
        savings.buy_shares(session, t, meeting_group, m, 1)


def ledger_entry(session, group, member, kind):
    from sqlalchemy import select

    from vision_ledger.models import Entry

    return session.scalars(select(Entry).where(Entry.group_id == group.id, Entry.member_id == member.id,
                                               Entry.kind == kind).order_by(Entry.seq)).first()


def test_a_borrowers_share_receipt_carries_the_loan_and_its_due_date(session, factory, meeting_group):
    """The receipt is the member's passbook line: "Shares 6 = KES 600. Loan due ...: KES 1,100"."""
    from sms.texts import render

    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("1000"))
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(9))
    entry = savings.buy_shares(session, t, meeting_group, m, 1)
    receipt = session.scalars(select(OutboxMessage).where(OutboxMessage.entry_id == entry.id)).one()
    assert receipt.payload["loan_balance"] == loan.balance == 110000
    assert receipt.payload["loan_due_on"] == loan.due_on.isoformat()
    text = render(receipt.kind, receipt.payload, "en")
    assert "Shares 6 = KES 600" in text and "KES 1,100" in text, text
    other = savings.buy_shares(session, t, meeting_group, factory.members(meeting_group)[2], 1)
    plain = session.scalars(select(OutboxMessage).where(OutboxMessage.entry_id == other.id)).one()
    assert "loan_balance" not in plain.payload


def test_social_fund_is_the_fixed_contribution_once_a_meeting(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    savings.pay_social_fund(session, t, meeting_group, m)
    assert cash(session, meeting_group, "social_fund_cash") == 2000
    with refused("social_fund.already_paid"):
        savings.pay_social_fund(session, t, meeting_group, m)


def test_fine_must_be_one_the_group_set(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    savings.charge_fine(session, t, meeting_group, m, "Late")
    assert ledger.balance(session, meeting_group, "fine_income") == kes("50")
    with refused("fine.unknown"):
        savings.charge_fine(session, t, meeting_group, m, "rude")


def test_welfare_above_social_fund_cash_is_refused(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    ms = factory.members(meeting_group)
    for m in ms[:5]:
        savings.pay_social_fund(session, t, meeting_group, m)  # KES 100 in the bag
    before = entries(session, meeting_group)
    with refused("welfare.above_social_fund"):
        savings.pay_welfare(session, t, meeting_group, ms[2], kes("100.01"), "funeral")
    with refused("welfare.reason_required"):
        savings.pay_welfare(session, t, meeting_group, ms[2], kes("10"), " ")
    with refused("welfare.invalid_amount"):
        savings.pay_welfare(session, t, meeting_group, ms[2], kes("0"), "funeral")
    assert entries(session, meeting_group) == before
    savings.pay_welfare(session, t, meeting_group, ms[2], kes("100"), "funeral")
    assert cash(session, meeting_group, "social_fund_cash") == 0


def test_member_who_left_cannot_buy_shares(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[3]
    shareout.exit_member(session, t, meeting_group, m)
    with refused("member.not_active"):
        savings.buy_shares(session, t, meeting_group, m, 1)


# --- loans ------------------------------------------------------------------------------------


def test_loan_charges_flat_service_charge_at_issue(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("1000"))
    assert (loan.principal, loan.charged, loan.balance) == (100000, 10000, 110000)  # 10 owed as 11
    assert loan.due_on == loans.months_after(ago(10), 1) and loan.issued_on == ago(10)
    assert cash(session, meeting_group) == 750000 - 100000
    assert ledger.balance(session, meeting_group, "service_charge_income") == kes("100")


def test_loan_above_three_times_savings_is_refused(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]  # KES 500 saved
    with refused("loan.above_savings_multiple"):
        loans.disburse_loan(session, t, meeting_group, m, kes("1500.01"))
    loans.disburse_loan(session, t, meeting_group, m, kes("1500"))


def test_loan_outside_programme_bounds_is_refused(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    with refused("loan.below_minimum"):
        loans.disburse_loan(session, t, meeting_group, m, kes("649.99"))
    with refused("loan.above_maximum"):
        loans.disburse_loan(session, t, meeting_group, m, kes("2600.01"))


def test_loan_above_loan_fund_cash_is_refused(session, factory):
    group = factory.ready()
    t = factory.treasurer(group)
    factory.meeting(group, on=ago(10))
    ms = factory.members(group)
    save(session, factory, group, 5, ms[:2])  # KES 1,000 in the box
    with refused("loan.above_cash_on_hand"):
        loans.disburse_loan(session, t, group, ms[0], kes("1000.01"))
    loans.disburse_loan(session, t, group, ms[0], kes("1000"))
    assert cash(session, group) == 0


def test_second_active_loan_is_refused(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loans.disburse_loan(session, t, meeting_group, m, kes("700"))
    with refused("loan.active_loan_exists"):
        loans.disburse_loan(session, t, meeting_group, m, kes("700"))


def test_loan_term_above_the_maximum_is_refused(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    with refused("loan.term_too_long"):
        loans.disburse_loan(session, t, meeting_group, m, kes("700"), term_months=4)
    with refused("loan.invalid_term"):
        loans.disburse_loan(session, t, meeting_group, m, kes("700"), term_months=0)
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("700"), term_months=3)
    assert loan.charged == 21000  # flat: 10% a month x 3 months


def test_loan_due_after_shareout_is_refused(session, factory):
    group = factory.ready(start=ago(50))  # share-out planned in about 2 weeks
    t = factory.treasurer(group)
    factory.meeting(group, on=ago(0))
    save(session, factory, group, 5)
    with refused("loan.due_after_shareout"):
        loans.disburse_loan(session, t, group, factory.members(group)[1], kes("700"))


def test_member_who_left_cannot_borrow(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    shareout.exit_member(session, t, meeting_group, m)
    with refused("member.not_active"):
        loans.disburse_loan(session, t, meeting_group, m, kes("700"))


def test_repayment_goes_to_service_charge_first(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("1000"))
    e = loans.repay_loan(session, t, meeting_group, m, kes("150"))
    assert e.details == {"charge": 10000, "principal": 5000}
    assert (loan.repaid_charge, loan.repaid_principal, loan.balance) == (10000, 5000, 95000)
    loans.repay_loan(session, t, meeting_group, m, kes("950"))
    assert loan.status == "repaid" and loan.balance == 0


def test_repayment_above_balance_is_refused(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loans.disburse_loan(session, t, meeting_group, m, kes("1000"))
    with refused("repayment.above_balance"):
        loans.repay_loan(session, t, meeting_group, m, kes("1100.01"))
    with refused("repayment.invalid_amount"):
        loans.repay_loan(session, t, meeting_group, m, kes("0"))
    with refused("loan.none_active"):
        loans.repay_loan(session, t, meeting_group, factory.members(meeting_group)[2], kes("1"))


def test_flat_loan_rolls_over_at_due_date_on_the_original_principal(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("1000"))
    first_due = loan.due_on
    loans.repay_loan(session, t, meeting_group, m, kes("600"))  # 100 charge + 500 principal
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=first_due)  # on the due date 500 is still owed
    assert loan.rollovers == 1 and loan.charged == 20000  # + 10% of the original 1,000
    assert loan.balance == 60000
    assert loan.due_on > first_due


def test_declining_loan_rolls_over_on_the_outstanding_balance(session, factory):
    group = factory.ready(charge_method="declining")
    t = factory.treasurer(group)
    factory.meeting(group, on=ago(10))
    save(session, factory, group, 5)
    m = factory.members(group)[1]
    loan = loans.disburse_loan(session, t, group, m, kes("1000"))
    assert loan.charged == 10000
    loans.repay_loan(session, t, group, m, kes("600"))  # 100 charge + 500 principal; 500 owed
    factory.close(group)
    factory.meeting(group, on=loan.due_on)
    assert loan.rollovers == 1 and loan.charged == 15000  # + 10% of the 500 still owed


def test_several_missed_due_dates_roll_over_once_each(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("1000"))
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(1))  # about two months and a half later
    assert loan.rollovers == 2 and loan.charged == 30000
    assert loan.due_on > ago(1)


def test_write_off_is_a_recorded_decision(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("1000"))
    with refused("write_off.reason_required"):
        loans.write_off_loan(session, t, meeting_group, loan, "")
    e = loans.write_off_loan(session, t, meeting_group, loan, "member moved away")
    assert (loan.status, loan.write_off_reason) == ("written_off", "member moved away")
    assert loan.written_off == 110000
    assert e.meeting_id is not None and e.memo == "member moved away"
    assert ledger.balance(session, meeting_group, "loan_write_offs") == kes("1100")
    with refused("loan.not_active"):
        loans.write_off_loan(session, t, meeting_group, loan, "again")


# --- grants -----------------------------------------------------------------------------------


def test_seed_capital_grant_is_separate_equity_not_savings(session, factory, meeting_group):
    admin = factory.admin(meeting_group.programme_id)
    grants.record_grant(session, admin, meeting_group, kes("5000"), reference="IOM-1")
    assert ledger.balance(session, meeting_group, "seed_capital") == kes("5000")
    assert sum(ledger.balance(session, meeting_group, "member_shares", m.id).minor
               for m in factory.members(meeting_group)) == 750000
    with refused("grant.invalid_amount"):
        grants.record_grant(session, admin, meeting_group, kes("0"))
    with refused("money.currency_mismatch"):
        grants.record_grant(session, admin, meeting_group, Money(100, "USD"))


def test_grant_is_for_programme_staff_only(session, factory, meeting_group):
    from vision_ledger.errors import PermissionDenied

    with refused("permission.staff_only", PermissionDenied):
        grants.record_grant(session, factory.treasurer(meeting_group), meeting_group, kes("10"))
    with refused("permission.read_only", PermissionDenied):
        grants.record_grant(session, factory.auditor(meeting_group.programme_id), meeting_group, kes("10"))


# --- share-out and exits ----------------------------------------------------------------------


def test_shareout_with_outstanding_loans_is_refused(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loans.disburse_loan(session, t, meeting_group, m, kes("1000"))
    before = entries(session, meeting_group)
    with refused("shareout.loans_outstanding"):
        shareout.execute(session, t, meeting_group)
    assert entries(session, meeting_group) == before
    assert shareout.preview(session, t, meeting_group).loans_outstanding == 1
    loans.repay_loan(session, t, meeting_group, m, kes("1100"))
    shareout.execute(session, t, meeting_group)


def test_shareout_payouts_plus_remainder_equal_distributable(session, factory):
    group = factory.ready()
    t = factory.treasurer(group)
    factory.meeting(group, on=ago(10))
    ms = factory.members(group)
    for i, m in enumerate(ms[:7]):
        savings.buy_shares(session, t, group, m, 1 + i % 5)
    savings.charge_fine(session, t, group, ms[0], "late")  # KES 50 over 18 shares
    p = shareout.preview(session, t, group)
    assert p.total_shares == 18 and p.distributable == kes("1850")  # 1+2+3+4+5+1+2 shares, + fine
    assert sum(x.payout.minor for x in p.payouts) + p.remainder.minor == p.distributable.minor
    assert 0 <= p.remainder.minor < len(p.payouts)
    record = shareout.execute(session, t, group)
    assert record.remainder == p.remainder.minor
    assert cash(session, group) == p.remainder.minor
    assert ledger.balance(session, group, "carried_remainder") == p.remainder
    assert ledger.verify(session, group).ok


def test_shareout_carries_social_fund_and_retained_seed_capital(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    for m in factory.members(meeting_group):
        savings.pay_social_fund(session, t, meeting_group, m)
    grants.record_grant(session, factory.admin(meeting_group.programme_id), meeting_group, kes("2000"))
    record = shareout.execute(session, t, meeting_group)
    assert (record.retained_seed, record.distributable) == (200000, 750000)
    assert cash(session, meeting_group) == 200000
    assert cash(session, meeting_group, "social_fund_cash") == 30000
    assert ledger.balance(session, meeting_group, "social_fund") == kes("300")
    assert ledger.balance(session, meeting_group, "seed_capital") == kes("2000")
    from vision_ledger.groups import open_cycle

    assert open_cycle(session, meeting_group.id) is None
    with refused("cycle.none_open"):
        shareout.execute(session, t, meeting_group)


def test_member_in_arrears_cannot_exit_without_group_decision(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("700"))  # owes 770
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=loan.due_on + timedelta(days=7))
    # not repaid by the due date: rolled over (owes 840) and the new due date is ahead, but the
    # member is in arrears all the same
    assert loan.rollovers == 1 and loan.due_on > ago(0) - timedelta(days=60)
    savings.buy_shares(session, t, meeting_group, m, 5)  # savings KES 1,000
    with refused("member.exit_in_arrears"):
        shareout.exit_member(session, t, meeting_group, m)
    e = shareout.exit_member(session, t, meeting_group, m, group_decision="agreed at meeting")
    assert e.memo == "agreed at meeting" and e.details["payout"] == 100000 - 84000


def test_member_exit_takes_back_savings_less_loan_balance(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    ms = factory.members(meeting_group)
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(9))
    save(session, factory, meeting_group, 5, ms[1:2])  # member 2 now has 10 shares, KES 1,000
    loan = loans.disburse_loan(session, t, meeting_group, ms[1], kes("700"))  # owes 770
    before = cash(session, meeting_group)
    e = shareout.exit_member(session, t, meeting_group, ms[1])
    assert e.details["payout"] == 100000 - 77000
    assert cash(session, meeting_group) == before - 23000
    assert loan.status == "repaid" and ms[1].status == "left"
    assert ledger.units(session, meeting_group, ms[1].id) == 0


def test_member_whose_debt_exceeds_savings_cannot_exit(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loans.disburse_loan(session, t, meeting_group, m, kes("1000"))  # owes 1,100; saved 500
    with refused("member.exit_debt_exceeds_savings"):
        shareout.exit_member(session, t, meeting_group, m, group_decision="yes")


def test_exit_with_share_of_profit_when_the_group_chose_it(session, factory):
    group = factory.ready(policy={"exit_share_of_profit": True})
    t = factory.treasurer(group)
    factory.meeting(group, on=ago(10))
    ms = factory.members(group)
    save(session, factory, group, 5, ms[:10])  # 50 shares
    savings.charge_fine(session, t, group, ms[0], "absent")  # KES 100 of income: KES 2 a share
    e = shareout.exit_member(session, t, group, ms[3])
    assert e.details["profit"] == 1000 and e.details["payout"] == 51000
    assert ledger.verify(session, group).ok


def test_member_can_leave_between_cycles(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    shareout.execute(session, t, meeting_group)
    factory.close(meeting_group)
    m = factory.members(meeting_group)[4]
    assert shareout.exit_member(session, t, meeting_group, m) is None
    assert m.status == "left"


# --- reversals --------------------------------------------------------------------------------


def test_treasurer_reverses_only_open_meeting_entries(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    old = ledger_entry(session, meeting_group, m, "share_purchase")
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(9))
    with refused("reversal.outside_open_meeting"):
        reversals.reverse_entry(session, t, meeting_group, old, "")
    fine = savings.charge_fine(session, t, meeting_group, m, "late")
    r = reversals.reverse_entry(session, t, meeting_group, fine, "")
    assert r.reverses_id == fine.id and ledger.balance(session, meeting_group, "fine_income").minor == 0


def test_treasurer_cannot_reverse_grants_or_cash_variances(session, factory, meeting_group):
    g = grants.record_grant(session, factory.admin(meeting_group.programme_id), meeting_group, kes("100"))
    with refused("reversal.staff_only"):
        reversals.reverse_entry(session, factory.treasurer(meeting_group), meeting_group, g, "x")


def test_staff_reversal_needs_a_reason(session, factory, meeting_group):
    admin = factory.admin(meeting_group.programme_id)
    m = factory.members(meeting_group)[1]
    e = ledger_entry(session, meeting_group, m, "share_purchase")
    factory.close(meeting_group)
    with refused("reversal.reason_required"):
        reversals.reverse_entry(session, admin, meeting_group, e, "  ")
    r = reversals.reverse_entry(session, admin, meeting_group, e, "wrong member")
    assert r.memo == "wrong member" and r.meeting_id is None
    assert ledger.units(session, meeting_group, m.id) == 0


def test_double_reversal_is_refused(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    e = ledger_entry(session, meeting_group, factory.members(meeting_group)[1], "share_purchase")
    r = reversals.reverse_entry(session, t, meeting_group, e, "")
    with refused("reversal.already_reversed"):
        reversals.reverse_entry(session, t, meeting_group, e, "")
    with refused("reversal.not_reversible"):
        reversals.reverse_entry(session, t, meeting_group, r, "")


def test_reversal_that_would_empty_the_bag_is_refused(session, factory):
    group = factory.ready()
    t = factory.treasurer(group)
    factory.meeting(group, on=ago(10))
    ms = factory.members(group)
    save(session, factory, group, 5, ms[:3])  # KES 1,500
    purchase = ledger_entry(session, group, ms[0], "share_purchase")
    loans.disburse_loan(session, t, group, ms[1], kes("1500"))
    with refused("ledger.cash_short"):
        reversals.reverse_entry(session, t, group, purchase, "")


def test_loan_reversal_needs_its_later_entries_reversed_first(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("1000"))
    loan_entry = ledger_entry(session, meeting_group, m, "loan")
    repayment = loans.repay_loan(session, t, meeting_group, m, kes("100"))
    with refused("reversal.loan_has_later_entries"):
        reversals.reverse_entry(session, t, meeting_group, loan_entry, "")
    reversals.reverse_entry(session, t, meeting_group, repayment, "")
    reversals.reverse_entry(session, t, meeting_group, loan_entry, "")
    assert loan.status == "cancelled" and cash(session, meeting_group) == 750000
    assert ledger.balance(session, meeting_group, "loans_receivable", m.id).minor == 0
    loans.disburse_loan(session, t, meeting_group, m, kes("700"))  # no loan stands in the way


def test_reversing_a_repayment_of_a_written_off_loan_is_refused(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("1000"))
    repayment = loans.repay_loan(session, t, meeting_group, m, kes("100"))
    loans.write_off_loan(session, t, meeting_group, loan, "gone")
    with refused("reversal.loan_has_later_entries"):
        reversals.reverse_entry(session, t, meeting_group, repayment, "")


def test_waiving_a_roll_over_charge_reduces_what_is_owed(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("1000"))
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=loan.due_on)
    rollover = ledger_entry(session, meeting_group, m, "rollover")
    assert loan.balance == 120000
    reversals.reverse_entry(session, t, meeting_group, rollover, "group waived it")
    assert loan.balance == 110000 and loan.status == "active"
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(0))
    assert loan.charged == 10000 + 10000  # the waived period is not charged again; the next one is
    assert session.get(Loan, loan.id).rollovers == 2


def test_entries_of_a_shared_out_cycle_cannot_be_reversed(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    e = ledger_entry(session, meeting_group, factory.members(meeting_group)[1], "share_purchase")
    shareout.execute(session, t, meeting_group)
    with refused("reversal.cycle_closed"):
        reversals.reverse_entry(session, factory.admin(meeting_group.programme_id), meeting_group, e, "x")


# --- idempotency ------------------------------------------------------------------------------


def test_replayed_idempotency_key_returns_the_original_entry(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[1]
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(9))
    first = savings.buy_shares(session, t, meeting_group, m, 2, idempotency_key="k-1")
    seq = meeting_group.last_seq
    again = savings.buy_shares(session, t, meeting_group, m, 2, idempotency_key="k-1")
    assert again.id == first.id and meeting_group.last_seq == seq
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("700"), idempotency_key="L")
    assert loans.disburse_loan(session, t, meeting_group, m, kes("700"), idempotency_key="L").id == loan.id
    factory.close(meeting_group)
    # a retry that arrives after the meeting closed still gets its answer
    assert savings.buy_shares(session, t, meeting_group, m, 2, idempotency_key="k-1").id == first.id


def test_idempotency_key_reused_with_other_payload_is_refused(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    ms = factory.members(meeting_group)
    savings.pay_social_fund(session, t, meeting_group, ms[1], idempotency_key="same")
    seq = meeting_group.last_seq
    with refused("idempotency.key_reused", Conflict):
        savings.pay_social_fund(session, t, meeting_group, ms[2], idempotency_key="same")
    with refused("idempotency.key_reused", Conflict):
        savings.charge_fine(session, t, meeting_group, ms[1], "late", idempotency_key="same")
    assert meeting_group.last_seq == seq


def test_idempotency_keys_are_per_group(session, factory):
    programme = factory.programme()
    a, b = factory.ready(programme=programme), factory.ready(programme=programme)
    for g in (a, b):
        factory.meeting(g, on=ago(1))
        savings.buy_shares(session, factory.treasurer(g), g, factory.members(g)[1], 1, idempotency_key="x")
    assert a.last_seq == b.last_seq == 1

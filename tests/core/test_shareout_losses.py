"""Every cycle can close: share-outs after a stolen box, write-offs, or no profit at all."""

from __future__ import annotations

from sqlalchemy import select

from vision_ledger import cycles, grants, ledger, loans, meetings, savings, shareout
from vision_ledger.groups import open_cycle
from vision_ledger.models import Entry, OutboxMessage, ShareOutPayout
from vision_ledger.money import Money

from .helpers import ago, cash, entries


def kes(text):
    return Money.parse(text, "KES")


def steal(session, factory, group, amount: str, *, on_weeks_ago: int = 9):
    """The money counters find the loan-fund bag short; the group records a cash variance."""
    loan_fund, social = meetings.expected_cash(session, group)
    meetings.close_meeting(session, factory.treasurer(group), group,
                           counted_loan_fund=loan_fund - kes(amount), counted_social_fund=social,
                           variance_reason="the box was stolen")
    factory.meeting(group, on=ago(on_weeks_ago))


def payouts(session, record):
    return [p.payout for p in session.scalars(
        select(ShareOutPayout).where(ShareOutPayout.share_out_id == record.id))]


def test_share_out_after_the_whole_box_was_stolen_pays_zero_and_closes_the_cycle(
        session, factory, meeting_group):
    steal(session, factory, meeting_group, "7500")
    t = factory.treasurer(meeting_group)
    plan = shareout.preview(session, t, meeting_group)
    assert (plan.distributable, plan.savings, plan.loss) == (kes("0"), kes("7500"), kes("7500"))
    record = shareout.execute(session, t, meeting_group)
    assert record.distributable == 0 and payouts(session, record) == [0] * 15
    assert open_cycle(session, meeting_group.id) is None
    for m in factory.members(meeting_group):  # the shares were closed: the loss is borne by them
        assert ledger.balance(session, meeting_group, "member_shares", m.id) == kes("0")
        assert ledger.units(session, meeting_group, m.id) == 0
    assert ledger.balance(session, meeting_group, "cash_variance") == kes("0")
    assert cash(session, meeting_group) == 0
    told = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "share_out",
                                                       OutboxMessage.group_id == meeting_group.id)).all()
    assert len(told) == 15 and {m.payload["payout"] for m in told} == {0}
    assert ledger.verify(session, meeting_group).ok
    # ...and the group starts its next cycle.
    cycles.start_cycle(session, factory.system, meeting_group, share_price=kes("100"),
                       social_fund_contribution=kes("20"), start_date=ago(9))
    assert open_cycle(session, meeting_group.id) is not None


def test_a_partial_loss_is_borne_in_proportion_to_shares(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    steal(session, factory, meeting_group, "1600")
    savings.buy_shares(session, t, meeting_group, factory.members(meeting_group)[0], 5)  # member 1: 10 shares
    # KES 8,000 meeting_group, 6,400 left: a share is worth KES 80
    record = shareout.execute(session, t, meeting_group)
    assert record.value_per_share == "80.0000000000"
    assert sorted(payouts(session, record)) == [40000] * 14 + [80000]
    assert record.remainder == 0 and cash(session, meeting_group) == 0
    assert ledger.verify(session, meeting_group).ok


def test_losses_beyond_the_fund_are_absorbed_by_the_retained_seed_capital(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    grants.record_grant(session, factory.admin(meeting_group.programme_id), meeting_group, kes("2000"))
    steal(session, factory, meeting_group, "9000")  # KES 500 left of 9,500; seed capital 2,000
    plan = shareout.preview(session, t, meeting_group)
    assert (plan.retained_seed, plan.distributable, plan.seed_loss) == (kes("500"), kes("0"), kes("1500"))
    record = shareout.execute(session, t, meeting_group)
    assert payouts(session, record) == [0] * 15
    assert ledger.balance(session, meeting_group, "seed_capital") == kes("500")
    assert cash(session, meeting_group) == 50000
    assert record.retained_seed == 50000
    entry = session.get(Entry, record.entry_id)
    assert (entry.details["seed_loss"], entry.details["loss"]) == (150000, 750000)
    assert ledger.trial_balance(session, meeting_group)["balanced"]
    assert ledger.verify(session, meeting_group).ok


def test_a_written_off_loan_is_a_loss_shared_by_all(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[0]
    loan = loans.disburse_loan(session, t, meeting_group, m, kes("1000"))  # owes 1,100 (100 charge)
    loans.write_off_loan(session, t, meeting_group, loan, "moved away")
    plan = shareout.preview(session, t, meeting_group)
    assert (plan.distributable, plan.loss) == (kes("6500"), kes("1000"))
    record = shareout.execute(session, t, meeting_group)
    assert sum(payouts(session, record)) + record.remainder == 650000
    assert ledger.verify(session, meeting_group).ok


def test_a_cycle_without_profit_pays_back_exactly_the_savings(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    plan = shareout.preview(session, t, meeting_group)
    assert (plan.distributable, plan.loss, plan.remainder) == (kes("7500"), kes("0"), kes("0"))
    record = shareout.execute(session, t, meeting_group)
    assert payouts(session, record) == [50000] * 15 and cash(session, meeting_group) == 0
    assert ledger.verify(session, meeting_group).ok


def test_income_of_a_cycle_without_shares_is_carried_into_the_next(session, factory):
    group = factory.ready()
    t = factory.treasurer(group)
    factory.meeting(group, on=ago(1))
    savings.charge_fine(session, t, group, factory.members(group)[0], "late")
    record = shareout.execute(session, t, group)
    assert (record.total_shares, record.remainder) == (0, 5000)
    assert ledger.balance(session, group, "carried_remainder") == kes("50")
    assert open_cycle(session, group.id) is None and ledger.verify(session, group).ok


def test_a_cycle_where_nothing_was_recorded_closes_with_a_share_out_of_nothing(session, factory):
    group = factory.ready()
    factory.meeting(group, on=ago(1))
    before = entries(session, group)
    record = shareout.execute(session, factory.treasurer(group), group)
    assert record.entry_id is None and (record.total_shares, record.distributable) == (0, 0)
    assert entries(session, group) == before and open_cycle(session, group.id) is None
    assert ledger.verify(session, group).ok
    factory.cycle(group, start=ago(0))  # and the next cycle can start
    assert open_cycle(session, group.id) is not None

from datetime import date, timedelta

from vision_ledger import ledger, loans, meetings, savings, shareout


def test_a_cycle_from_first_meeting_to_share_out(session, factory):
    group = factory.ready(start=date.today() - timedelta(weeks=20))
    t = factory.treasurer(group)
    ms = factory.members(group)
    factory.meeting(group, on=date.today() - timedelta(weeks=20))
    for m in ms:
        savings.buy_shares(session, t, group, m, 5)
        savings.pay_social_fund(session, t, group, m)
    loan = loans.disburse_loan(session, t, group, ms[1], factory.money(group, "1000"))
    assert loan.charged == 10000
    factory.close(group)
    factory.meeting(group, on=date.today() - timedelta(weeks=17))
    loans.repay_loan(session, t, group, ms[1], factory.money(group, "1100"))
    shareout.execute(session, t, group)
    assert ledger.verify(session, group).ok
    # 75 shares share KES 7,600.00: 10 cents cannot be divided and stay, recorded, in the box.
    assert ledger.balance(session, group, "loan_fund_cash").minor == 10
    assert ledger.balance(session, group, "carried_remainder").minor == 10
    factory.close(group)
    assert meetings.current_meeting(session, group.id) is None

"""Whole cycles worked out by hand (the arithmetic is in the comments); the code must agree to the
minor unit. Amounts in KES; "minor" means cents."""

from datetime import timedelta
from decimal import Decimal

from vision_ledger import ledger, loans, savings, shareout
from vision_ledger.loans import months_after
from vision_ledger.models import ShareOutPayout

from .helpers import ago


def kes(factory, group, text):
    return factory.money(group, text)


def test_domain_example_flat_charges_56_40_a_share(session, factory):
    """DOMAIN.md: 15 members bought 1,000 shares at KES 50 (KES 50,000); loans earned KES 6,000 of
    service charges and fines brought KES 400; the loan fund holds KES 56,400; a share is worth
    KES 56.40 and a member with 64 shares receives KES 3,609.60."""
    group = factory.ready(start=ago(40), share_price="50", social="10")
    t = factory.treasurer(group)
    ms = factory.members(group)
    # Shares: member 1 buys 64, members 2-13 buy 67 each, members 14-15 buy 66 each:
    # 64 + 12 x 67 + 2 x 66 = 64 + 804 + 132 = 1,000 shares = KES 50,000. At most 5 a meeting, so
    # 14 weekly meetings (13 x 5 + the rest at the 14th).
    target = {m.id: 64 if i == 0 else 67 if i < 13 else 66 for i, m in enumerate(ms)}
    bought = dict.fromkeys(target, 0)
    borrowers = ms[1:11]
    for week in range(14):
        factory.meeting(group, on=ago(40 - week))
        for m in ms:
            n = min(5, target[m.id] - bought[m.id])
            if n:
                savings.buy_shares(session, t, group, m, n)
                bought[m.id] += n
        if week == 0:
            for m in ms:  # KES 10 each to the social fund: KES 150, which is not shared out
                savings.pay_social_fund(session, t, group, m)
        if week == 10:
            # 10 loans of KES 2,000 for 3 months; flat 10% a month charged at issue:
            # 2,000 x 10% x 3 = KES 600 each, 10 x 600 = KES 6,000 of service charges.
            for m in borrowers:
                loan = loans.disburse_loan(session, t, group, m, kes(factory, group, "2000"), term_months=3)
                assert (loan.principal, loan.charged) == (200000, 60000)
        factory.close(group)
    assert sum(bought.values()) == 1000
    # 10 weeks later (before the due dates): each repays KES 2,600; 8 late fines of KES 50 = KES 400.
    factory.meeting(group, on=ago(20))
    for m in borrowers:
        loans.repay_loan(session, t, group, m, kes(factory, group, "2600"))
    for m in ms[:8]:
        savings.charge_fine(session, t, group, m, "late")
    # Loan fund: 50,000 + 6,000 + 400 = KES 56,400; per share 56,400 / 1,000 = KES 56.40.
    p = shareout.preview(session, t, group)
    assert p.loan_fund_cash.minor == 5_640_000
    assert p.distributable.minor == 5_640_000 and p.total_shares == 1000
    assert p.value_per_share == Decimal("56.40")
    payouts = {x.member_id: x.payout.minor for x in p.payouts}
    assert payouts[ms[0].id] == 360_960  # 64 x 56.40 = KES 3,609.60
    assert payouts[ms[1].id] == 377_880  # 67 x 56.40 = KES 3,778.80
    assert payouts[ms[14].id] == 372_240  # 66 x 56.40 = KES 3,722.40
    assert p.remainder.minor == 0  # 360,960 + 12 x 377,880 + 2 x 372,240 = 5,640,000
    record = shareout.execute(session, t, group)
    factory.close(group)
    assert (record.distributable, record.remainder, record.value_per_share) == (5_640_000, 0, "56.4000000000")
    stored = session.query(ShareOutPayout).filter_by(share_out_id=record.id).all()
    assert sum(x.payout for x in stored) == 5_640_000
    # Carried into the next cycle: the social fund's KES 150, an empty loan-fund bag.
    assert ledger.balance(session, group, "loan_fund_cash").minor == 0
    assert ledger.balance(session, group, "social_fund_cash").minor == 15_000
    assert ledger.balance(session, group, "social_fund").minor == 15_000
    assert ledger.verify(session, group).ok


def test_declining_charges_a_write_off_and_an_exit(session, factory):
    """11 members, share price KES 100, service charge 5% a month on the declining balance."""
    group = factory.ready(members=11, start=ago(40), service_charge_bp=500, charge_method="declining")
    t = factory.treasurer(group)
    m = factory.members(group)  # m[0] .. m[10]
    issued = ago(39)

    factory.meeting(group, on=ago(40))
    for x in m:
        savings.buy_shares(session, t, group, x, 5)  # 11 x KES 500 = KES 5,500
    factory.close(group)

    factory.meeting(group, on=issued)
    for x in m:
        savings.buy_shares(session, t, group, x, 5)  # everyone has 10 shares, KES 1,000; cash 11,000
    # m[1] borrows 2,000 for 2 months: first month's charge at issue, 5% x 2,000 = KES 100 (owes 2,100)
    l1 = loans.disburse_loan(session, t, group, m[1], kes(factory, group, "2000"), term_months=2)
    # m[2] borrows 1,000 for 1 month: 5% x 1,000 = KES 50 (owes 1,050)
    l2 = loans.disburse_loan(session, t, group, m[2], kes(factory, group, "1000"))
    assert (l1.charged, l2.charged) == (10000, 5000)
    factory.close(group)  # cash 11,000 - 3,000 = 8,000

    factory.meeting(group, on=ago(37))
    # m[1] repays 600: charge 100 first, then 500 of principal; owes 1,500
    loans.repay_loan(session, t, group, m[1], kes(factory, group, "600"))
    assert l1.balance == 150000
    savings.buy_shares(session, t, group, m[0], 1)  # m[0] now has 11 shares
    factory.close(group)  # cash 8,000 + 600 + 100 = 8,700

    # One month after issue: l1's second month is charged on its balance, 5% x 1,500 = KES 75
    # (owes 1,575); l2 is due and unpaid: it rolls over, 5% x 1,050 = KES 52.50 (owes 1,102.50).
    factory.meeting(group, on=months_after(issued, 1))
    assert (l1.charged, l1.balance, l1.rollovers) == (17500, 157500, 0)
    assert (l2.charged, l2.balance, l2.rollovers) == (10250, 110250, 1)
    loans.repay_loan(session, t, group, m[1], kes(factory, group, "1575"))  # cash 10,275
    assert l1.status == "repaid"
    # m[2] has left the village: the group writes the KES 1,102.50 off (a loss shared by all).
    loans.write_off_loan(session, t, group, l2, "moved away, decided at meeting")
    # m[4] leaves mid-cycle: takes back 10 x 100 = KES 1,000, no share of profit. Cash 9,275.
    exit_entry = shareout.exit_member(session, t, group, m[4])
    assert exit_entry.details["payout"] == 100000
    savings.charge_fine(session, t, group, m[5], "late")  # KES 50; cash 9,325
    factory.close(group)

    factory.meeting(group, on=ago(30))
    # m[6] borrows 1,000 for a month: 5% = KES 50; cash 8,325
    loans.disburse_loan(session, t, group, m[6], kes(factory, group, "1000"))
    factory.close(group)

    factory.meeting(group, on=ago(27))
    loans.repay_loan(session, t, group, m[6], kes(factory, group, "1050"))  # cash 9,375
    # Income: charges 100 + 75 + 50 + 52.50 + 50 = 327.50, fines 50; write-off 1,102.50.
    # Savings of the 10 who stay: 9 x 1,000 + 1,100 = 10,100 (101 shares).
    # Loan fund = 10,100 + 327.50 + 50 - 1,102.50 = KES 9,375.00 (the cash counted above).
    # 10 shares: floor(937,500 x 10 / 101) = floor(92,821.78) = 92,821 minor = KES 928.21;
    # m[0]'s 11: floor(937,500 x 11 / 101) = floor(102,103.96) = 102,103 minor = KES 1,021.03.
    # 9 x 92,821 + 102,103 = 835,389 + 102,103 = 937,492; 8 cents stay in the group, carried over.
    p = shareout.preview(session, t, group)
    assert p.distributable.minor == 937_500 and p.total_shares == 101
    payouts = {x.member_id: x.payout.minor for x in p.payouts}
    assert payouts.pop(m[0].id) == 102_103
    assert set(payouts.values()) == {92_821} and len(payouts) == 9
    assert m[4].id not in payouts
    assert p.remainder.minor == 8
    record = shareout.execute(session, t, group)
    factory.close(group)
    assert (record.distributable, record.remainder) == (937_500, 8)
    assert ledger.balance(session, group, "loan_fund_cash").minor == 8
    assert ledger.balance(session, group, "carried_remainder").minor == 8
    # The next cycle starts with the 8 cents, and its share-out closes them in.
    factory.cycle(group, start=ago(26), share_price="100", social="0")
    factory.meeting(group, on=ago(26))
    for x in factory.members(group):
        savings.buy_shares(session, t, group, x, 1)
    # 10 x 100 + 0.08 = 1,000.08 over 10 shares: KES 100.00 each, 8 cents again left over.
    p2 = shareout.preview(session, t, group)
    assert p2.distributable.minor == 100_008 and {x.payout.minor for x in p2.payouts} == {10_000}
    assert p2.remainder.minor == 8
    assert ledger.verify(session, group).ok


def test_seed_capital_is_retained_and_a_loss_is_shared(session, factory):
    """A seed grant of KES 3,000 stays with the group; a written-off loan reduces everyone's payout."""
    group = factory.ready(members=10, start=ago(30))
    t = factory.treasurer(group)
    m = factory.members(group)
    from vision_ledger import grants

    factory.meeting(group, on=ago(30))
    grants.record_grant(session, factory.admin(group.programme_id), group, kes(factory, group, "3000"))
    for x in m:
        savings.buy_shares(session, t, group, x, 3)  # 30 shares, KES 3,000
    # m[1] borrows 700 (flat 10%: owes 770) and it is written off: loss 770, income 70.
    loan = loans.disburse_loan(session, t, group, m[1], kes(factory, group, "700"))
    loans.write_off_loan(session, t, group, loan, "death of the member's husband; group decision")
    # Cash = 3,000 seed + 3,000 savings - 700 = 5,300. Retain the seed: distributable 2,300.
    # Per share 230,000 / 30 = 7,666.66... minor; 3 shares: floor(230,000 x 3 / 30) = 23,000 = KES 230.
    p = shareout.preview(session, t, group)
    assert (p.loan_fund_cash.minor, p.retained_seed.minor) == (530_000, 300_000)
    assert p.distributable.minor == 230_000
    assert {x.payout.minor for x in p.payouts} == {23_000} and p.remainder.minor == 0
    shareout.execute(session, t, group)
    assert ledger.balance(session, group, "loan_fund_cash").minor == 300_000
    assert ledger.balance(session, group, "seed_capital").minor == 300_000
    assert ledger.verify(session, group).ok


def test_months_after_keeps_to_the_calendar():
    from datetime import date

    assert months_after(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert months_after(date(2024, 11, 15), 3) == date(2025, 2, 15)
    assert ago(0) - ago(1) == timedelta(weeks=1)

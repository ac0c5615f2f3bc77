"""The worked cycles replayed in the programmes' own currencies: a GHS group with shares of 5.00, a
TZS group with shares of 500, a Yemen group keeping its books (and its USD 5-20 loans) in USD, and
a Kosovo group in EUR. The arithmetic is in the comments; the code must agree to the minor unit.

DOMAIN.md's example (15 members, 1,000 shares, service charges and late fines, one value per share)
is played at each currency's own scale: the shares, loans, repayments and fines below are the
KES example's figures times a factor, so the value per share scales with them.
"""

from dataclasses import dataclass
from decimal import Decimal

import pytest

from vision_ledger import ledger, loans, savings, shareout
from vision_ledger.models import ShareOutPayout
from vision_ledger.money import Money

from .helpers import ago


@dataclass(frozen=True)
class Scale:
    currency: str
    timezone: str
    loan_bounds: tuple[str, str]  # USD 5-20 in the currency, as the programme states them
    share_price: str
    social: str
    loan: str  # each of the 10 loans, 3 months, flat 10 % a month
    repay: str  # loan + 3 x 10 %
    fine: str  # each of the 8 late fines
    value_per_share: str
    payout_64: int  # minor units: member 1's 64 shares
    payout_67: int  # members 2-13
    payout_66: int  # members 14-15
    remainder: int


SCALES = [
    # Ghana: shares GHS 5.00. 1,000 shares = GHS 5,000; 10 loans of GHS 200, charge 200 x 30 % =
    # GHS 60 each, GHS 600 in all; 8 fines of GHS 5 = GHS 40. Loan fund 5,000 + 600 + 40 =
    # GHS 5,640, a share GHS 5.64: 64 x 5.64 = 360.96, 67 x 5.64 = 377.88, 66 x 5.64 = 372.24;
    # 360.96 + 12 x 377.88 + 2 x 372.24 = 360.96 + 4,534.56 + 744.48 = 5,640.00, nothing left over.
    Scale("GHS", "Africa/Accra", ("60", "240"), "5.00", "1.00", "200", "260", "5", "5.64",
          36_096, 37_788, 37_224, 0),
    # Tanzania: shares TZS 500. 1,000 shares = TZS 500,000; 10 loans of TZS 20,000 earn
    # TZS 6,000 each, 60,000 in all; 8 fines of TZS 500 = 4,000. Loan fund TZS 564,000, a share
    # TZS 564: 64 x 564 = 36,096, 67 x 564 = 37,788, 66 x 564 = 37,224 (TZS keeps cents).
    Scale("TZS", "Africa/Dar_es_Salaam", ("12500", "50000"), "500", "100", "20000", "26000", "500",
          "564", 3_609_600, 3_778_800, 3_722_400, 0),
    # Yemen, books in USD: shares USD 1.00; 10 loans of USD 20 (the programme's ceiling) earn
    # USD 6 each, 60 in all; 8 fines of USD 1 = 8. Loan fund 1,000 + 60 + 8 = USD 1,068, a share
    # USD 1.068: 64 x 1.068 = 68.352 -> 68.35; 67 x 1.068 = 71.556 -> 71.55; 66 x 1.068 = 70.488
    # -> 70.48. Paid 68.35 + 12 x 71.55 + 2 x 70.48 = 68.35 + 858.60 + 140.96 = 1,067.91: the
    # 9 cents left over stay in the group, carried into the next cycle.
    Scale("USD", "Asia/Aden", ("5", "20"), "1.00", "0.20", "20", "26", "1", "1.068",
          6_835, 7_155, 7_048, 9),
]


@pytest.mark.parametrize("s", SCALES, ids=[s.currency for s in SCALES])
def test_domain_example_replays_in_the_programmes_own_currency(session, factory, s):
    def money(text: str) -> Money:
        return Money.parse(text, s.currency)

    programme = factory.programme(s.currency, loan_min=money(s.loan_bounds[0]).minor,
                                  loan_max=money(s.loan_bounds[1]).minor)
    group = factory.group(programme, timezone=s.timezone)
    factory.cycle(group, start=ago(40), share_price=s.share_price, social=s.social,
                  fines={"late": money(s.fine)})
    t = factory.treasurer(group)
    ms = factory.members(group)
    target = {m.id: 64 if i == 0 else 67 if i < 13 else 66 for i, m in enumerate(ms)}
    bought = dict.fromkeys(target, 0)
    for week in range(14):
        factory.meeting(group, on=ago(40 - week))
        for m in ms:
            n = min(5, target[m.id] - bought[m.id])
            if n:
                savings.buy_shares(session, t, group, m, n)
                bought[m.id] += n
        if week == 0:
            for m in ms:  # the social fund is not shared out
                savings.pay_social_fund(session, t, group, m)
        if week == 10:
            for m in ms[1:11]:
                loan = loans.disburse_loan(session, t, group, m, money(s.loan), term_months=3)
                assert loan.principal + loan.charged == money(s.repay).minor
        factory.close(group)
    factory.meeting(group, on=ago(20))
    for m in ms[1:11]:
        loans.repay_loan(session, t, group, m, money(s.repay))
    for m in ms[:8]:
        savings.charge_fine(session, t, group, m, "late")

    p = shareout.preview(session, t, group)
    assert p.total_shares == 1000
    assert p.value_per_share == Decimal(s.value_per_share)
    payouts = {x.member_id: x.payout.minor for x in p.payouts}
    assert (payouts[ms[0].id], payouts[ms[1].id], payouts[ms[14].id]) == (
        s.payout_64, s.payout_67, s.payout_66)
    assert p.remainder.minor == s.remainder
    record = shareout.execute(session, t, group)
    factory.close(group)
    stored = session.query(ShareOutPayout).filter_by(share_out_id=record.id).all()
    assert sum(x.payout for x in stored) + record.remainder == record.distributable
    assert ledger.balance(session, group, "loan_fund_cash").minor == s.remainder
    assert ledger.balance(session, group, "carried_remainder").minor == s.remainder
    assert ledger.balance(session, group, "social_fund").minor == 15 * money(s.social).minor
    assert ledger.verify(session, group).ok


def test_kosovo_group_in_euro_shares_out_a_seed_grant_and_a_written_off_loan(session, factory):
    """10 members in Prizren, shares EUR 2.50, a seed grant of EUR 300 retained by the group."""
    from vision_ledger import grants

    programme = factory.programme("EUR", loan_min=460, loan_max=1840)  # USD 5-20 at EUR 0.92
    group = factory.group(programme, members=10, timezone="Europe/Belgrade")
    factory.cycle(group, start=ago(30), share_price="2.50", social="0.50",
                  fines={"late": Money.parse("0.50", "EUR")})
    t = factory.treasurer(group)
    m = factory.members(group)
    eur = lambda text: Money.parse(text, "EUR")  # noqa: E731

    factory.meeting(group, on=ago(30))
    grants.record_grant(session, factory.admin(programme), group, eur("300"))
    for x in m:
        savings.buy_shares(session, t, group, x, 4)  # 40 shares x 2.50 = EUR 100
    for x in m[:3]:
        savings.buy_shares(session, t, group, x, 1)  # 3 more: 43 shares, EUR 107.50
    # m[1] borrows EUR 18.40 (flat 10 %: owes 20.24); the group writes it off: loss 20.24,
    # of which 1.84 was service-charge income, so the fund loses the 18.40 lent.
    loan = loans.disburse_loan(session, t, group, m[1], eur("18.40"))
    assert (loan.principal, loan.charged) == (1840, 184)
    loans.write_off_loan(session, t, group, loan, "left for Germany; decided at the meeting")
    savings.charge_fine(session, t, group, m[2], "late")  # EUR 0.50
    # Cash: 300 + 107.50 - 18.40 + 0.50 = EUR 389.60; retain the seed 300: distributable 89.60.
    # 43 shares: 8,960 / 43 = 208.37... cents a share. 4 shares: floor(8,960 x 4 / 43) =
    # floor(833.49) = 833 (EUR 8.33); 5 shares: floor(8,960 x 5 / 43) = floor(1,041.86) = 1,041.
    # Paid 7 x 833 + 3 x 1,041 = 5,831 + 3,123 = 8,954; 6 cents carried over.
    p = shareout.preview(session, t, group)
    assert (p.loan_fund_cash.minor, p.retained_seed.minor, p.distributable.minor) == (38_960, 30_000, 8_960)
    assert sorted({x.payout.minor for x in p.payouts}) == [833, 1_041]
    assert p.remainder.minor == 6
    assert p.distributable.format("en") == "EUR 89.60"
    shareout.execute(session, t, group)
    factory.close(group)
    assert ledger.balance(session, group, "loan_fund_cash").minor == 30_006
    assert ledger.verify(session, group).ok

"""`ledger.post` writes through the driver: the session's copies of what it changed must not go
stale (the group's head is set, held accounts' balances are expired)."""

from sqlalchemy import select

from vision_ledger import savings
from vision_ledger.models import Account

from .helpers import ago


def test_an_account_the_session_holds_reads_its_new_balance_after_post(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[0]
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(9))
    held = session.scalars(select(Account).where(Account.group_id == meeting_group.id,
                                                 Account.key == f"member_shares:{m.id}")).one()
    cash = session.scalars(select(Account).where(Account.group_id == meeting_group.id,
                                                 Account.key == "loan_fund_cash")).one()
    before, cash_before = (held.balance, held.units), cash.balance
    savings.buy_shares(session, t, meeting_group, m, 2)
    assert (held.balance, held.units) == (before[0] - 20000, before[1] + 2)
    assert cash.balance == cash_before + 20000

"""`ledger.post` writes through the driver: the session's copies of what it changed must not go
stale (the group's head is set, held accounts' balances are expired)."""

from sqlalchemy import select, update

from vision_ledger import ledger, savings
from vision_ledger.models import Account, Group

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


def test_lock_group_takes_the_locked_rows_head_over_the_sessions_copy(session, factory, meeting_group):
    """Another writer moved the journal's head (and renamed the group) after this session loaded
    its copy: the lock reloads the copy; an unchanged copy is kept as it is."""
    gid = meeting_group.id
    with session.begin_nested():
        pass  # a savepoint's end forgets the locks taken (see ledger.locking): lock again below
    kept = ledger.lock_group(session, gid)
    assert kept is meeting_group
    seq, head = meeting_group.last_seq, meeting_group.last_hash
    with session.begin_nested():
        pass
    groups = Group.__table__
    session.connection().execute(update(groups).where(groups.c.id == gid).values(
        last_seq=seq + 5, last_hash="f" * 64, name="Renamed elsewhere"))
    held = ledger.lock_group(session, gid)
    assert held is meeting_group
    assert (held.last_seq, held.last_hash, held.name) == (seq + 5, "f" * 64, "Renamed elsewhere")
    assert head != "f" * 64

"""Business set-up (`vision_ledger.business`) and a share purchase's reads: what every meeting
operation starts from is read in one statement after the lock, and a purchase's own facts in one
more, whatever the database."""

from contextlib import contextmanager
from datetime import date

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import NoResultFound

from vision_ledger import ledger, savings
from vision_ledger.business import _BUSINESS
from vision_ledger.errors import Conflict
from vision_ledger.ledger.driver import read_one
from vision_ledger.models import Entry, OutboxMessage

from .helpers import ago, refused


@contextmanager
def statements(session):
    """What the database ran meanwhile: (every SELECT, the statements SQLAlchemy ran). SQLite's
    library reports each statement it runs, through SQLAlchemy or straight on the driver; on
    PostgreSQL SQLAlchemy's are counted and post()'s single statement, on the driver, added."""
    seen, core = [], []
    conn = session.connection()
    raw = conn.connection.driver_connection
    sqlite = conn.dialect.name == "sqlite"

    def count(_conn, _cursor, sql, *_args):
        core.append(sql)

    event.listen(conn, "before_cursor_execute", count)
    if sqlite:
        raw.set_trace_callback(seen.append)
    try:
        yield seen, core
    finally:
        event.remove(conn, "before_cursor_execute", count)
        if sqlite:
            raw.set_trace_callback(None)
    if sqlite:
        seen[:] = [sql for sql in seen if sql.lstrip().upper().startswith("SELECT")]
    else:
        seen[:] = [*core, "post()"]


def test_a_share_purchase_reads_in_three_statements(session, factory, meeting_group):
    """In a transaction that holds the lock already: the business (meeting, cycle, policy,
    replay), the purchase's own facts (the meeting's shares, the holding, the loan for the
    receipt) and post()'s one read (on PostgreSQL its one statement). It took eight ORM queries
    and post's. On SQLite none goes through SQLAlchemy's execute: each cost tens of microseconds
    of Python there, more than SQLite's own work."""
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[0]
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(9))
    with statements(session) as (seen, core):
        savings.buy_shares(session, t, meeting_group, m, 2, idempotency_key="k-1")
    assert len(seen) == 3, seen
    if session.get_bind().dialect.name == "sqlite":
        assert core == [], core


def test_a_repeated_purchase_is_answered_after_the_meeting_closed(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[0]
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(9))
    first = savings.buy_shares(session, t, meeting_group, m, 2, idempotency_key="k-2")
    factory.close(meeting_group)
    again = savings.buy_shares(session, t, meeting_group, m, 2, idempotency_key="k-2")
    assert again.id == first.id and again.seq == first.seq
    with refused("idempotency.key_reused", Conflict):
        savings.buy_shares(session, t, meeting_group, m, 3, idempotency_key="k-2")
    with refused("meeting.not_open"):
        savings.buy_shares(session, t, meeting_group, m, 2, idempotency_key="k-3")


def test_a_purchase_receipt_states_the_holding_and_no_loan(session, factory, meeting_group):
    """A member with 5 shares (KES 500) buys 2 more at the next meeting; no loan, no loan facts."""
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[3]
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(9))
    entry = savings.buy_shares(session, t, meeting_group, m, 2)
    receipt = session.scalars(select(OutboxMessage).where(OutboxMessage.entry_id == entry.id)).one()
    assert receipt.payload["total_shares"] == 7 and receipt.payload["savings"] == 70000
    assert "loan_balance" not in receipt.payload and "loan_due_on" not in receipt.payload
    assert ledger.units(session, meeting_group, m.id) == 7


def test_a_member_without_a_share_account_buys_at_most_the_ceiling(session, factory, meeting_group):
    """The first purchase of a member who joined after the meeting opened reads NULLs, not no row."""
    t = factory.treasurer(meeting_group)
    newcomer = factory.member(meeting_group)
    with refused("shares.above_maximum"):
        savings.buy_shares(session, t, meeting_group, newcomer, 6)
    entry = savings.buy_shares(session, t, meeting_group, newcomer, 5)
    receipt = session.scalars(select(OutboxMessage).where(OutboxMessage.entry_id == entry.id)).one()
    assert receipt.payload["total_shares"] == 5
    with refused("shares.above_maximum"):
        savings.buy_shares(session, t, meeting_group, newcomer, 1)
    assert session.get(Entry, entry.id).member_id == newcomer.id


def test_the_driver_reads_what_sqlalchemy_reads(session, factory, meeting_group):
    """`read_one` (the driver on SQLite) answers the business read as Connection.execute does:
    the meeting's date as a date, the policies and fines decoded, a replay's row; no row or
    several raise as `.one()` does."""
    t = factory.treasurer(meeting_group)
    m = factory.members(meeting_group)[0]
    factory.close(meeting_group)
    factory.meeting(meeting_group, on=ago(9))
    savings.buy_shares(session, t, meeting_group, m, 2, idempotency_key="k-read")
    conn = session.connection()
    for key in ("k-read", "k-none"):
        params = {"gid": meeting_group.id, "key": key}
        assert read_one(conn, _BUSINESS, params) == tuple(conn.execute(_BUSINESS, params).one())
    assert isinstance(read_one(conn, _BUSINESS, params)[2], date)
    with pytest.raises(NoResultFound):
        read_one(conn, _BUSINESS, {"gid": -1, "key": "k-none"})

"""Meetings: the only place money moves. Open (attendance, quorum, expected cash), business,
close (counted cash of each bag must equal the books, or a variance is recorded with a reason).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import ledger
from .actors import Actor, can_record
from .business import Business, current_meeting, local_today, require_open_meeting
from .closure import ensure_open
from .cycles import require_open_cycle
from .db import utcnow
from .errors import DomainError, NotFound
from .groups import active_members, group_policy
from .ledger import credit, debit
from .loans import apply_due_charges
from .models import Attendance, Cycle, Group, Meeting
from .money import MAX_AMOUNT_MINOR, Money
from .statements import queue_meeting_statements

# Business, current_meeting, local_today and require_open_meeting live in `business` (loans and
# statements need them without needing meetings); callers still know them as meetings.*.
__all__ = ["LATE_MEETING_DAYS", "PHONE_CHANNELS", "Business", "attendance", "close_meeting",
           "current_meeting", "expected_cash", "get_meeting", "local_today", "meeting_cycle",
           "open_meeting", "require_open_meeting"]


def get_meeting(session: Session, group: Group, meeting_id: int) -> Meeting:
    meeting = session.get(Meeting, meeting_id)
    if meeting is None or meeting.group_id != group.id:
        raise NotFound("meeting.not_found", "No such meeting", meeting_id=meeting_id)
    return meeting

# A treasurer whose network failed on meeting day records the meeting by phone (USSD, SMS) at most
# this many days late; staff onboarding a group's paper records through the API are not bound.
LATE_MEETING_DAYS = 7
PHONE_CHANNELS = ("ussd", "sms")


def open_meeting(
    session: Session,
    actor: Actor,
    group: Group,
    *,
    absent_member_ids: Iterable[int] = (),
    meeting_date: date | None = None,
) -> Meeting:
    """Open the group's meeting: take attendance, check the quorum, read the expected cash.

    Loans past their due date roll over now (one more period's service charge each).
    Raises meeting.already_open, group.forming, meeting.no_quorum, meeting.date_in_future,
    meeting.date_before_last, meeting.date_too_old (by phone, more than LATE_MEETING_DAYS late),
    meeting.unknown_member, cycle.none_open, group.closed.
    """
    can_record(actor, group)
    group = ledger.lock_group(session, group.id)
    ensure_open(session, group)
    if current_meeting(session, group.id) is not None:
        raise DomainError("meeting.already_open", "A meeting is already open; close it first")
    cycle = require_open_cycle(session, group)
    policy = group_policy(session, group, cycle)
    members = active_members(session, group.id)
    if len(members) < policy.members_min:
        raise DomainError("group.forming", f"The group has {len(members)} members; it needs "
                          f"{policy.members_min} to hold meetings", active=len(members),
                          minimum=policy.members_min)
    today = local_today(group)
    when = meeting_date or today
    if when > today:
        raise DomainError("meeting.date_in_future", "A meeting cannot be recorded before it happens",
                          date=when)
    if actor.channel in PHONE_CHANNELS and when < today - timedelta(days=LATE_MEETING_DAYS):
        raise DomainError("meeting.date_too_old",
                          f"A meeting can be recorded by phone at most {LATE_MEETING_DAYS} days late",
                          date=when, days=LATE_MEETING_DAYS)
    last = session.scalar(select(func.max(Meeting.date)).where(Meeting.group_id == group.id))
    if last is not None and when < last:
        raise DomainError("meeting.date_before_last", "A meeting cannot be dated before the last one",
                          date=when, last=last)
    if when < cycle.start_date:
        raise DomainError("meeting.before_cycle", "The meeting is before the cycle starts",
                          date=when, start=cycle.start_date)
    absent = set(absent_member_ids)
    ids = {m.id for m in members}
    unknown = sorted(absent - ids)
    if unknown:
        raise DomainError("meeting.unknown_member", "Absent members must be active members of the group",
                          member_ids=unknown)
    present = len(ids - absent)
    if present * 100 <= policy.quorum_percent * len(members):
        raise DomainError("meeting.no_quorum", f"{present} of {len(members)} present: no quorum",
                          present=present, active=len(members), quorum_percent=policy.quorum_percent)
    number = (session.scalar(select(func.max(Meeting.number)).where(Meeting.cycle_id == cycle.id)) or 0) + 1
    meeting = Meeting(
        group_id=group.id, cycle_id=cycle.id, number=number, date=when, status="open",
        present_count=present, active_count=len(members),
        opening_loan_fund=ledger.balance(session, group, "loan_fund_cash").minor,
        opening_social_fund=ledger.balance(session, group, "social_fund_cash").minor,
        opened_by=actor.label,
    )
    session.add(meeting)
    session.flush()
    session.add_all(
        Attendance(group_id=group.id, meeting_id=meeting.id, member_id=m.id, present=m.id not in absent)
        for m in members
    )
    session.flush()
    apply_due_charges(session, actor, group, meeting)
    return meeting


def expected_cash(session: Session, group: Group) -> tuple[Money, Money]:
    """What the two bags should hold now: (loan fund, social fund)."""
    return (ledger.balance(session, group, "loan_fund_cash"),
            ledger.balance(session, group, "social_fund_cash"))


def close_meeting(
    session: Session,
    actor: Actor,
    group: Group,
    *,
    counted_loan_fund: Money,
    counted_social_fund: Money,
    variance_reason: str | None = None,
) -> Meeting:
    """Close the meeting with the money counters' count of each bag.

    A count that differs from the books is refused unless a reason is given; then the difference
    is posted as a cash variance entry that every member and auditor can see. Every member is sent
    a statement. Raises meeting.not_open, meeting.invalid_count, meeting.count_above_limit,
    meeting.cash_mismatch, money.currency_mismatch.
    """
    can_record(actor, group)
    group = ledger.lock_group(session, group.id)
    meeting = require_open_meeting(session, group)
    expected_loan, expected_social = expected_cash(session, group)
    for counted in (counted_loan_fund, counted_social_fund):
        if counted.currency != group.currency:
            raise DomainError("money.currency_mismatch", f"The group keeps its books in {group.currency}",
                              expected=group.currency, given=counted.currency)
        if counted.minor < 0:
            raise DomainError("meeting.invalid_count", "A count cannot be negative")
        if counted.minor > MAX_AMOUNT_MINOR:
            raise DomainError("meeting.count_above_limit", "No bag holds that much; count again",
                              maximum=Money(MAX_AMOUNT_MINOR, group.currency), counted=counted)
    differences = {
        "loan_fund": counted_loan_fund - expected_loan,
        "social_fund": counted_social_fund - expected_social,
    }
    mismatched = {bag: d for bag, d in differences.items() if d.minor}
    reason = (variance_reason or "").strip()
    if mismatched and not reason:
        raise DomainError(
            "meeting.cash_mismatch",
            "The counted cash does not match the books: find the difference or give a reason",
            expected_loan_fund=expected_loan, counted_loan_fund=counted_loan_fund,
            expected_social_fund=expected_social, counted_social_fund=counted_social_fund,
        )
    for bag, diff in mismatched.items():
        cash = f"{bag}_cash"
        # The loan-fund bag's difference is a loss or gain of all members (closed at share-out);
        # the social-fund bag's comes out of (or into) the social fund itself.
        other = "cash_variance" if bag == "loan_fund" else "social_fund"
        lines = [debit(cash, diff), credit(other, diff)]
        ledger.post(
            session, group, actor, kind="cash_variance", lines=lines,
            request={"op": "cash_variance", "meeting": meeting.id, "bag": bag, "diff": diff.minor},
            idempotency_key=f"meeting:{meeting.id}:variance:{bag}", effective_date=meeting.date,
            meeting_id=meeting.id, cycle_id=meeting.cycle_id, memo=reason,
            details={"bag": bag, "expected": (expected_loan if bag == "loan_fund" else expected_social).minor,
                     "counted": (counted_loan_fund if bag == "loan_fund" else counted_social_fund).minor},
        )
    meeting.counted_loan_fund = counted_loan_fund.minor
    meeting.counted_social_fund = counted_social_fund.minor
    meeting.variance_reason = reason or None
    closing_loan, closing_social = expected_cash(session, group)
    meeting.closing_loan_fund = closing_loan.minor
    meeting.closing_social_fund = closing_social.minor
    meeting.status = "closed"
    meeting.closed_by = actor.label
    meeting.closed_at = utcnow()
    session.flush()
    queue_meeting_statements(session, group, meeting)
    return meeting


def attendance(session: Session, meeting: Meeting) -> dict[int, bool]:
    return {a.member_id: a.present for a in session.scalars(
        select(Attendance).where(Attendance.meeting_id == meeting.id))}


def meeting_cycle(session: Session, meeting: Meeting) -> Cycle:
    cycle = session.get(Cycle, meeting.cycle_id)
    assert cycle is not None
    return cycle

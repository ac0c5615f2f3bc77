"""Corrections: a reversal entry that points at the original and undoes it, visible to all.

Nothing in the journal is edited. A treasurer may reverse entries of the open meeting; programme
staff may reverse any reversible entry, with a reason.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from . import ledger
from .actors import Actor, can_administer, can_record
from .errors import DomainError, NotFound
from .ledger import Line
from .loans import active_loans
from .meetings import current_meeting, local_today
from .models import Account, Cycle, Entry, Group, Loan, Member
from .money import Money

REVERSIBLE = ("share_purchase", "social_fund", "fine", "welfare", "loan", "repayment",
              "service_charge", "rollover", "write_off", "grant", "cash_variance")


def get_entry(session: Session, group: Group, entry_id: int) -> Entry:
    entry = session.get(Entry, entry_id)
    if entry is None or entry.group_id != group.id:
        raise NotFound("entry.not_found", "No such entry", entry_id=entry_id)
    return entry


def is_reversed(session: Session, entry: Entry) -> bool:
    return session.scalar(select(Entry.id).where(Entry.reverses_id == entry.id)) is not None


def reverse_entry(session: Session, actor: Actor, group: Group, entry: Entry, reason: str, *,
                  idempotency_key: str | None = None) -> Entry | ledger.Posted:
    """Post the reversal of `entry` and undo what it did to its loan, if any.

    Raises reversal.outside_open_meeting (treasurer), reversal.reason_required (staff),
    reversal.not_reversible, reversal.already_reversed, reversal.loan_has_later_entries,
    reversal.staff_only, ledger.cash_short.
    """
    if actor.role in ("admin", "auditor", "system"):
        can_administer(actor, group)
    else:
        can_record(actor, group)
    group = ledger.lock_group(session, group.id)
    request = {"op": "reversal", "entry": entry.id, "reason": reason}
    replay = ledger.find_replay(session, group.id, idempotency_key, request)
    if replay:
        return replay
    if entry.group_id != group.id:
        raise NotFound("entry.not_found", "No such entry", entry_id=entry.id)
    reason = (reason or "").strip()
    meeting = current_meeting(session, group.id)
    if actor.role == "treasurer":
        if meeting is None or entry.meeting_id != meeting.id:
            raise DomainError("reversal.outside_open_meeting",
                              "A treasurer can correct only entries of the open meeting",
                              entry_seq=entry.seq)
        if entry.kind in ("grant", "cash_variance"):
            raise DomainError("reversal.staff_only", "Only programme staff can reverse this entry",
                              kind=entry.kind)
    elif not reason:
        raise DomainError("reversal.reason_required", "Say why the entry is reversed")
    if entry.kind not in REVERSIBLE:
        raise DomainError("reversal.not_reversible", f"A {entry.kind} entry cannot be reversed",
                          kind=entry.kind)
    if is_reversed(session, entry):
        raise DomainError("reversal.already_reversed", "This entry was already reversed",
                          entry_seq=entry.seq)
    if entry.kind != "grant" and entry.cycle_id is not None:
        cycle = session.get(Cycle, entry.cycle_id)
        if cycle is not None and cycle.status != "open":
            # The share-out closed the cycle's books and paid its members: undoing one of its
            # entries now would move money that was already shared out.
            raise DomainError("reversal.cycle_closed", "The entry's cycle was shared out",
                              entry_seq=entry.seq)
    if entry.member_id is not None and entry.kind in ("share_purchase", "repayment", "loan"):
        owner = session.get(Member, entry.member_id)
        if owner is not None and owner.status != "active":
            raise DomainError("reversal.member_left", "The member has left; their account is settled",
                              entry_seq=entry.seq)
    _undo_loan_effects(session, entry)
    keys = {a.id: a.key for a in session.scalars(select(Account).where(Account.group_id == group.id))}
    lines = [Line(keys[p.account_id], Money(-p.amount, group.currency), -p.units) for p in entry.postings]
    member_amount = _member_amount(entry, group)
    return ledger.post(
        session, group, actor, kind="reversal", lines=lines, request=request,
        idempotency_key=idempotency_key,
        effective_date=meeting.date if meeting else local_today(group),
        member_id=entry.member_id, meeting_id=meeting.id if meeting else None,
        cycle_id=entry.cycle_id, loan_id=entry.loan_id, reverses_id=entry.id,
        memo=reason or None,
        details={"reversed_seq": entry.seq, "reversed_kind": entry.kind},
        receipt={"reversed_seq": entry.seq, "reversed_kind": entry.kind,
                 "reversed_date": entry.effective_date.isoformat(), "amount": member_amount,
                 "by": actor.role},
    )


def _member_amount(entry: Entry, group: Group) -> int:
    """The cash amount of an entry, as the member saw it on their receipt."""
    return max((abs(p.amount) for p in entry.postings), default=0)


def _undo_loan_effects(session: Session, entry: Entry) -> None:
    if entry.loan_id is None or entry.kind not in ("loan", "repayment", "service_charge",
                                                   "rollover", "write_off"):
        return
    loan = session.get(Loan, entry.loan_id)
    assert loan is not None
    details = entry.details or {}
    later = _later_entries(session, entry)
    if entry.kind == "loan":
        if later:
            raise DomainError("reversal.loan_has_later_entries",
                              "Reverse the loan's later entries first", entries=later)
        loan.status = "cancelled"
        loan.closed_on = entry.effective_date
    elif entry.kind == "repayment":
        if loan.status in ("written_off", "cancelled"):
            raise DomainError("reversal.loan_has_later_entries",
                              "The loan was written off since; reverse the write-off first",
                              entries=later)
        if loan.status == "repaid" and active_loans(session, loan.member_id):
            raise DomainError("reversal.loan_has_later_entries",
                              "The member has a newer loan; reverse it first", entries=later)
        loan.repaid_charge -= int(details.get("charge", 0))
        loan.repaid_principal -= int(details.get("principal", 0))
        if loan.status == "repaid":
            loan.status = "active"
            loan.closed_on = None
    elif entry.kind in ("service_charge", "rollover"):
        # The charge is waived; the period stays decided, so it is not charged again.
        charge = int(details.get("charge", 0))
        if loan.status != "active" or loan.charged - charge < loan.repaid_charge:
            raise DomainError("reversal.loan_has_later_entries",
                              "That charge was already repaid; reverse the repayment first",
                              entries=later)
        loan.charged -= charge
        if loan.status == "active" and loan.balance == 0:
            # Waiving the last charge owed settles the loan.
            loan.status = "repaid"
            loan.closed_on = entry.effective_date
    elif entry.kind == "write_off":
        if active_loans(session, loan.member_id):
            raise DomainError("reversal.loan_has_later_entries",
                              "The member has a newer loan; reverse it first", entries=later)
        loan.status = "active"
        loan.written_off = 0
        loan.closed_on = None
        loan.write_off_reason = None


def _later_entries(session: Session, entry: Entry) -> list[int]:
    """Sequence numbers of the loan's later entries that still stand."""
    return list(session.scalars(
        select(Entry.seq).where(Entry.group_id == entry.group_id, Entry.loan_id == entry.loan_id,
                                Entry.seq > entry.seq, Entry.kind != "reversal",
                                _stands()).order_by(Entry.seq)
    ))


def _stands() -> Any:
    """No reversal points at the entry (NOT EXISTS on the unique reverses_id: one index probe)."""
    reversal = aliased(Entry)
    return ~exists().where(reversal.reverses_id == Entry.id)


def last_reversible_entry(session: Session, group: Group) -> Entry | None:
    """The newest entry of the open meeting that still stands and can be reversed (USSD undo)."""
    meeting = current_meeting(session, group.id)
    if meeting is None:
        return None
    # Whoever reversed it and wherever (staff may reverse outside the meeting), it no longer stands.
    return session.scalars(
        select(Entry).where(Entry.group_id == group.id, Entry.meeting_id == meeting.id,
                            Entry.kind.in_([k for k in REVERSIBLE if k not in ("grant", "cash_variance")]),
                            _stands())
        .order_by(Entry.seq.desc())
    ).first()

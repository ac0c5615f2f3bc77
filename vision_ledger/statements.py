"""What a member owns and owes, their recent entries, and the statements queued for them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BindParameter, bindparam, exists, func, select
from sqlalchemy.orm import Session, aliased

from . import ledger
from .actors import Actor, can_read_member
from .business import local_today
from .cycles import next_meeting_date
from .groups import active_members, open_cycle
from .loans import active_loan
from .models import Account, Cycle, Entry, Group, Meeting, Member, Posting
from .money import Money


@dataclass(frozen=True)
class Position:
    member_id: int
    shares: int
    savings: Money  # shares x share price
    social_fund_paid: Money  # this cycle
    loan_balance: Money
    loan_due_on: date | None
    next_meeting: date | None


_reversal = aliased(Entry)
_group: BindParameter[int] = bindparam("group_id")
# The member's standing social-fund contributions of a cycle. NOT EXISTS probes the unique index
# on reverses_id per candidate entry, where NOT IN would first read every reversal of the group.
_SOCIAL_FUND_PAID = (
    select(func.coalesce(func.sum(Posting.amount), 0))
    .join(Entry, Entry.id == Posting.entry_id)
    .join(Account, Account.id == Posting.account_id)
    .where(Entry.group_id == _group, Entry.cycle_id == bindparam("cycle_id"),
           Entry.member_id == bindparam("member_id"), Entry.kind == "social_fund",
           Account.code == "social_fund_cash",
           ~exists().where(_reversal.group_id == _group, _reversal.reverses_id == Entry.id))
)


def social_fund_paid(session: Session, group_id: int, cycle_id: int, member_id: int) -> int:
    """The member's standing social-fund contributions in a cycle, in minor units."""
    return int(session.scalar(_SOCIAL_FUND_PAID, {"group_id": group_id, "cycle_id": cycle_id,
                                                  "member_id": member_id}) or 0)


def _group_facts(session: Session, group: Group) -> tuple[Cycle | None, date | None]:
    """The group's open cycle and its next meeting date: the same for every member's position."""
    cycle = open_cycle(session, group.id)
    if cycle is None:
        return None, None
    last = session.scalar(select(func.max(Meeting.date)).where(Meeting.group_id == group.id))
    after = max(last or local_today(group), local_today(group))
    return cycle, next_meeting_date(cycle.schedule, after)


def position(session: Session, group: Group, member: Member, *,
             facts: tuple[Cycle | None, date | None] | None = None) -> Position:
    """The member's shares, savings, social fund paid this cycle, loan and next meeting.

    `facts` is `_group_facts` when the caller reads many members' positions at once."""
    cycle, next_meeting = facts if facts is not None else _group_facts(session, group)
    loan = active_loan(session, member.id)
    paid = 0
    if cycle is not None:
        paid = session.scalar(_SOCIAL_FUND_PAID, {"group_id": group.id, "cycle_id": cycle.id,
                                                   "member_id": member.id}) or 0
    return Position(
        member_id=member.id,
        shares=ledger.units(session, group, member.id),
        savings=ledger.balance(session, group, "member_shares", member.id),
        social_fund_paid=Money(int(paid), group.currency),
        loan_balance=Money(loan.balance if loan else 0, group.currency),
        loan_due_on=loan.due_on if loan else None,
        next_meeting=next_meeting,
    )


def position_payload(pos: Position) -> dict[str, Any]:
    return {
        "shares": pos.shares, "savings": pos.savings.minor,
        "social_fund_paid": pos.social_fund_paid.minor, "loan_balance": pos.loan_balance.minor,
        "loan_due_on": pos.loan_due_on.isoformat() if pos.loan_due_on else None,
        "next_meeting": pos.next_meeting.isoformat() if pos.next_meeting else None,
    }


@dataclass(frozen=True)
class StatementLine:
    """One entry about the member and her running totals after it."""

    entry: Entry
    amount: Money  # what the entry moved for her (a share-out or exit: her payout)
    shares: int  # shares held after the entry
    savings: Money  # savings after the entry
    loan_balance: Money  # owed after the entry
    social_fund: Money  # social fund paid in the entry's cycle, after it


_PAYOUT_KINDS = ("share_out", "member_exit")


def statement_lines(session: Session, group: Group, member: Member) -> list[StatementLine]:
    """Every entry about the member, oldest first: the entries naming her, and those posting to
    her accounts (the share-out, which closes her shares and pays her), with running totals
    recomputed from the postings."""
    accounts = select(Account.id).where(Account.group_id == group.id, Account.member_id == member.id)
    about = select(Posting.entry_id).where(Posting.group_id == group.id,
                                           Posting.account_id.in_(accounts))
    found = session.scalars(
        select(Entry).where(Entry.group_id == group.id,
                            (Entry.member_id == member.id) | Entry.id.in_(about))
        .order_by(Entry.seq)).all()
    codes = dict(session.execute(select(Account.id, Account.code).where(
        Account.group_id == group.id, (Account.member_id == member.id) | Account.member_id.is_(None))).all())
    lines: list[StatementLine] = []
    shares = savings = loan = social = 0
    cycle_id: int | None = None
    for entry in found:
        if entry.cycle_id is not None and entry.cycle_id != cycle_id:
            cycle_id, social = entry.cycle_id, 0
        details = entry.details or {}
        social_kind = entry.kind == "social_fund" or details.get("reversed_kind") == "social_fund"
        for p in entry.postings:
            code = codes.get(p.account_id)
            if code == "member_shares":
                savings -= p.amount
                shares += p.units
            elif code == "loans_receivable":
                loan += p.amount
            elif code == "social_fund" and social_kind and entry.member_id == member.id:
                social -= p.amount
        if entry.kind == "share_out":
            amount = int((details.get("payouts") or {}).get(str(member.id), 0))
        elif entry.kind == "member_exit":
            amount = int(details.get("payout", 0))
        else:
            amount = max((abs(p.amount) for p in entry.postings), default=0)
        money = group.currency
        lines.append(StatementLine(entry=entry, amount=Money(amount, money), shares=shares,
                                   savings=Money(savings, money), loan_balance=Money(loan, money),
                                   social_fund=Money(social, money)))
    return lines


def last_payout(lines: list[StatementLine]) -> StatementLine | None:
    """The member's share-out or exit payout, when it is the last entry about her."""
    if lines and lines[-1].entry.kind in _PAYOUT_KINDS:
        return lines[-1]
    return None


def recent_entries(session: Session, group: Group, member: Member, limit: int = 5) -> list[StatementLine]:
    """The member's newest statement lines, newest first (reversals and payouts included: they
    are part of the story)."""
    return statement_lines(session, group, member)[::-1][:limit]


def member_statement(session: Session, actor: Actor, group: Group, member: Member, *,
                     since: date | None = None, until: date | None = None) -> dict[str, Any]:
    """The member's position and every entry about her in the date range (share-out and exit
    payouts included), each with the running totals after it. Raises member.not_found."""
    can_read_member(actor, group, member.id)
    lines = [line for line in statement_lines(session, group, member)
             if (since is None or line.entry.effective_date >= since)
             and (until is None or line.entry.effective_date <= until)]
    return {"member": member, "position": position(session, group, member),
            "entries": [line.entry for line in lines], "lines": lines}


def payout_payload(session: Session, group: Group, member: Member) -> dict[str, Any]:
    """Her last share-out or exit payout, for the statement SMS, when it is her latest entry.

    Reads only her latest entry (what `last_payout(statement_lines(...))` finds, without reading
    her whole history: a meeting's close sends twenty statements)."""
    accounts = select(Account.id).where(Account.group_id == group.id, Account.member_id == member.id)
    about = select(Posting.entry_id).where(Posting.group_id == group.id,
                                           Posting.account_id.in_(accounts))
    entry = session.execute(
        select(Entry.kind, Entry.details, Entry.effective_date)
        .where(Entry.group_id == group.id, (Entry.member_id == member.id) | Entry.id.in_(about))
        .order_by(Entry.seq.desc()).limit(1)).first()
    if entry is None or entry.kind not in _PAYOUT_KINDS:
        return {}
    details = entry.details or {}
    amount = int((details.get("payouts") or {}).get(str(member.id), 0)) if entry.kind == "share_out" \
        else int(details.get("payout", 0))
    return {"payout": amount, "payout_kind": entry.kind, "payout_date": entry.effective_date.isoformat()}


def queue_statement(session: Session, actor: Actor, group: Group, member: Member,
                    reason: str = "request") -> None:
    """Queue a statement SMS to the member (sent later by the SMS worker)."""
    can_read_member(actor, group, member.id)
    pos = position(session, group, member)
    ledger.queue_message(session, group, member.id, "statement",
                         payload={"reason": reason, **position_payload(pos),
                                  **payout_payload(session, group, member)})


def queue_meeting_statements(session: Session, group: Group, meeting: Meeting) -> None:
    """After a meeting closes, every active member gets their statement and the closing cash."""
    facts = _group_facts(session, group)
    for member in active_members(session, group.id):
        pos = position(session, group, member, facts=facts)
        ledger.queue_message(session, group, member.id, "statement", payload={
            "reason": "meeting", "meeting_date": meeting.date.isoformat(),
            "closing_loan_fund": meeting.closing_loan_fund,
            "closing_social_fund": meeting.closing_social_fund, **position_payload(pos),
            **payout_payload(session, group, member),
        })

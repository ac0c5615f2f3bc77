"""Read-only lists the core does not offer (yet): every one takes a group or programme the caller
has already been checked against. Candidates to move into the core."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vision_ledger import ledger
from vision_ledger.actors import Actor, can_read_group, can_read_member
from vision_ledger.models import Cycle, Entry, Group, Loan, Meeting, Member, Programme
from vision_ledger.money import Money


def programme_groups(s: Session, actor: Actor, programme: Programme) -> list[Group]:
    return list(s.scalars(select(Group).where(Group.programme_id == programme.id).order_by(Group.id)))


def members(s: Session, actor: Actor, group: Group) -> list[Member]:
    can_read_group(actor, group)
    return list(s.scalars(select(Member).where(Member.group_id == group.id).order_by(Member.number)))


def cycles(s: Session, actor: Actor, group: Group) -> list[Cycle]:
    can_read_group(actor, group)
    return list(s.scalars(select(Cycle).where(Cycle.group_id == group.id).order_by(Cycle.number)))


def meetings(s: Session, actor: Actor, group: Group) -> list[Meeting]:
    can_read_group(actor, group)
    return list(s.scalars(select(Meeting).where(Meeting.group_id == group.id)
                          .order_by(Meeting.date, Meeting.id)))


def journal(s: Session, actor: Actor, group: Group, *, since: date | None = None,
            until: date | None = None, kind: str | None = None, member_id: int | None = None,
            meeting_id: int | None = None, after: int | None = None, limit: int = 100) -> dict[str, Any]:
    """A page of the group's journal in sequence order; `next_cursor` is the last sequence shown
    when more entries follow. A member sees only entries about themselves."""
    if actor.role == "member":
        member_id = actor.member_id
        assert member_id is not None  # Actor refuses a member role without its member
        can_read_member(actor, group, member_id)
    else:
        can_read_group(actor, group)
    stmt = select(Entry).where(Entry.group_id == group.id)
    if since is not None:
        stmt = stmt.where(Entry.effective_date >= since)
    if until is not None:
        stmt = stmt.where(Entry.effective_date <= until)
    if kind:
        stmt = stmt.where(Entry.kind == kind)
    if member_id is not None:
        stmt = stmt.where(Entry.member_id == member_id)
    if meeting_id is not None:
        stmt = stmt.where(Entry.meeting_id == meeting_id)
    if after is not None:
        stmt = stmt.where(Entry.seq > after)
    rows = list(s.scalars(stmt.order_by(Entry.seq).limit(limit + 1)))
    more = len(rows) > limit
    items = rows[:limit]
    return {"items": items, "next_cursor": items[-1].seq if more and items else None}


def loans(s: Session, actor: Actor, group: Group, *, status: str | None = None,
          member_id: int | None = None) -> list[Loan]:
    """The group's loans; a member sees only their own."""
    if actor.role == "member":
        member_id = actor.member_id
    else:
        can_read_group(actor, group)
    stmt = select(Loan).where(Loan.group_id == group.id)
    if status:
        stmt = stmt.where(Loan.status == status)
    if member_id is not None:
        stmt = stmt.where(Loan.member_id == member_id)
    return list(s.scalars(stmt.order_by(Loan.id)))


def balances(s: Session, actor: Actor, group: Group) -> dict[str, Any]:
    """The group's totals by account code, in natural sign, plus the shares held."""
    can_read_group(actor, group)
    totals: dict[str, int] = dict.fromkeys(ledger.CHART, 0)
    shares = 0
    for account in ledger.balances(s, group):
        natural = account.balance if account.type in ("asset", "expense") else -account.balance
        totals[account.code] += natural
        if account.code == "member_shares":
            shares += account.units
    out: dict[str, Any] = {code: Money(v, group.currency) for code, v in totals.items()}
    out["loans_outstanding"] = out.pop("loans_receivable")
    out["savings"] = out.pop("member_shares")
    out["total_shares"] = shares
    return out

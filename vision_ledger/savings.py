"""Meeting business that is not a loan: shares, the social fund, fines, welfare payouts."""

from __future__ import annotations

from sqlalchemy import BindParameter, bindparam, exists, func, select, union
from sqlalchemy.orm import Session, aliased

from . import ledger
from .actors import Actor
from .errors import DomainError
from .groups import get_member
from .ledger import credit, debit
from .ledger.driver import read_one
from .limits import check_maximum
from .loans import ACTIVE_LOAN_BALANCE, ACTIVE_LOAN_DUE_ON, owed_facts
from .meetings import Business
from .models import Account, Entry, Group, Member, Posting
from .money import Money
from .statements import social_fund_paid


def _active(member: Member) -> None:
    if member.status != "active":
        raise DomainError("member.not_active", f"{member.name} has left the group",
                          member_id=member.id)


# Built once (bound at each call): the read paths of every savings-round hop.
_original = aliased(Entry)
_reversal = aliased(Entry)
_meeting: BindParameter[int] = bindparam("meeting_id")
_member: BindParameter[int] = bindparam("member_id")
# Net shares a member bought at one meeting (reversals subtract). A reversal counts against the
# meeting of the entry it reverses, not the meeting (if any) at which it was posted: staff
# reversing an old purchase does not free room at today's meeting.
_SHARES_AT = (
    select(func.coalesce(func.sum(Posting.units), 0))
    .join(Entry, Entry.id == Posting.entry_id)
    .join(Account, Account.id == Posting.account_id)
    .where(Account.key == bindparam("key"), Entry.group_id == Account.group_id,
           # The entries that count: the member's at the meeting (reversals aside) and the
           # reversals of those, each found by the (meeting, member) index; never the member's
           # whole share history nor the whole meeting's entries. An entry that moves a member's
           # shares names the member (a purchase, an exit, their reversals); the share-out, which
           # names no one, closes the cycle and with it the meeting's purchases (meeting.other_cycle).
           Posting.entry_id.in_(union(
               select(Entry.id).where(Entry.meeting_id == _meeting, Entry.member_id == _member,
                                      Entry.kind != "reversal"),
               select(Entry.id).join(_original, _original.id == Entry.reverses_id)
               .where(_original.meeting_id == _meeting, _original.member_id == _member),
           )))
)
# A purchase's reads in one statement: the shares the member already bought at the meeting (the
# per-meeting ceiling), the shares and savings they hold (the receipt) and their active loan's
# balance and due date (the receipt's loan facts). Scalar subqueries, each by its index, so a
# member without a share account or a loan still reads one row (NULLs).
_accounts = Account.__table__
_held = select(_accounts.c.units, _accounts.c.balance).where(
    _accounts.c.group_id == bindparam("gid"), _accounts.c.key == bindparam("key"))
_PURCHASE = select(
    _SHARES_AT.scalar_subquery(),
    _held.with_only_columns(_accounts.c.units).scalar_subquery(),
    _held.with_only_columns(_accounts.c.balance).scalar_subquery(),
    ACTIVE_LOAN_BALANCE, ACTIVE_LOAN_DUE_ON,
)
_SOCIAL_FUND_AT = select(func.count()).select_from(Entry).where(
    Entry.meeting_id == bindparam("meeting_id"), Entry.member_id == bindparam("member_id"),
    Entry.kind == "social_fund", ~exists().where(_reversal.reverses_id == Entry.id))


def buy_shares(session: Session, actor: Actor, group: Group, member: Member, shares: int, *,
               idempotency_key: str | None = None) -> Entry | ledger.Posted:
    """A member buys shares at the meeting: amount = shares x the cycle's share price.

    Raises meeting.not_open, member.not_active, shares.below_minimum, shares.above_maximum.
    """
    request = {"op": "share_purchase", "member": member.id, "shares": shares}
    b = Business(session, actor, group, idempotency_key, request)
    if b.replay:
        return b.replay
    get_member(session, actor, b.group, member.id)
    _active(member)
    assert b.policy is not None and b.cycle is not None and b.meeting is not None
    if isinstance(shares, bool) or not isinstance(shares, int) or shares < b.policy.shares_min:
        raise DomainError("shares.below_minimum", f"Buy at least {b.policy.shares_min} share(s)",
                          minimum=b.policy.shares_min, requested=shares)
    # Nothing changed since Business's reads (which follow lock_group's flush): the connection's.
    already, held, paid, loan_balance, loan_due_on = read_one(session.connection(), _PURCHASE, {
        "key": ledger.account_key("member_shares", member.id), "meeting_id": b.meeting.id,
        "gid": b.group.id, "member_id": member.id})
    already = int(already or 0)
    if already + shares > b.policy.shares_max:
        raise DomainError("shares.above_maximum",
                          f"At most {b.policy.shares_max} shares a meeting", maximum=b.policy.shares_max,
                          requested=shares, already=already)
    amount = b.money(b.cycle.share_price) * shares
    return b.post(
        kind="share_purchase", member_id=member.id,
        lines=[debit("loan_fund_cash", amount), credit("member_shares", amount, member.id, shares)],
        details={"shares": shares, "share_price": b.cycle.share_price},
        # The member's share account is an equity account: its stored balance is negative.
        receipt={"shares": shares, "amount": amount.minor, "total_shares": int(held or 0) + shares,
                 "savings": -int(paid or 0) + amount.minor, **owed_facts(loan_balance, loan_due_on)},
    )


def pay_social_fund(session: Session, actor: Actor, group: Group, member: Member, *,
                    idempotency_key: str | None = None) -> Entry | ledger.Posted:
    """The member's fixed social-fund contribution for this meeting (once per meeting).

    Raises meeting.not_open, member.not_active, social_fund.already_paid, social_fund.none_set.
    """
    request = {"op": "social_fund", "member": member.id}
    b = Business(session, actor, group, idempotency_key, request)
    if b.replay:
        return b.replay
    get_member(session, actor, b.group, member.id)
    _active(member)
    assert b.cycle is not None and b.meeting is not None
    if b.cycle.social_fund_contribution <= 0:
        raise DomainError("social_fund.none_set", "This cycle has no social fund contribution")
    if social_fund_paid_at(session, b.meeting.id, member.id):
        raise DomainError("social_fund.already_paid",
                          f"{member.name} already paid the social fund at this meeting")
    amount = b.money(b.cycle.social_fund_contribution)
    # The receipt carries the member's running total of the cycle: two contributions on one day
    # then read as two payments, not as one SMS sent twice.
    total = social_fund_paid(session, b.group.id, b.cycle.id, member.id) + amount.minor
    return b.post(
        kind="social_fund", member_id=member.id,
        lines=[debit("social_fund_cash", amount), credit("social_fund", amount)],
        receipt={"amount": amount.minor, "social_total": total},
    )


def social_fund_paid_at(session: Session, meeting_id: int, member_id: int) -> bool:
    """Whether the member's contribution at this meeting stands (not reversed)."""
    return bool(session.scalar(_SOCIAL_FUND_AT, {"meeting_id": meeting_id, "member_id": member_id}))


def charge_fine(session: Session, actor: Actor, group: Group, member: Member, fine: str, *,
                idempotency_key: str | None = None) -> Entry | ledger.Posted:
    """A fine from the cycle's schedule (late, absent...), paid into the loan fund.

    Raises meeting.not_open, member.not_active, fine.unknown, fine.above_maximum.
    """
    name = fine.strip().lower()
    request = {"op": "fine", "member": member.id, "fine": name}
    b = Business(session, actor, group, idempotency_key, request)
    if b.replay:
        return b.replay
    get_member(session, actor, b.group, member.id)
    _active(member)
    assert b.cycle is not None
    if name not in b.cycle.fines:
        raise DomainError("fine.unknown", f"The group has no fine called {fine}",
                          fine=fine, fines=sorted(b.cycle.fines))
    amount = b.money(b.cycle.fines[name])
    assert b.policy is not None
    # The cycle's table was within the policy when the cycle started; a ceiling lowered since binds.
    check_maximum("fine.above_maximum", f"Fine {name}", amount, b.policy.fine_max)
    return b.post(
        kind="fine", member_id=member.id,
        lines=[debit("loan_fund_cash", amount), credit("fine_income", amount)],
        details={"fine": name}, receipt={"amount": amount.minor, "fine": name},
    )


def pay_welfare(  # noqa: PLR0917  (doors call it positionally; the signature is public)
        session: Session, actor: Actor, group: Group, member: Member, amount: Money,
                reason: str, *, idempotency_key: str | None = None) -> Entry | ledger.Posted:
    """A welfare grant from the social fund, decided by the group; never more than its bag holds.

    Raises meeting.not_open, welfare.invalid_amount, welfare.above_maximum, welfare.reason_required,
    welfare.above_social_fund.
    """
    request = {"op": "welfare", "member": member.id, "amount": amount.minor,
               "currency": amount.currency, "reason": reason}
    b = Business(session, actor, group, idempotency_key, request)
    if b.replay:
        return b.replay
    get_member(session, actor, b.group, member.id)
    if amount.currency != b.group.currency:
        raise DomainError("money.currency_mismatch", f"The group keeps its books in {b.group.currency}",
                          expected=b.group.currency, given=amount.currency)
    if amount.minor <= 0:
        raise DomainError("welfare.invalid_amount", "A welfare payout must be more than zero")
    assert b.policy is not None
    check_maximum("welfare.above_maximum", "Welfare payout", amount, b.policy.welfare_max)
    if not (reason or "").strip():
        raise DomainError("welfare.reason_required", "Say what the welfare payout is for")
    available = ledger.balance(session, b.group, "social_fund_cash")
    if amount > available:
        raise DomainError("welfare.above_social_fund",
                          f"The social fund holds only {available}", available=available,
                          requested=amount)
    return b.post(
        kind="welfare", member_id=member.id,
        lines=[debit("social_fund", amount), credit("social_fund_cash", amount)],
        memo=reason.strip(), receipt={"amount": amount.minor},
    )

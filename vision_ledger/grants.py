"""Seed-capital grants: programme money into the group's loan fund, booked as separate equity."""

from __future__ import annotations

from sqlalchemy.orm import Session

from . import ledger
from .actors import Actor, can_administer
from .business import current_meeting, local_today
from .errors import DomainError
from .groups import active_members, group_policy, open_cycle
from .ledger import credit, debit
from .limits import check_maximum
from .models import Entry, Group
from .money import Money


def record_grant(session: Session, actor: Actor, group: Group, amount: Money, *,
                 reference: str | None = None, idempotency_key: str | None = None) -> Entry | ledger.Posted:
    """Programme staff record a seed-capital grant; every member is told.

    The grant's cash is handed over at a meeting, so it is attached to the open meeting when there
    is one (and counted in that meeting's expected cash); otherwise it is in the expected cash of
    the next. Raises permission.*, grant.invalid_amount, grant.above_maximum, money.currency_mismatch.
    """
    can_administer(actor, group)
    group = ledger.lock_group(session, group.id)
    request = {"op": "grant", "amount": amount.minor, "currency": amount.currency,
               "reference": reference}
    replay = ledger.find_replay(session, group.id, idempotency_key, request)
    if replay:
        return replay
    if amount.currency != group.currency:
        raise DomainError("money.currency_mismatch", f"The group keeps its books in {group.currency}",
                          expected=group.currency, given=amount.currency)
    if amount.minor <= 0:
        raise DomainError("grant.invalid_amount", "A grant must be more than zero")
    check_maximum("grant.above_maximum", "Grant", amount, group_policy(session, group).grant_max)
    meeting = current_meeting(session, group.id)
    cycle = open_cycle(session, group.id)
    entry = ledger.post(
        session, group, actor, kind="grant",
        lines=[debit("loan_fund_cash", amount), credit("seed_capital", amount)],
        request=request, idempotency_key=idempotency_key,
        effective_date=meeting.date if meeting else local_today(group),
        meeting_id=meeting.id if meeting else None, cycle_id=cycle.id if cycle else None,
        memo=reference, details={"reference": reference} if reference else {},
    )
    for member in active_members(session, group.id):
        ledger.queue_message(session, group, member.id, "grant", entry=entry,
                             payload={"amount": amount.minor, "date": entry.effective_date.isoformat()})
    return entry

"""Cycles: one savings year with a fixed share price, from its first meeting to its share-out."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from dateutil.rrule import rrulestr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import ledger
from .actors import Actor, can_manage
from .errors import DomainError, NotFound
from .groups import check_schedule, group_policy, open_cycle
from .limits import check_maximum
from .models import Cycle, Group
from .money import Money
from .policy import refine


def schedule_dates(schedule: str, start: date, count: int) -> list[date]:
    """The first `count` meeting dates of an RRULE on or after `start`."""
    rule = rrulestr(schedule, dtstart=datetime.combine(start, time(12)))
    return [d.date() for d in rule.xafter(datetime.combine(start, time(0)), count=count, inc=True)]


def next_meeting_date(schedule: str, after: date) -> date | None:
    """The first scheduled date strictly after `after`."""
    rule = rrulestr(schedule, dtstart=datetime.combine(after, time(12)))
    nxt = rule.after(datetime.combine(after, time(23, 59)), inc=False)
    return nxt.date() if nxt else None


def start_cycle(
    session: Session,
    actor: Actor,
    group: Group,
    *,
    share_price: Money,
    social_fund_contribution: Money,
    start_date: date,
    fines: dict[str, Money] | None = None,
    service_charge_bp: int | None = None,
    charge_method: str | None = None,
    loan_term_months: int | None = None,
    weeks: int | None = None,
    schedule: str | None = None,
    policy: dict[str, Any] | None = None,
) -> Cycle:
    """Start the group's next cycle. At most one cycle is open at a time.

    Every setting defaults from the group's policy and must lie within it. Raises cycle.already_open,
    cycle.invalid_share_price, cycle.share_price_above_maximum, cycle.invalid_social_fund,
    cycle.social_fund_above_maximum, cycle.invalid_fine, cycle.fine_above_maximum,
    policy.out_of_range, money.currency_mismatch.
    """
    can_manage(actor, group)
    ledger.lock_group(session, group.id)
    if open_cycle(session, group.id) is not None:
        raise DomainError("cycle.already_open", "The group already has an open cycle; share out first")
    base = group_policy(session, group)
    refinements = dict(policy or {})
    for name, value in (("service_charge_bp", service_charge_bp), ("charge_method", charge_method),
                        ("loan_term_months", loan_term_months), ("cycle_weeks", weeks)):
        if value is not None:
            refinements[name] = value
    effective = refine(base, refinements)
    for money, label in ((share_price, "share_price"),
                         (social_fund_contribution, "social_fund_contribution")):
        if money.currency != group.currency:
            raise DomainError("money.currency_mismatch", f"The group keeps its books in {group.currency}",
                              expected=group.currency, given=money.currency, field=label)
    if share_price.minor <= 0:
        raise DomainError("cycle.invalid_share_price", "The share price must be more than zero",
                          share_price=share_price)
    if social_fund_contribution.minor < 0:
        raise DomainError("cycle.invalid_social_fund", "The social fund contribution cannot be negative")
    check_maximum("cycle.share_price_above_maximum", "Share price", share_price,
                  effective.share_price_max)
    check_maximum("cycle.social_fund_above_maximum", "Social fund contribution",
                  social_fund_contribution, effective.social_fund_max)
    fine_table: dict[str, int] = {}
    for name, amount in (fines or {}).items():
        if amount.currency != group.currency or amount.minor <= 0:
            raise DomainError("cycle.invalid_fine", f"Fine {name} must be a positive {group.currency} amount",
                              fine=name)
        check_maximum("cycle.fine_above_maximum", f"Fine {name}", amount, effective.fine_max)
        fine_table[str(name).strip().lower()] = amount.minor
    rule = check_schedule(schedule or group.schedule)
    dates = schedule_dates(rule, start_date, effective.cycle_weeks)
    if len(dates) < effective.cycle_weeks:
        raise DomainError("cycle.schedule_too_short", "The schedule ends before the cycle would",
                          weeks=effective.cycle_weeks)
    number = (session.scalar(select(func.max(Cycle.number)).where(Cycle.group_id == group.id)) or 0) + 1
    cycle = Cycle(
        group_id=group.id, number=number, status="open", start_date=start_date,
        planned_shareout_date=dates[-1], weeks=effective.cycle_weeks, schedule=rule,
        share_price=share_price.minor, social_fund_contribution=social_fund_contribution.minor,
        fines=fine_table, service_charge_bp=effective.service_charge_bp,
        charge_method=effective.charge_method, loan_term_months=effective.loan_term_months,
        policy=refinements,
    )
    session.add(cycle)
    session.flush()
    return cycle


def get_cycle(session: Session, group: Group, cycle_id: int) -> Cycle:
    cycle = session.get(Cycle, cycle_id)
    if cycle is None or cycle.group_id != group.id:
        raise NotFound("cycle.not_found", "No such cycle", cycle_id=cycle_id)
    return cycle


def require_open_cycle(session: Session, group: Group) -> Cycle:
    cycle = open_cycle(session, group.id)
    if cycle is None:
        raise no_open_cycle()
    return cycle


def no_open_cycle() -> DomainError:
    """cycle.none_open: business needs the group's open cycle."""
    return DomainError("cycle.none_open", "The group has no open cycle")

"""A group's constitution: the settings the group chooses for itself (share limits, service
charge, loan term, fines ceiling, quorum...), always within its programme's bounds, and refined
again by each cycle when it starts (share price, social fund, fines, service charge, term).

The policy in force at any moment is programme -> group -> open cycle (`groups.group_policy`).
A group may change its constitution mid-cycle only in ways that leave the open cycle's fixed
settings (share price, social fund, fines, service charge, loan term, length) inside it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from . import ledger
from .actors import Actor, can_manage
from .errors import DomainError
from .groups import get_group, open_cycle, update_group
from .models import Cycle, Group, Programme
from .policy import Policy, from_dict, refine, refinement_bounds


def check_refinements(session: Session, group: Group, programme: Programme,
                      refinements: dict[str, Any] | None) -> Policy:
    """The policy a group would have with these refinements; refused outside the programme's
    bounds or when the open cycle would no longer fit. Raises policy.unknown_setting,
    policy.out_of_range, policy.open_cycle_outside."""
    in_force = refine(from_dict(programme.policy), refinements)
    cycle = open_cycle(session, group.id)
    if cycle is not None:
        refine(in_force, cycle.policy)
        _check_open_cycle(in_force, cycle)
    return in_force


def _check_open_cycle(p: Policy, cycle: Cycle) -> None:
    fixed = [
        ("share_price_max", cycle.share_price, cycle.share_price <= p.share_price_max),
        ("social_fund_max", cycle.social_fund_contribution,
         cycle.social_fund_contribution <= p.social_fund_max),
        ("fine_max", max(cycle.fines.values(), default=0), max(cycle.fines.values(), default=0)
         <= p.fine_max),
        ("service_charge_bp", cycle.service_charge_bp,
         p.service_charge_min_bp <= cycle.service_charge_bp <= p.service_charge_max_bp),
        ("charge_method", cycle.charge_method, cycle.charge_method in p.charge_methods),
        ("loan_term_max_months", cycle.loan_term_months,
         cycle.loan_term_months <= p.loan_term_max_months),
        ("cycle_weeks", cycle.weeks, p.cycle_weeks_min <= cycle.weeks <= p.cycle_weeks_max),
    ]
    for setting, value, ok in fixed:
        if not ok:
            raise DomainError(
                "policy.open_cycle_outside",
                f"The open cycle's {setting.replace('_', ' ')} ({value}) would be outside the "
                "group's constitution; change it at the next cycle",
                setting=setting, value=value, cycle_id=cycle.id)


def policy_view(session: Session, actor: Actor, group: Group) -> dict[str, Any]:
    """The policy in force for the group, and where each part comes from: the programme's policy,
    the group's refinements, the open cycle's, and what the group may still choose.

    Everyone who reads the group (its members too: it is their constitution). Raises group.not_found.
    """
    get_group(session, actor, group.id)
    programme = session.get(Programme, group.programme_id)
    assert programme is not None
    base = from_dict(programme.policy)
    own = refine(base, group.policy)
    cycle = open_cycle(session, group.id)
    in_force = refine(own, cycle.policy) if cycle is not None else own
    return {"in_force": in_force.as_dict(), "programme": base.as_dict(),
            "group": dict(group.policy or {}), "cycle_id": cycle.id if cycle else None,
            "cycle": dict(cycle.policy or {}) if cycle else None,
            "group_may_choose": refinement_bounds(base)}


def change_constitution(session: Session, actor: Actor, group: Group,
                        changes: dict[str, Any]) -> Group:
    """Change some of the group's own settings (a value of None returns that setting to the
    programme's); the others stay. Admins of the programme and the group's treasurer (who records
    what the group decided). Raises permission.*, policy.*."""
    can_manage(actor, group)
    ledger.lock_group(session, group.id)
    merged = {**(group.policy or {}), **changes}
    merged = {k: v for k, v in merged.items() if v is not None}
    return update_group(session, actor, group, policy=merged)

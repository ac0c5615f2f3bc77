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
from .groups import get_group, open_cycle, update_group
from .models import Group, Programme
from .policy import from_dict, refine, refinement_bounds


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

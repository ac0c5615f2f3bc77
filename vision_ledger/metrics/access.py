"""Who may read measures: a programme's admins and auditors (and the service itself)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ..actors import Actor, refuse_operator
from ..errors import NotFound, PermissionDenied
from ..models import Group, Programme


def require_staff(actor: Actor, programme_id: int, group: Group | None = None) -> None:
    """Audit reads are for the programme's admins and auditors (and the service itself).

    Raises NotFound outside the actor's programme, PermissionDenied permission.staff_only for the
    group's own treasurer or members.
    """
    if actor.role == "system":
        return
    if actor.role in ("admin", "auditor") and actor.programme_id == programme_id:
        return
    if group is not None and actor.role in ("treasurer", "member") and actor.group_id == group.id:
        raise PermissionDenied("permission.staff_only", "Only programme staff may read this",
                               role=actor.role)
    if group is not None:
        raise NotFound("group.not_found", "No such group", group_id=group.id)
    refuse_operator(actor)  # sees the programme's record, never its books
    raise NotFound("programme.not_found", "No such programme", programme_id=programme_id)


def staff_group(session: Session, actor: Actor, group_id: int) -> Group:
    """The group, if the actor is staff of its programme. Raises group.not_found, permission.*."""
    group = session.get(Group, group_id)
    if group is None:
        raise NotFound("group.not_found", "No such group", group_id=group_id)
    require_staff(actor, group.programme_id, group)
    return group


def staff_programme(session: Session, actor: Actor, programme_id: int) -> Programme:
    """The programme, if the actor is its staff. Raises programme.not_found."""
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise NotFound("programme.not_found", "No such programme", programme_id=programme_id)
    require_staff(actor, programme_id)
    return programme

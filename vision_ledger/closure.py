"""Closing a group or a programme for good: the group has stopped meeting, the programme has ended.

A closed group takes no meetings and no entries (its books stay readable, `verify` still proves
them); a group of a closed programme is closed with it. The API door refuses every token scoped
to a closed group or programme. Closing is recorded as a time (`closed_at`) and is not undone.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from .actors import Actor, can_administer, can_operate
from .db import utcnow
from .errors import Conflict
from .models import Group, Programme


def closed(session: Session, group: Group) -> bool:
    """Whether the group, or its programme, is closed."""
    if group.closed_at is not None:
        return True
    programme = session.get(Programme, group.programme_id)
    return programme is not None and programme.closed_at is not None


def ensure_open(session: Session, group: Group) -> None:
    """Raises group.closed when the group or its programme is closed."""
    if closed(session, group):
        raise Conflict("group.closed", "This group is closed: it takes no meetings or entries",
                       group_id=group.id)


def close_group(session: Session, actor: Actor, group: Group) -> Group:
    """Close a group (its programme's admins). Raises group.already_closed, group.not_found,
    permission.read_only, permission.staff_only."""
    can_administer(actor, group)
    if group.closed_at is not None:
        raise Conflict("group.already_closed", "This group is already closed", group_id=group.id)
    group.closed_at = utcnow()
    session.flush()
    return group


def close_programme(session: Session, actor: Actor, programme: Programme) -> Programme:
    """Close a programme and so every group of it (operators). Raises programme.already_closed,
    permission.operator_only."""
    can_operate(actor)
    if programme.closed_at is not None:
        raise Conflict("programme.already_closed", "This programme is already closed",
                       programme_id=programme.id)
    programme.closed_at = utcnow()
    session.flush()
    return programme

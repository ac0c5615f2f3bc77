"""The outbox: messages (receipts, statements, notices) written in the caller's transaction, so a
message goes out if and only if what it reports was committed; the SMS worker sends them later.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from ..db import utcnow
from ..models import Group, Member, OutboxMessage
from .journal import canonical

_members = Member.__table__
_MEMBER_CONTACT = select(_members.c.phone, _members.c.language, _members.c.name,
                         _members.c.number).where(_members.c.id == bindparam("mid"))
_INSERT_OUTBOX = insert(OutboxMessage)


class _HasId(Protocol):
    @property
    def id(self) -> int: ...


def queue_message(
    session: Session,
    group: Group | None,
    member_id: int | None,
    kind: str,
    *,
    payload: dict[str, Any],
    entry: _HasId | None = None,
    phone: str | None = None,
    language: str | None = None,
) -> None:
    """Write an outbox row in the caller's transaction; the SMS worker sends it later.

    `entry` (an Entry or what post() returned) is the entry the message reports, if any.
    """
    contact = None
    if member_id is not None:
        contact = session.connection().execute(_MEMBER_CONTACT, {"mid": member_id}).first()
        assert contact is not None
    row = outbox_row(group, member_id, kind, contact, payload, phone=phone, language=language)
    row["entry_id"] = entry.id if entry is not None else None
    session.connection().execute(_INSERT_OUTBOX, row)


def outbox_row(group: Group | None, member_id: int | None, kind: str, contact: Any,
               payload: dict[str, Any], *, phone: str | None = None,
               language: str | None = None) -> dict[str, Any]:
    """An outbox row's values; `contact` is the member's (phone, language, name, number)."""
    if contact is not None:
        phone = phone or contact[0]
        language = language or contact[1]
        payload = {"member": contact[2], "member_number": contact[3], **payload}
    if group is not None:
        payload = {"group": group.name, "currency": group.currency, "locale": group.locale,
                   **payload}
    now = utcnow()
    return dict(
        group_id=group.id if group is not None else None, member_id=member_id, entry_id=None,
        phone=phone, language=language or (group.language if group is not None else "en"),
        kind=kind, payload=json.loads(canonical(payload)), status="pending", attempts=0,
        next_attempt_at=now, created_at=now, updated_at=now,
    )

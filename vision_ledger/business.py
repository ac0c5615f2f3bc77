"""Meeting business: what every money-moving operation starts from (the locked group, its open
meeting and cycle, the policy in force, a replayed entry), and the group's own today.

Below `meetings`, `loans`, `savings`, `shareout` and `statements`, so that each of them can start
its business without importing the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import ledger
from .actors import Actor, can_record
from .cycles import require_open_cycle
from .db import utcnow
from .errors import DomainError
from .groups import group_policy
from .models import Group, Meeting
from .money import Money


def local_today(group: Group, now: datetime | None = None) -> date:
    """Today's date where the group meets."""
    return (now or utcnow()).astimezone(ZoneInfo(group.timezone)).date()


def current_meeting(session: Session, group_id: int) -> Meeting | None:
    return session.scalars(
        select(Meeting).where(Meeting.group_id == group_id, Meeting.status == "open")
    ).first()


def require_open_meeting(session: Session, group: Group) -> Meeting:
    """The open meeting; money moves nowhere else. Raises meeting.not_open."""
    meeting = current_meeting(session, group.id)
    if meeting is None:
        raise DomainError("meeting.not_open",
                          "Money moves only at an open meeting; open the meeting first")
    return meeting


class Business:
    """What every piece of meeting business starts from: the locked group, its open meeting and
    cycle, the policy in force, and the entry an earlier identical request made (a replay)."""

    def __init__(self, session: Session, actor: Actor, group: Group, key: str | None,
                 request: dict[str, Any], *, needs_meeting: bool = True) -> None:
        can_record(actor, group)
        self.session = session
        self.actor = actor
        self.group = ledger.lock_group(session, group.id)
        self.key = key
        self.request = request
        self.replay = ledger.find_replay(session, group.id, key, request)
        self.meeting: Meeting | None = None
        if self.replay is None:
            self.meeting = require_open_meeting(session, self.group) if needs_meeting else \
                current_meeting(session, self.group.id)
        self.cycle = require_open_cycle(session, self.group) if self.replay is None else None
        if self.meeting is not None and self.cycle is not None and self.meeting.cycle_id != self.cycle.id:
            # The share-out closed the meeting's cycle and a new one was started: the new cycle's
            # business (its share price, its loans) belongs to its own first meeting.
            raise DomainError("meeting.other_cycle",
                              "This meeting belongs to the previous cycle; close it and open a new one")
        self.policy = group_policy(session, self.group, self.cycle) if self.cycle else None

    def money(self, minor: int) -> Money:
        return Money(minor, self.group.currency)

    def post(self, *, kind: str, lines: Sequence[ledger.Line], member_id: int | None = None,
             loan_id: int | None = None, memo: str | None = None,
             details: dict[str, Any] | None = None,
             receipt: dict[str, Any] | None = None) -> ledger.Posted:
        """`ledger.post` of this business's entry: the request, its key, the meeting's date (the
        group's today without one), meeting and cycle come from the business; the rest is the
        operation's own. Raises what `ledger.post` raises."""
        meeting = self.meeting
        return ledger.post(
            self.session, self.group, self.actor, kind=kind, lines=lines, request=self.request,
            idempotency_key=self.key,
            effective_date=meeting.date if meeting else local_today(self.group),
            member_id=member_id, meeting_id=meeting.id if meeting else None,
            cycle_id=self.cycle.id if self.cycle else None, loan_id=loan_id, memo=memo,
            details=details, receipt=receipt,
        )

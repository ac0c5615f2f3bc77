"""Meeting business: what every money-moving operation starts from (the locked group, its open
meeting and cycle, the policy in force, a replayed entry), and the group's own today.

Below `meetings`, `loans`, `savings`, `shareout` and `statements`, so that each of them can start
its business without importing the others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from . import ledger
from .actors import Actor, can_record
from .cycles import no_open_cycle
from .db import utcnow
from .errors import DomainError
from .groups import policy_in_force
from .ledger.driver import read_one
from .models import Cycle, Entry, Group, Meeting, Programme
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
        raise _not_open()
    return meeting


def _not_open() -> DomainError:
    return DomainError("meeting.not_open", "Money moves only at an open meeting; open the meeting first")


@dataclass(frozen=True, slots=True)
class OpenMeeting:
    """The open meeting as business reads it: which it is, its cycle and its date."""

    id: int
    cycle_id: int
    date: date


@dataclass(frozen=True, slots=True)
class OpenCycle:
    """The open cycle's terms as business reads them; not an ORM object (`session.get(Cycle,
    cycle.id)` loads one for a caller that changes the cycle)."""

    id: int
    share_price: int
    social_fund_contribution: int
    fines: dict[str, int]
    service_charge_bp: int
    charge_method: str
    loan_term_months: int
    planned_shareout_date: date
    policy: dict[str, Any]


# Everything the business starts from after the lock, in one statement built once (bound per
# call): the open meeting, the open cycle's terms, the programme's policy and the entry the
# idempotency key already made. Each was its own ORM query (five round trips, and each ORM
# select rebuilt in Python on every call); an outer join finds each by its index or yields NULLs.
_g, _m, _c, _p, _e = (Group.__table__, Meeting.__table__, Cycle.__table__, Programme.__table__,
                      Entry.__table__)
_MEETING_COLUMNS = (_m.c.id, _m.c.cycle_id, _m.c.date)
_CYCLE_COLUMNS = tuple(_c.c[name] for name in OpenCycle.__dataclass_fields__)
_BUSINESS = (
    select(*(c.label(f"m_{c.key}") for c in _MEETING_COLUMNS),
           *(c.label(f"c_{c.key}") for c in _CYCLE_COLUMNS),
           _p.c.policy.label("programme_policy"),
           _e.c.id.label("replay_id"), _e.c.fingerprint.label("replay_fingerprint"),
           _e.c.seq.label("replay_seq"))
    .select_from(
        _g.join(_p, _p.c.id == _g.c.programme_id)
        .outerjoin(_m, and_(_m.c.group_id == _g.c.id, _m.c.status == "open"))
        .outerjoin(_c, and_(_c.c.group_id == _g.c.id, _c.c.status == "open"))
        .outerjoin(_e, and_(_e.c.group_id == _g.c.id, _e.c.idempotency_key == bindparam("key"))))
    .where(_g.c.id == bindparam("gid"))
)


class Business:
    """What every piece of meeting business starts from: the locked group, its open meeting and
    cycle, the policy in force, and the entry an earlier identical request made (a replay).

    Raises what `ledger.lock_group` and `can_record` raise, idempotency.key_reused, and (when
    there is no replay) meeting.not_open, cycle.none_open, meeting.other_cycle."""

    def __init__(self, session: Session, actor: Actor, group: Group, key: str | None,
                 request: dict[str, Any], *, needs_meeting: bool = True) -> None:
        can_record(actor, group)
        self.session = session
        self.actor = actor
        self.group = ledger.lock_group(session, group.id)
        self.key = key
        self.request = request
        # One row on the connection (no ORM result machinery, no autoflush; on SQLite straight
        # to the driver): what the caller changed is flushed first, as an ORM query would (a
        # second lock_group in a transaction runs none).
        session.flush()
        (m_id, m_cycle_id, m_date, *cycle, programme_policy, replay_id, replay_fingerprint,
         replay_seq) = read_one(session.connection(), _BUSINESS, {"gid": self.group.id, "key": key})
        self.replay = ledger.replay_of(
            session, key, request, (replay_id, replay_fingerprint, replay_seq),
        ) if key and replay_id is not None else None
        self.meeting: OpenMeeting | None = None
        self.cycle: OpenCycle | None = None
        self.policy = None
        if self.replay is not None:
            return
        if m_id is not None:
            self.meeting = OpenMeeting(m_id, m_cycle_id, m_date)
        elif needs_meeting:
            raise _not_open()
        if cycle[0] is None:
            raise no_open_cycle()
        self.cycle = OpenCycle(*cycle)
        if self.meeting is not None and self.meeting.cycle_id != self.cycle.id:
            # The share-out closed the meeting's cycle and a new one was started: the new cycle's
            # business (its share price, its loans) belongs to its own first meeting.
            raise DomainError("meeting.other_cycle",
                              "This meeting belongs to the previous cycle; close it and open a new one")
        self.policy = policy_in_force(programme_policy, self.group.policy, self.cycle.policy)

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

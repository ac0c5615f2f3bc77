"""The measures staff read: a group's (for a cycle or a date range) and a programme's roll-up."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..actors import Actor
from ..errors import DomainError, NotFound
from ..groups import group_policy
from ..meetings import local_today
from ..models import Cycle, Group, Meeting
from ..policy import from_dict
from .access import staff_group, staff_programme
from .compute import compute
from .measures import ROS_BAND, SEGMENTS, Facts, GroupMeasures, Measures, ProgrammeMeasures


def cycle_period(session: Session, group: Group, cycle: Cycle) -> tuple[date, date]:
    """A cycle runs from its start date to its last meeting when closed, else to today."""
    if cycle.status == "closed":
        last = session.scalar(select(func.max(Meeting.date)).where(Meeting.cycle_id == cycle.id))
        return cycle.start_date, last or cycle.planned_shareout_date
    today = local_today(group)
    return cycle.start_date, max(cycle.start_date, min(today, cycle.planned_shareout_date))


def group_measures(session: Session, actor: Actor, group_id: int, *, cycle_id: int | None = None,
                   start: date | None = None, end: date | None = None) -> GroupMeasures:
    """The group's measures for a cycle (default: the open or latest one) or a date range.

    Raises group.not_found, permission.staff_only, cycle.not_found, measures.invalid_period,
    measures.no_period.
    """
    group = staff_group(session, actor, group_id)
    cycle = None
    if start is None or end is None:
        stmt = select(Cycle).where(Cycle.group_id == group.id)
        stmt = stmt.where(Cycle.id == cycle_id) if cycle_id is not None else \
            stmt.order_by(Cycle.number.desc()).limit(1)
        cycle = session.scalars(stmt).first()
        if cycle is None:
            if cycle_id is not None:
                raise NotFound("cycle.not_found", "No such cycle", cycle_id=cycle_id)
            if start is None and end is None:
                raise DomainError("measures.no_period", "The group has no cycle: give from and to")
        cycle_start, cycle_end = cycle_period(session, group, cycle) if cycle else (start, end)
        start, end = start or cycle_start, end or cycle_end
    assert start is not None and end is not None
    policy = group_policy(session, group)
    scope = select(Group.id).where(Group.id == group.id)
    [measures] = compute(session, scope, start, end, policy.youth_age_max,
                         cycle_ids={group.id: cycle.id} if cycle else None)
    return measures


def programme_measures(session: Session, actor: Actor, programme_id: int, *, start: date | None = None,
                       end: date | None = None, region: str | None = None,
                       per_group: bool = False) -> ProgrammeMeasures:
    """The programme's (or one region's) measures over a period: by default the 52 weeks to today.

    Raises programme.not_found, measures.invalid_period.
    """
    programme = staff_programme(session, actor, programme_id)
    end = end or date.today()  # noqa: DTZ011 - a programme spans time zones; its staff's today
    start = start or end - timedelta(weeks=52) + timedelta(days=1)
    scope = select(Group.id).where(Group.programme_id == programme.id)
    if region is not None:
        scope = scope.where(Group.region == region)
    policy = from_dict(programme.policy)
    rows = compute(session, scope, start, end, policy.youth_age_max)
    total = Facts()
    segments = {s: Facts() for s in SEGMENTS}
    outside = 0
    for g in rows:
        total.add(g.measures.facts)
        for s in SEGMENTS:
            segments[s].add(g.segments[s].facts)
        ros = g.measures.return_on_savings
        if ros is not None and not ROS_BAND[0] <= ros <= ROS_BAND[1]:
            outside += 1
    days = (end - start).days + 1
    return ProgrammeMeasures(
        programme_id=programme.id, region=region, start=start, end=end, groups=len(rows),
        measures=Measures(programme.currency, days, total),
        segments={s: Measures(programme.currency, days, segments[s], whole_group=False)
                  for s in SEGMENTS},
        groups_ros_outside_band=outside, per_group=rows if per_group else [],
    )


__all__ = ["cycle_period", "group_measures", "programme_measures"]

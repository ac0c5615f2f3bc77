"""The actuals of the built-in measures (vision_ledger.indicators.MEASURES) over one programme and
one period, each with its breakdown, read from the ledger and the registers, never typed in.

Each measure is one set-based query over the programme's groups: the value per member (measures
of members) or per group (measures of groups), then summed over the categories a breakdown asks
for. Return on savings is metrics' own (`metrics.compute`), pooled over groups. The measures of a
state ("to date": members reached, groups formed, active, completed a cycle) are read at `as_of`,
the period's end or today if that is earlier; the flows (savings, loans, share-outs) are those
dated from the period's start to `as_of`.

Breakdown categories: gender:female|male|other|not_recorded, youth:yes|no (age in the year of
`as_of` at most the programme's youth_age_max; no birth year is "no", as in metrics),
disability:yes|no, region:<the group's region>|not_recorded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from . import metrics, purposes
from .indicators import Measure, Period
from .models import (
    Account,
    Attendance,
    Cycle,
    Entry,
    Group,
    Loan,
    Meeting,
    Member,
    Posting,
    Programme,
    ShareOut,
    ShareOutPayout,
)
from .policy import from_dict

ACTIVE_WEEKS = 4  # a group is active when it met in the last 4 weeks
GENDERS = ("female", "male", "other")
NONE = "not_recorded"


@dataclass
class Actual:
    total: int | Decimal | None
    breakdown: dict[str, int | Decimal | None]


class Scope:
    """A programme over a period: its groups and members with their breakdown categories."""

    def __init__(self, session: Session, programme: Programme, period: Period, today: date) -> None:
        self.session = session
        self.programme = programme
        self.period = period
        self.start = period.start
        self.as_of = max(period.start, min(period.end, today))
        self.groups = select(Group.id).where(Group.programme_id == programme.id)
        youth_max = from_dict(programme.policy).youth_age_max
        self.youth_age_max = youth_max
        self.region_of = {gid: f"region:{region or NONE}" for gid, region in session.execute(
            select(Group.id, Group.region).where(Group.programme_id == programme.id))}
        self.member_keys: dict[int, tuple[str, ...]] = {}
        for m in session.execute(select(Member.id, Member.group_id, Member.gender, Member.birth_year,
                                        Member.disability).where(Member.group_id.in_(self.groups))):
            young = m.birth_year is not None and self.as_of.year - m.birth_year <= youth_max
            gender = m.gender if m.gender in GENDERS else NONE
            self.member_keys[m.id] = (f"gender:{gender}", f"youth:{'yes' if young else 'no'}",
                                      f"disability:{'yes' if m.disability else 'no'}",
                                      self.region_of[m.group_id])

    def categories(self, dimension: str) -> list[str]:
        """Every category of a breakdown, in report order (regions of the programme's groups)."""
        if dimension == "gender":
            return [f"gender:{g}" for g in (*GENDERS, NONE)]
        if dimension in ("youth", "disability"):
            return [f"{dimension}:yes", f"{dimension}:no"]
        return sorted(set(self.region_of.values()), key=lambda k: (k == f"region:{NONE}", k))


# --- the queries: a value per member or per group --------------------------------------------------


def _reached(s: Scope, _: list[str]) -> dict[int, int]:
    return {mid: 1 for mid in s.session.scalars(select(Member.id).where(
        Member.group_id.in_(s.groups), Member.joined_on <= s.as_of))}


def _active_members(s: Scope, _: list[str]) -> dict[int, int]:
    on_register = and_(Member.joined_on <= s.as_of, or_(Member.left_on.is_(None), Member.left_on > s.as_of))
    return {mid: 1 for mid in s.session.scalars(
        select(Attendance.member_id).distinct()
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .join(Member, Member.id == Attendance.member_id)
        .where(Attendance.group_id.in_(s.groups), Attendance.present.is_(True),
               Meeting.date >= s.start, Meeting.date <= s.as_of, on_register))}


def _formed(s: Scope, _: list[str]) -> dict[int, int]:
    return {gid: 1 for gid in s.session.scalars(
        select(Cycle.group_id).where(Cycle.group_id.in_(s.groups)).group_by(Cycle.group_id)
        .having(func.min(Cycle.start_date) <= s.as_of))}


def _active_groups(s: Scope, _: list[str]) -> dict[int, int]:
    since = s.as_of - timedelta(weeks=ACTIVE_WEEKS) + timedelta(days=1)
    return {gid: 1 for gid in s.session.scalars(
        select(Meeting.group_id).distinct().where(Meeting.group_id.in_(s.groups), Meeting.date >= since,
                                                 Meeting.date <= s.as_of))}


def _completed(s: Scope, _: list[str]) -> dict[int, int]:
    return {gid: 1 for gid in s.session.scalars(
        select(ShareOut.group_id).distinct().join(Meeting, Meeting.id == ShareOut.meeting_id)
        .where(ShareOut.group_id.in_(s.groups), Meeting.date <= s.as_of))}


def _savings(s: Scope, _: list[str]) -> dict[int, int]:
    # A reversal counts (negatively) as the kind it reverses, as in metrics.
    kind = case((Entry.kind == "reversal", Entry.details["reversed_kind"].as_string()), else_=Entry.kind)
    rows = s.session.execute(
        select(Account.member_id, func.sum(-Posting.amount))
        .select_from(Posting)
        .join(Account, and_(Account.id == Posting.account_id, Account.code == "member_shares"))
        .join(Entry, Entry.id == Posting.entry_id)
        .where(Entry.group_id.in_(s.groups), kind == "share_purchase",
               Entry.effective_date >= s.start, Entry.effective_date <= s.as_of)
        .group_by(Account.member_id))
    return {mid: int(total) for mid, total in rows if mid is not None}


def _issued(s: Scope, codes: list[str]) -> Any:
    """Loans issued in the period (reversed loans are cancelled), of the given purposes."""
    where = [Loan.group_id.in_(s.groups), Loan.status != "cancelled", Loan.issued_on >= s.start,
             Loan.issued_on <= s.as_of]
    if codes:
        named = [c for c in codes if c != purposes.NOT_RECORDED]
        where.append(or_(Loan.purpose.in_(named), Loan.purpose.is_(None))
                     if purposes.NOT_RECORDED in codes else Loan.purpose.in_(named))
    return and_(*where)


def _loans_count(s: Scope, codes: list[str]) -> dict[int, int]:
    return {mid: int(n) for mid, n in s.session.execute(
        select(Loan.member_id, func.count()).where(_issued(s, codes)).group_by(Loan.member_id))}


def _loans_value(s: Scope, codes: list[str]) -> dict[int, int]:
    return {mid: int(v) for mid, v in s.session.execute(
        select(Loan.member_id, func.sum(Loan.principal)).where(_issued(s, codes)).group_by(Loan.member_id))}


def _business_borrowers(s: Scope, _: list[str]) -> dict[int, int]:
    business = [p.code for p in purposes.programme_purposes(s.session, s.programme.id, include_inactive=True)
                if p.business]
    if not business:
        return {}
    borrowers = select(Loan.member_id).distinct().where(_issued(s, business))
    return {mid: 1 for mid in s.session.scalars(borrowers)}


def _share_outs(s: Scope, _: list[str]) -> dict[int, int]:
    return {mid: int(v) for mid, v in s.session.execute(
        select(ShareOutPayout.member_id, func.sum(ShareOutPayout.payout))
        .join(ShareOut, ShareOut.id == ShareOutPayout.share_out_id)
        .join(Meeting, Meeting.id == ShareOut.meeting_id)
        .where(ShareOut.group_id.in_(s.groups), Meeting.date >= s.start, Meeting.date <= s.as_of)
        .group_by(ShareOutPayout.member_id))}


QUERIES = {
    "members_reached": _reached, "members_active": _active_members, "groups_formed": _formed,
    "groups_active": _active_groups, "groups_completed_cycle": _completed,
    "savings_mobilised": _savings, "loans_disbursed_count": _loans_count,
    "loans_disbursed_value": _loans_value, "members_business_loan": _business_borrowers,
    "share_out_value": _share_outs,
}


# --- summing over the breakdown ------------------------------------------------------------------


def _sum(s: Scope, values: dict[int, int], keys: dict[int, tuple[str, ...]], dimensions: list[str]
         ) -> Actual:
    sums: dict[str, int] = defaultdict(int)
    for owner, value in values.items():
        for key in keys.get(owner, ()):
            sums[key] += value
    breakdown: dict[str, int | Decimal | None] = {}
    for dimension in dimensions:
        for key in s.categories(dimension):
            breakdown[key] = sums.get(key, 0)
    return Actual(sum(values.values()), breakdown)


def _return_on_savings(s: Scope, dimensions: list[str]) -> Actual:
    rows = metrics.compute(s.session, s.groups, s.start, s.as_of, s.youth_age_max)
    days = (s.as_of - s.start).days + 1
    pooled: dict[str, metrics.Facts] = defaultdict(metrics.Facts)
    total = metrics.Facts()
    for row in rows:
        total.add(row.measures.facts)
        pooled[s.region_of[row.group_id]].add(row.measures.facts)
    currency = s.programme.currency
    breakdown: dict[str, int | Decimal | None] = {}
    if "region" in dimensions:
        for key in s.categories("region"):
            breakdown[key] = metrics.Measures(currency, days, pooled[key]).return_on_savings
    return Actual(metrics.Measures(currency, days, total).return_on_savings, breakdown)


def actual(scope: Scope, measure: Measure, codes: list[str], dimensions: list[str]) -> Actual:
    """The measure's actual over the scope, with the categories of the breakdowns asked for."""
    if measure.code == "return_on_savings":
        return _return_on_savings(scope, dimensions)
    values = QUERIES[measure.code](scope, codes)
    keys: dict[int, tuple[str, ...]]
    if measure.level == "group":
        keys = {gid: (region,) for gid, region in scope.region_of.items()}
    else:
        keys = scope.member_keys
    return _sum(scope, values, keys, dimensions)

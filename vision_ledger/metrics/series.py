"""A programme's measures over consecutive periods (a chart's weeks or months) in one pass.

`programme_measures` once per period reads every stored total up to that period's end again: a
dashboard of 12 points costs 12 roll-ups. `series` reads the stored totals (and the tail no
refresh has folded yet) once, summed per period: a row of period k goes to bucket k, and bucket -1
holds the balances on the eve of the first period, read as the members' positions less what lies
after that eve (`metrics.spans`), so history before the chart costs a few rows a member. A balance
at the end of period k is the sum of buckets -1..k (less that day's share-out, as `compute` reads
it), a flow of period k is bucket k alone. The figures are those of
`programme_measures(start=a, end=b)` for each period (a, b): tests/core/test_series.py compares
them on the demo and on random histories.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Date, and_, bindparam, case, func, literal, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from ..actors import Actor
from ..errors import DomainError
from ..models import Group, Loan, Member
from ..money import Money
from . import spans as span_rows
from .access import staff_programme
from .among import among
from .compute import for_aggregates, original_due
from .fold import MEMBER_SUMS, Range, member_rows, stale_groups, stored_and_tail
from .measures import _ratio
from .tables import LoanDayTotal, MemberDayTotal

SERIES_MEASURES = ("members", "savings", "loans_outstanding", "attendance_rate", "portfolio_at_risk_1")


@dataclass(frozen=True)
class SeriesPoint:
    """The chart's measures of one period, as `Measures.as_dict()` gives them."""

    start: date
    end: date
    members: int
    savings: Money
    loans_outstanding: Money
    attendance_rate: Decimal | None
    portfolio_at_risk_1: Decimal | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SERIES_MEASURES}


def series(session: Session, actor: Actor, programme_id: int,
           spans: Sequence[tuple[date, date]]) -> list[SeriesPoint]:
    """Members, savings, loans outstanding, attendance rate and PAR (1 day) of the programme for
    each of `spans`: consecutive periods, oldest first, each starting the day after the last ends.

    Raises programme.not_found, measures.invalid_period.
    """
    programme = staff_programme(session, actor, programme_id)
    if not spans:
        return []
    for (a, b), (c, _) in itertools.pairwise(spans):
        if b < a or c != b + timedelta(days=1):
            raise DomainError("measures.invalid_period", "The periods of a series follow each other",
                              start=c, end=b)
    if spans[-1][1] < spans[-1][0]:
        raise DomainError("measures.invalid_period", "The period ends before it starts",
                          start=spans[-1][0], end=spans[-1][1])
    ids = list(session.scalars(select(Group.id).where(Group.programme_id == programme.id)))
    stale = stale_groups(session, ids)
    ends = [b for _, b in spans]
    params: dict[str, Any] = {"ids": ids, "stale": stale, "first": spans[0][0], "last": ends[-1],
                              **{f"e{k}": e for k, e in enumerate(ends)}}
    conn = session.connection()  # rows as the driver gives them: no ORM loading
    for_aggregates(conn, len(ids))
    n = len(spans)

    # The members' rows: balances by bucket, that of an end day's share-out apart. What lies before
    # the first period is read as the positions less what lies after its eve (bucket -1), so the
    # series costs the rows of its periods, not of the history before them.
    eve = spans[0][0] - timedelta(days=1)
    params.update(span_rows.after("f", eve), f_eve=eve)
    r = _member_rows(bool(stale))
    bucket = _bucket(r.c.day, n)
    end_day = r.c.day.in_([bindparam(f"e{k}", type_=Date) for k in range(n)])
    sums: dict[int, list[int]] = defaultdict(lambda: [0] * 6)
    stmt = (select(bucket.label("bucket"), func.sum(r.c.shares), func.sum(r.c.receivable),
                   func.sum(r.c.present), func.sum(r.c.attendance_rows),
                   func.sum(case((end_day, r.c.shares_share_out), else_=0)),
                   func.sum(case((end_day, r.c.receivable_share_out), else_=0)))
            .where(r.c.day <= bindparam("last", type_=Date)).group_by(bucket))
    for row in conn.execute(stmt, params).all():
        sums[int(row[0])] = [int(v or 0) for v in row[1:]]

    # The register: who is on it at each end (joined by then, not left by then).
    register = conn.execute(select(Member.joined_on, Member.left_on, func.count())
                            .where(among(Member.group_id))
                            .group_by(Member.joined_on, Member.left_on), params).all()

    # The loans' balances by bucket, per loan issue and due date (the risk depends on both).
    lr = stored_and_tail(LoanDayTotal, tail=bool(stale))
    due = original_due(session.get_bind().dialect.name)
    lbucket = _bucket(lr.c.day, n)
    loans = conn.execute(
        select(Loan.issued_on, due.label("due"), lbucket.label("bucket"), func.sum(lr.c.outstanding))
        .select_from(Loan).join(lr, and_(lr.c.loan_id == Loan.id, lr.c.group_id == Loan.group_id))
        .where(among(Loan.group_id), Loan.status != "cancelled",
               lr.c.day <= bindparam("last", type_=Date))
        .group_by(Loan.issued_on, due, lbucket), params).all()

    points = []
    shares = receivable = 0
    opening = sums.get(-1, [0] * 6)
    shares, receivable = opening[0], opening[1]
    for k, (a, b) in enumerate(spans):
        s = sums.get(k, [0] * 6)
        shares, receivable = shares + s[0], receivable + s[1]
        members = sum(count for joined, left, count in register
                      if _day(joined) <= b and (left is None or _day(left) > b))
        par1 = sum(int(v or 0) for issued, due_on, bk, v in loans
                   if int(bk) <= k and _day(issued) <= b and _day(due_on) <= b - timedelta(days=1))
        outstanding = receivable - s[5]
        points.append(SeriesPoint(
            start=a, end=b, members=members, savings=Money(-(shares - s[4]), programme.currency),
            loans_outstanding=Money(outstanding, programme.currency),
            attendance_rate=_ratio(s[2], s[3]), portfolio_at_risk_1=_ratio(par1, outstanding)))
    return points


@cache
def _member_rows(tail: bool) -> Any:
    """(day, *MEMBER_SUMS) of the groups `:ids`: an opening row a member dated before `:first`
    (her balances then), the stored day rows from `:first` on, and with `tail` the unfolded tail."""
    opening = union_all(*span_rows.balance_rows("f")).subquery()
    zero, d = literal(0), MemberDayTotal
    parts: list[Any] = [
        select(bindparam("f_eve", type_=Date).label("day"), opening.c.shares, zero.label("shares_share_out"),
               opening.c.receivable, zero.label("receivable_share_out"), zero.label("present"),
               zero.label("attendance_rows")),
        select(d.day, *(getattr(d, n) for n in MEMBER_SUMS))
        .where(among(d.group_id), d.day >= bindparam("first", type_=Date))]
    if tail:
        t = member_rows(Range(bindparam("stale", expanding=True), "tail")).subquery()
        parts.append(select(t.c.day, *(t.c[n] for n in MEMBER_SUMS)))
    return union_all(*parts).subquery()


def _bucket(day: Any, n: int) -> ColumnElement[int]:
    """-1 before the first period, k in period k (the periods follow each other)."""
    return case((day < bindparam("first", type_=Date), -1),
                *[(day <= bindparam(f"e{k}", type_=Date), k) for k in range(n)], else_=n)


def _day(value: Any) -> date:
    """A date the database computed (SQLite answers text for a computed date)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


__all__ = ["SERIES_MEASURES", "SeriesPoint", "series"]

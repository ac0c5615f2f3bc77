"""Members' sums per month, per year and in all (their position): kept from the day rows, read at
a cost that does not grow with a member's history.

A member's balance at the end of a day X is her position less what lies *after* X, and a flow
over a period (a, b) is what lies after a - 1 less what lies after b. "After X" is at most three
ranges of rows: her day rows from X + 1 to the end of X's month, her month rows from the next
month to the end of X's year, and her year rows after that. For a period ending today the second
"after" is empty, and the first is at most a month of day rows, eleven month rows and the years
since the period started: a year's roll-up reads about 15 rows a member instead of one a meeting,
and a group with 44 years of history costs what a young one costs plus one row a year.

`rebuild` recomputes the span rows of the months a refresh touched (and their years, and the
positions) from the day rows, in the refresh's transaction; `expected` derives them from day rows
in Python, which `verify_totals` compares with the stored ones.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Date, and_, bindparam, case, cast, func, literal, literal_column, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from ..models import Entry, Meeting
from .among import among
from .tables import MemberDayTotal, MemberSpanTotal

POSITION = date(1, 1, 1)  # the `start` of a position row (span "all")
SPAN_SUMS = ("shares", "receivable", "present", "attendance_rows")
KEY = ("group_id", "member_id", "span", "start")


def _month(d: date) -> date:
    return d.replace(day=1)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def after(name: str, x: date) -> dict[str, date]:
    """The bounds of the rows after the day x, as parameters `{name}_d0` .. `{name}_y0`: day rows
    in [d0, d1], month rows from m0 to before y0, year rows from y0, less day rows in [n0, n1].

    The rest of x's month is read from whichever side of x has fewer days that can hold rows (none
    lie after tomorrow, whatever the time zone): its day rows after x, or its month row less its
    day rows up to x (an empty range is given as (x + 1, x)). Either is exact; this is the cheaper."""
    year = date(x.year + 1, 1, 1)
    month = _next_month(x)
    none = {"d0": x + timedelta(days=1), "d1": x}
    latest = min(month - timedelta(days=1), date.today() + timedelta(days=1))  # noqa: DTZ011 - a bound
    if (latest - x).days <= x.day:
        bounds = {"d0": x + timedelta(days=1), "d1": month - timedelta(days=1), "m0": month,
                  "n0": none["d0"], "n1": none["d1"]}
    else:
        bounds = {**none, "m0": _month(x), "n0": _month(x), "n1": x}
    return {f"{name}_{k}": v for k, v in {**bounds, "y0": year}.items()}


def params(start: date, end: date) -> dict[str, date]:
    """The parameters of `member_statement` for the period (start, end)."""
    return {**after("e", end), **after("s", start - timedelta(days=1))}


def _after_rows(name: str, balances: int, flows: int) -> list[Select[Any]]:
    """The rows after `name`'s day, each sum signed: balances times `balances`, flows times `flows`."""
    def p(suffix: str) -> Any:
        return bindparam(f"{name}_{suffix}", type_=Date)

    def signed(table: Any) -> list[ColumnElement[Any]]:
        return [(table.shares * balances).label("shares"), (table.receivable * balances).label("receivable"),
                (table.present * flows).label("present"),
                (table.attendance_rows * flows).label("attendance_rows")]

    def less(table: Any) -> list[ColumnElement[Any]]:
        return [(c * -1).label(c.key) for c in signed(table)]

    d, s = MemberDayTotal, MemberSpanTotal
    return [
        select(d.member_id, *signed(d)).where(among(d.group_id), d.day >= p("d0"), d.day <= p("d1")),
        select(d.member_id, *less(d)).where(among(d.group_id), d.day >= p("n0"), d.day <= p("n1")),
        select(s.member_id, *signed(s)).where(among(s.group_id), s.span == "month", s.start >= p("m0"),
                                              s.start < p("y0")),
        select(s.member_id, *signed(s)).where(among(s.group_id), s.span == "year", s.start >= p("y0")),
    ]


def balance_rows(name: str, flows: int = 0) -> list[Select[Any]]:
    """Each member's balances at the end of `name`'s day (her position less the rows after it) as
    rows (member_id, shares, receivable, present, attendance_rows); the flows are those of the
    rows after it times `flows` (0: none)."""
    s, zero = MemberSpanTotal, literal(0)
    position: Any = select(s.member_id, s.shares, s.receivable, zero.label("present"),
                           zero.label("attendance_rows")).where(among(s.group_id), s.span == "all")
    return [position, *_after_rows(name, -1, flows)]


def member_statement(tail_rows: Any = None) -> Select[Any]:
    """Per member of the groups `:ids`: shares and loan balance at the end of the period (before
    a share-out dated on its last day), attendance rows and those present in it; with `tail_rows`
    (the fold of the tail: day rows no refresh has folded yet), those added."""
    start, end = bindparam("start", type_=Date), bindparam("end", type_=Date)
    d, zero = MemberDayTotal, literal(0)
    share_out: Any = select(
        d.member_id, (-d.shares_share_out).label("shares"), (-d.receivable_share_out).label("receivable"),
        zero.label("present"), zero.label("attendance_rows")).where(among(d.group_id), d.day == end)
    parts: list[Any] = [*balance_rows("e", flows=-1), *_after_rows("s", 0, 1), share_out]
    if tail_rows is not None:
        t = tail_rows
        dated, in_period, closing = t.c.day <= end, and_(t.c.day >= start, t.c.day <= end), t.c.day == end

        def when(condition: ColumnElement[bool], value: Any) -> ColumnElement[Any]:
            return case((condition, value), else_=0)

        parts.append(select(
            t.c.member_id,
            (when(dated, t.c.shares) - when(closing, t.c.shares_share_out)).label("shares"),
            (when(dated, t.c.receivable) - when(closing, t.c.receivable_share_out)).label("receivable"),
            when(in_period, t.c.present).label("present"),
            when(in_period, t.c.attendance_rows).label("attendance_rows")))
    rows = union_all(*parts).subquery()
    return (select(rows.c.member_id, *(func.sum(rows.c[n]).label(n) for n in SPAN_SUMS))
            .group_by(rows.c.member_id))


def _starts(dialect: str) -> tuple[Any, Any]:
    """SQL of the first day of a date's month and of its year."""
    if dialect == "postgresql":
        return (lambda c: cast(func.date_trunc("month", c), Date),
                lambda c: cast(func.date_trunc("year", c), Date))
    return (lambda c: func.date(c, literal_column("'start of month'")),
            lambda c: func.date(c, literal_column("'start of year'")))


def rebuild(session: Session, since: dict[int, date]) -> None:
    """Recompute the span rows of each group from the month of `since[group]` (the earliest day a
    refresh changed) onwards, its years from that year, and its members' positions, from the day
    rows: the rows are a function of the day rows, so a rebuild is idempotent."""
    if not since:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    month_of, year_of = _starts(dialect)
    by_month: dict[date, list[int]] = defaultdict(list)
    for gid, day in since.items():
        by_month[_month(day)].append(gid)
    d, s = MemberDayTotal, MemberSpanTotal
    columns = ["group_id", "span", "start", "member_id", *SPAN_SUMS]

    def upsert(rows: Select[Any]) -> None:
        stmt = insert(MemberSpanTotal).from_select(columns, rows)
        session.execute(stmt.on_conflict_do_update(
            index_elements=["group_id", "span", "start", "member_id"],
            set_={n: getattr(stmt.excluded, n) for n in SPAN_SUMS}))

    def summed(table: Any) -> list[Any]:
        return [func.sum(getattr(table, n)) for n in SPAN_SUMS]

    for month, gids in sorted(by_month.items()):
        m = month_of(d.day)
        upsert(select(d.group_id, literal("month"), m, d.member_id, *summed(d))
               .where(d.group_id.in_(gids), d.day >= month).group_by(d.group_id, d.member_id, m))
        y = year_of(s.start)
        upsert(select(s.group_id, literal("year"), y, s.member_id, *summed(s))
               .where(s.group_id.in_(gids), s.span == "month", s.start >= date(month.year, 1, 1))
               .group_by(s.group_id, s.member_id, y))
    upsert(select(s.group_id, literal("all"), literal(POSITION, Date), s.member_id, *summed(s))
           .where(s.group_id.in_(sorted(since)), s.span == "year").group_by(s.group_id, s.member_id))


def changed_since(session: Session, entries: ColumnElement[bool],
                  meetings: ColumnElement[bool]) -> dict[int, date]:
    """Per group, the earliest day of the entries and meetings selected (what a refresh folds)."""
    days = union_all(select(Entry.group_id.label("group_id"), func.min(Entry.effective_date).label("day"))
                     .where(entries).group_by(Entry.group_id),
                     select(Meeting.group_id.label("group_id"), func.min(Meeting.date).label("day"))
                     .where(meetings).group_by(Meeting.group_id)).subquery()
    out: dict[int, date] = {}
    for gid, day in session.execute(select(days.c.group_id, func.min(days.c.day)).group_by(days.c.group_id)):
        out[int(gid)] = day if isinstance(day, date) else date.fromisoformat(str(day))
    return out


def expected(day_rows: Iterable[tuple[tuple[Any, ...], tuple[int, ...]]],
             sums: tuple[str, ...]) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """The span rows, keyed by KEY, that the member day rows ((group_id, member_id, day), the
    values of `sums`) add up to."""
    pick = [sums.index(n) for n in SPAN_SUMS]
    out: dict[tuple[Any, ...], list[int]] = {}
    for (gid, mid, value), values in day_rows:
        day = value if isinstance(value, date) else date.fromisoformat(str(value))
        for key in ((gid, mid, "month", _month(day)), (gid, mid, "year", date(day.year, 1, 1)),
                    (gid, mid, "all", POSITION)):
            row = out.setdefault(key, [0] * len(SPAN_SUMS))
            for i, j in enumerate(pick):
                row[i] += values[j]
    return {k: tuple(v) for k, v in out.items()}


__all__ = ["KEY", "POSITION", "SPAN_SUMS", "after", "balance_rows", "changed_since", "expected",
           "member_statement", "params", "rebuild"]

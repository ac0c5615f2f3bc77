"""The measures of many groups over one period, read from the per-period totals.

Every figure is a sum over day rows (`metrics.tables`) plus the tail no refresh has folded yet
(`metrics.fold`), the loan register, the member register: a handful of set-based queries over all
the groups at once, so a programme of a thousand groups costs the same number of round trips as
one group, and a group's cost follows the days it was active, not its entries.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from typing import Any, TypeAlias

from sqlalchemy import Date, Integer, and_, bindparam, case, func, literal_column, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from ..errors import DomainError
from ..models import Group, Loan, Member
from . import spans
from .among import among
from .fold import Range, member_rows, stale_groups, stored_and_tail
from .measures import SEGMENTS, Facts, GroupMeasures, Measures
from .tables import GroupDayTotal, LoanDayTotal


def original_due(dialect: str) -> ColumnElement[Any]:
    """A loan's contractual due date (issue + term months, clamped to the month's end like
    relativedelta), in SQL of either database."""
    if dialect == "postgresql":
        return literal_column("CAST(loans.issued_on + loans.term_months * INTERVAL '1 month' AS DATE)")
    shifted = "date(loans.issued_on, '+' || loans.term_months || ' months')"
    return literal_column(
        f"CASE WHEN strftime('%d', {shifted}) <> strftime('%d', loans.issued_on) "
        f"THEN date({shifted}, 'start of month', '-1 day') ELSE {shifted} END")


def for_aggregates(conn: Connection, groups: int) -> None:
    """On PostgreSQL, for the rest of the transaction of a read over many groups: no JIT
    compilation, and sorts and hashes of the loans' rows in memory (one round trip; a few groups'
    plans stay under both thresholds). A 1,000-group roll-up's estimated cost passes the JIT
    threshold, and compiling its expressions took 0.5-0.6 s (EXPLAIN ANALYZE under load), more
    than the aggregation it speeds up; at the default 4 MB of work memory its per-loan sort
    (200,000 rows) spilled to disk."""
    if conn.dialect.name == "postgresql" and groups > 50:
        conn.exec_driver_sql("SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)")


def _sum(condition: ColumnElement[bool], value: Any) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


# The statements below are built once per database kind (and with or without a tail to add) and
# executed with parameters: building SQLAlchemy expressions costs more than a small group's query.
START, END = bindparam("start", type_=Date), bindparam("end", type_=Date)
PAR1, PAR30 = bindparam("par1", type_=Date), bindparam("par30", type_=Date)
# A select of several columns of any types (SQLAlchemy 2.1 types a select by its columns).
Rows: TypeAlias = Select[*tuple[Any, ...]]


@cache
def _group_statement(tail: bool) -> Select[Any]:
    """Per group: closing cash of both bags, the period's income, grants and meetings, and the
    date of its first grant (ever)."""
    r = stored_and_tail(GroupDayTotal, tail=tail)
    dated, closing_day = r.c.day <= END, r.c.day == END
    in_period = and_(r.c.day >= START, dated)
    return (select(r.c.group_id,
                   (_sum(dated, r.c.loan_fund_cash) - _sum(closing_day, r.c.loan_fund_cash_share_out))
                   .label("loan_fund_cash"),
                   (_sum(dated, r.c.social_fund_cash) - _sum(closing_day, r.c.social_fund_cash_share_out))
                   .label("social_fund_cash"),
                   _sum(in_period, r.c.service_charges).label("service_charges"),
                   _sum(in_period, r.c.fines).label("fines"),
                   _sum(in_period, r.c.cash_variance).label("cash_variance"),
                   _sum(in_period, r.c.grants).label("grants"),
                   _sum(in_period, r.c.meetings).label("meetings"),
                   func.min(case((r.c.grant_entries > 0, r.c.day))).label("first_grant"))
            .group_by(r.c.group_id))


@cache
def _member_statement(tail: bool) -> Select[Any]:
    """Per member: savings and loan balance at the end of the period, attendance in it, from her
    position and span rows (`metrics.spans`) and, with `tail`, the day rows of the unfolded tail."""
    rows = member_rows(Range(bindparam("stale", expanding=True), "tail")).subquery() if tail else None
    return spans.member_statement(rows)


@cache
def _loan_statement(dialect: str, tail: bool) -> Select[Any]:
    """Per group and member: loans disbursed, outstanding, at risk, fell due and repaid."""
    r = stored_and_tail(LoanDayTotal, tail=tail)
    due = original_due(dialect)
    dated = r.c.day <= END
    per_loan = (
        select(Loan.id, Loan.group_id, Loan.member_id, Loan.principal, Loan.issued_on, due.label("due"),
               _sum(dated, r.c.outstanding).label("outstanding"),
               _sum(r.c.day <= due, r.c.owed).label("fell_due"),
               _sum(dated, -r.c.repaid).label("repaid"),
               _sum(and_(r.c.day >= START, dated), -r.c.written_off).label("written_off"))
        .select_from(Loan)
        .join(r, r.c.loan_id == Loan.id)  # a loan is one group's: its group in the join misled estimates
        .where(among(Loan.group_id), Loan.status != "cancelled", Loan.issued_on <= END)
        .group_by(Loan.id, Loan.group_id, Loan.member_id, Loan.principal, Loan.issued_on)
        .subquery()
    )
    issued = and_(per_loan.c.issued_on >= START, per_loan.c.issued_on <= END)
    cohort = and_(per_loan.c.due >= START, per_loan.c.due <= END)
    capped = case((per_loan.c.repaid > per_loan.c.fell_due, per_loan.c.fell_due), else_=per_loan.c.repaid)
    return (select(per_loan.c.group_id, per_loan.c.member_id,
                   _sum(issued, 1).label("loans_count"),
                   _sum(issued, per_loan.c.principal).label("loans_amount"),
                   _sum(per_loan.c.due <= PAR1, per_loan.c.outstanding).label("par1"),
                   _sum(per_loan.c.due <= PAR30, per_loan.c.outstanding).label("par30"),
                   _sum(cohort, per_loan.c.fell_due).label("fell_due"),
                   _sum(cohort, capped).label("repaid"),
                   func.sum(per_loan.c.written_off).label("written_off"))
            .group_by(per_loan.c.group_id, per_loan.c.member_id))


@cache
def _loans_by_day() -> Rows:
    """The principal of the loans issued in the period per group and day (loans after grants)."""
    return (select(Loan.group_id, Loan.issued_on, func.sum(Loan.principal))
            .where(among(Loan.group_id), Loan.status != "cancelled", Loan.issued_on >= START,
                   Loan.issued_on <= END)
            .group_by(Loan.group_id, Loan.issued_on))


YOUTH_FROM = bindparam("youth_from", type_=Integer)  # born in this year or later: youth at `end`
MEMBER_FACTS = ("members", "female", "male", "youth", "disability", "members_at_start", "retained",
                "savings", "loans_outstanding", "present", "attendance_rows", "loans_count",
                "loans_amount", "par1_outstanding", "par30_outstanding", "fell_due", "repaid",
                "written_off")


@cache
def _segment_statement(dialect: str, tail: bool) -> Rows:
    """Per group, the members' facts summed over the whole group and over each segment (female,
    male, youth, disability): the register (on it at the start and end of the period, from the
    joined and left dates), savings, loan balances, attendance and loans, all in the database."""
    ma = _member_statement(tail).subquery()
    la = _loan_statement(dialect, tail).subquery()
    at_end = and_(Member.joined_on <= END, or_(Member.left_on.is_(None), Member.left_on > END))
    at_start = and_(Member.joined_on <= START, or_(Member.left_on.is_(None), Member.left_on >= START))
    tags: dict[str, ColumnElement[bool]] = {
        "female": Member.gender == "female", "male": Member.gender == "male",
        "youth": and_(Member.birth_year.is_not(None), Member.birth_year >= YOUTH_FROM),
        "disability": Member.disability.is_(True)}

    def one(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return case((condition, 1), else_=0)

    def z(column: Any) -> ColumnElement[int]:
        return func.coalesce(column, 0)

    facts: dict[str, ColumnElement[int]] = {
        "members": one(at_end), **{t: one(and_(at_end, c)) for t, c in tags.items()},
        "members_at_start": one(at_start), "retained": one(and_(at_start, at_end)),
        "savings": -z(ma.c.shares), "loans_outstanding": z(ma.c.receivable),
        "present": z(ma.c.present), "attendance_rows": z(ma.c.attendance_rows),
        "loans_count": z(la.c.loans_count), "loans_amount": z(la.c.loans_amount),
        "par1_outstanding": z(la.c.par1), "par30_outstanding": z(la.c.par30),
        "fell_due": z(la.c.fell_due), "repaid": z(la.c.repaid), "written_off": z(la.c.written_off)}
    columns = [func.sum(facts[name]).label(f"all__{name}") for name in MEMBER_FACTS]
    columns += [func.sum(case((condition, facts[name]), else_=0)).label(f"{tag}__{name}")
                for tag, condition in tags.items() for name in MEMBER_FACTS]
    return (select(Member.group_id, *columns).select_from(Member)
            .outerjoin(ma, ma.c.member_id == Member.id)
            .outerjoin(la, la.c.member_id == Member.id)
            .where(among(Member.group_id)).group_by(Member.group_id))


def compute(session: Session, scope: Select[Any], start: date, end: date, youth_age_max: int,
            *, cycle_ids: dict[int, int] | None = None) -> list[GroupMeasures]:
    """The measures of every group in `scope` (a SELECT of group ids) over one period.

    Raises measures.invalid_period.
    """
    if end < start:
        raise DomainError("measures.invalid_period", "The period ends before it starts",
                          start=start, end=end)
    days = (end - start).days + 1
    groups = {row.id: row for row in session.execute(
        select(Group.id, Group.name, Group.region, Group.currency).where(Group.id.in_(scope))
        .order_by(Group.id))}
    ids = list(groups)
    stale = stale_groups(session, ids)
    params = {"ids": ids, "stale": stale, "start": start, "end": end, "youth_from": end.year - youth_age_max,
              "par1": end - timedelta(days=1), "par30": end - timedelta(days=30), **spans.params(start, end)}
    tail = bool(stale)
    conn = session.connection()  # rows as the driver gives them: no ORM loading
    for_aggregates(conn, len(ids))
    group_facts = {gid: Facts() for gid in groups}
    first_grant: dict[int, date] = {}
    for row in conn.execute(_group_statement(tail), params).all():
        g = group_facts[row.group_id]
        g.loan_fund_cash, g.social_fund_cash = int(row.loan_fund_cash), int(row.social_fund_cash)
        g.service_charges, g.fines = -int(row.service_charges), -int(row.fines)
        g.cash_variance, g.grants, g.meetings = int(row.cash_variance), -int(row.grants), int(row.meetings)
        if row.first_grant is not None:
            first_grant[row.group_id] = _day(row.first_grant)
    for gid, issued_on, principal in conn.execute(_loans_by_day(), params).all():
        if gid in first_grant and issued_on >= first_grant[gid]:
            group_facts[gid].loans_after_grants += int(principal)
    seg_facts: dict[int, dict[str, Facts]] = {gid: {s: Facts() for s in SEGMENTS} for gid in groups}
    dialect = session.get_bind().dialect.name
    for row in conn.execute(_segment_statement(dialect, tail), params).all():
        values = row._mapping
        group_facts[row.group_id].add(Facts(**{n: int(values[f"all__{n}"] or 0) for n in MEMBER_FACTS}))
        for tag in SEGMENTS:
            seg_facts[row.group_id][tag] = Facts(**{n: int(values[f"{tag}__{n}"] or 0) for n in MEMBER_FACTS})
    return [GroupMeasures(
        group_id=gid, name=row.name, region=row.region, start=start, end=end,
        cycle_id=(cycle_ids or {}).get(gid),
        measures=Measures(row.currency, days, group_facts[gid]),
        segments={s: Measures(row.currency, days, seg_facts[gid][s], whole_group=False) for s in SEGMENTS},
    ) for gid, row in groups.items()]


def _day(value: Any) -> date:
    """A date the database computed (SQLite's min() of a date column answers its text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


__all__ = ["compute", "for_aggregates", "original_due"]

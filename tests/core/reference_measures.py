"""The measures computed from scratch from the postings, as `vision_ledger.metrics` did before it
read per-period totals: the oracle the totals are tested against (tests/core/test_totals.py).

Kept verbatim from the last version that read every posting (git history: vision_ledger/metrics.py),
so a fault in the totals' folding cannot hide behind the same SQL on both sides.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from vision_ledger.errors import DomainError
from vision_ledger.metrics import SEGMENTS, Facts, GroupMeasures, Measures
from vision_ledger.models import Account, Attendance, Entry, Group, Loan, Meeting, Member, Posting


def _original_due(dialect: str) -> ColumnElement[Any]:
    """A loan's contractual due date (issue + term months, clamped to the month's end like
    relativedelta), in SQL of either database."""
    if dialect == "postgresql":
        return literal_column("CAST(loans.issued_on + loans.term_months * INTERVAL '1 month' AS DATE)")
    shifted = "date(loans.issued_on, '+' || loans.term_months || ' months')"
    return literal_column(
        f"CASE WHEN strftime('%d', {shifted}) <> strftime('%d', loans.issued_on) "
        f"THEN date({shifted}, 'start of month', '-1 day') ELSE {shifted} END")


def _effective_kind() -> ColumnElement[str]:
    """The kind an entry counts as: a reversal counts (negatively) as the kind it reverses."""
    return case((Entry.kind == "reversal", Entry.details["reversed_kind"].as_string()),
                else_=Entry.kind)


_FLOW_CODES = ("service_charge_income", "fine_income", "cash_variance", "seed_capital", "loan_write_offs")


@dataclass
class _Balance:
    group_id: int
    code: str
    member_id: int | None
    closing: int = 0
    flow: int = 0


def _balances(session: Session, scope: Select[Any], start: date, end: date) -> list[_Balance]:
    """Per account: its balance at `end` and (income, expense and seed-capital accounts) its flow
    in the period, summed from the postings.

    Three set-based queries instead of one join of every posting with its entry: the sum of all
    postings per account (one table), less the postings dated after the period (or of a share-out
    on its last day); and the period's flows, which touch only the few postings of income and
    expense accounts.
    """
    accounts = {a.id: _Balance(a.group_id, a.code, a.member_id) for a in session.execute(
        select(Account.id, Account.group_id, Account.code, Account.member_id)
        .where(Account.group_id.in_(scope)))}
    in_scope = select(Account.id).where(Account.group_id.in_(scope))
    for account_id, total in session.execute(
            select(Posting.account_id, func.sum(Posting.amount))
            .where(Posting.account_id.in_(in_scope)).group_by(Posting.account_id)):
        accounts[account_id].closing += int(total)
    later = or_(Entry.effective_date > end, and_(Entry.kind == "share_out", Entry.effective_date == end))
    for account_id, total in session.execute(
            select(Posting.account_id, func.sum(Posting.amount))
            .join(Entry, Entry.id == Posting.entry_id)
            .where(Entry.group_id.in_(scope), later).group_by(Posting.account_id)):
        accounts[account_id].closing -= int(total)
    in_period = and_(Entry.effective_date >= start, Entry.effective_date <= end, Entry.kind != "share_out")
    for account_id, total in session.execute(
            select(Posting.account_id, func.sum(Posting.amount))
            .select_from(Account)
            .join(Posting, Posting.account_id == Account.id)
            .join(Entry, Entry.id == Posting.entry_id)
            .where(Account.group_id.in_(scope), Account.code.in_(_FLOW_CODES), in_period)
            .group_by(Posting.account_id)):
        accounts[account_id].flow += int(total)
    return list(accounts.values())


def _loans(session: Session, scope: Select[Any], start: date, end: date) -> list[Any]:
    """Per group and member: loans disbursed, outstanding, at risk, fell due and repaid."""
    due = _original_due(session.get_bind().dialect.name)
    kind = _effective_kind()
    dated = Entry.effective_date <= end
    per_loan = (
        select(
            Loan.id, Loan.group_id, Loan.member_id, Loan.principal, Loan.issued_on, due.label("due"),
            func.sum(case((dated, Posting.amount), else_=0)).label("outstanding"),
            func.sum(case((and_(kind.in_(("loan", "service_charge", "rollover")),
                                Entry.effective_date <= due), Posting.amount), else_=0)).label("fell_due"),
            func.sum(case((and_(kind.in_(("repayment", "member_exit")), dated), -Posting.amount),
                          else_=0)).label("repaid"),
            func.sum(case((and_(kind == "write_off", Entry.effective_date >= start, dated),
                           -Posting.amount), else_=0)).label("written_off"),
        )
        .select_from(Loan)
        .join(Entry, and_(Entry.loan_id == Loan.id, Entry.group_id == Loan.group_id))
        .join(Posting, Posting.entry_id == Entry.id)
        .join(Account, and_(Account.id == Posting.account_id, Account.code == "loans_receivable"))
        .where(Loan.group_id.in_(scope), Entry.group_id.in_(scope), Loan.status != "cancelled",
               Loan.issued_on <= end)
        .group_by(Loan.id, Loan.group_id, Loan.member_id, Loan.principal, Loan.issued_on)
        .subquery()
    )
    issued = and_(per_loan.c.issued_on >= start, per_loan.c.issued_on <= end)
    cohort = and_(per_loan.c.due >= start, per_loan.c.due <= end)
    stmt = (
        select(
            per_loan.c.group_id, per_loan.c.member_id,
            func.sum(case((issued, 1), else_=0)).label("loans_count"),
            func.sum(case((issued, per_loan.c.principal), else_=0)).label("loans_amount"),
            func.sum(case((per_loan.c.due <= end - timedelta(days=1), per_loan.c.outstanding),
                          else_=0)).label("par1"),
            func.sum(case((per_loan.c.due <= end - timedelta(days=30), per_loan.c.outstanding),
                          else_=0)).label("par30"),
            func.sum(case((cohort, per_loan.c.fell_due), else_=0)).label("fell_due"),
            func.sum(case((cohort, case((per_loan.c.repaid > per_loan.c.fell_due, per_loan.c.fell_due),
                                        else_=per_loan.c.repaid)), else_=0)).label("repaid"),
            func.sum(per_loan.c.written_off).label("written_off"),
        )
        .group_by(per_loan.c.group_id, per_loan.c.member_id)
    )
    return list(session.execute(stmt))


def _attendance(session: Session, scope: Select[Any], start: date, end: date) -> list[Any]:
    return list(session.execute(
        select(Attendance.group_id, Attendance.member_id,
               func.sum(case((Attendance.present, 1), else_=0)).label("present"),
               func.count().label("rows"))
        .join(Meeting, Meeting.id == Attendance.meeting_id)
        .where(Attendance.group_id.in_(scope), Meeting.date >= start, Meeting.date <= end)
        .group_by(Attendance.group_id, Attendance.member_id)
    ))


def _group_rows(session: Session, scope: Select[Any], start: date, end: date) -> list[Any]:
    """Per group: meetings held in the period, first grant, loans issued after it."""
    meetings = (select(Meeting.group_id, func.count().label("n"))
                .where(Meeting.group_id.in_(scope), Meeting.date >= start, Meeting.date <= end)
                .group_by(Meeting.group_id).subquery())
    first_grant = (select(Entry.group_id, func.min(Entry.effective_date).label("on"))
                   .where(Entry.group_id.in_(scope), Entry.kind == "grant")
                   .group_by(Entry.group_id).subquery())
    after = (select(Loan.group_id, func.sum(Loan.principal).label("amount"))
             .join(first_grant, first_grant.c.group_id == Loan.group_id)
             .where(Loan.status != "cancelled", Loan.issued_on >= start, Loan.issued_on <= end,
                    Loan.issued_on >= first_grant.c.on)
             .group_by(Loan.group_id).subquery())
    return list(session.execute(
        select(Group.id, Group.name, Group.region, Group.currency, meetings.c.n, after.c.amount)
        .outerjoin(meetings, meetings.c.group_id == Group.id)
        .outerjoin(after, after.c.group_id == Group.id)
        .where(Group.id.in_(scope)).order_by(Group.id)
    ))


def _members(session: Session, scope: Select[Any]) -> list[Any]:
    return list(session.execute(
        select(Member.id, Member.group_id, Member.gender, Member.birth_year, Member.disability,
               Member.joined_on, Member.left_on).where(Member.group_id.in_(scope))
    ))


def compute(session: Session, scope: Select[Any], start: date, end: date, youth_age_max: int,
            *, cycle_ids: dict[int, int] | None = None) -> list[GroupMeasures]:
    """The measures of every group in `scope` (a SELECT of group ids) over one period."""
    if end < start:
        raise DomainError("measures.invalid_period", "The period ends before it starts",
                          start=start, end=end)
    days = (end - start).days + 1
    groups = {row.id: row for row in _group_rows(session, scope, start, end)}
    group_facts = {gid: Facts(meetings=row.n or 0, loans_after_grants=int(row.amount or 0))
                   for gid, row in groups.items()}
    member_facts: dict[int, Facts] = defaultdict(Facts)
    segments_of: dict[int, tuple[int, tuple[str, ...]]] = {}
    for m in _members(session, scope):
        f = member_facts[m.id]
        tags = tuple(s for s, on in (
            ("female", m.gender == "female"), ("male", m.gender == "male"),
            ("youth", m.birth_year is not None and end.year - m.birth_year <= youth_age_max),
            ("disability", bool(m.disability))) if on)
        segments_of[m.id] = (m.group_id, tags)
        at_end = m.joined_on <= end and (m.left_on is None or m.left_on > end)
        at_start = m.joined_on <= start and (m.left_on is None or m.left_on >= start)
        f.members = int(at_end)
        for tag in tags:
            setattr(f, tag, int(at_end))
        f.members_at_start = int(at_start)
        f.retained = int(at_start and at_end)
    for row in _balances(session, scope, start, end):
        closing, flow = int(row.closing), int(row.flow)
        if row.member_id is not None:
            f = member_facts[row.member_id]
            if row.code == "member_shares":
                f.savings += -closing
            elif row.code == "loans_receivable":
                f.loans_outstanding += closing
            continue
        g = group_facts[row.group_id]
        if row.code == "loan_fund_cash":
            g.loan_fund_cash += closing
        elif row.code == "social_fund_cash":
            g.social_fund_cash += closing
        elif row.code == "service_charge_income":
            g.service_charges += -flow
        elif row.code == "fine_income":
            g.fines += -flow
        elif row.code == "cash_variance":
            g.cash_variance += flow
        elif row.code == "seed_capital":
            g.grants += -flow
    for row in _loans(session, scope, start, end):
        f = member_facts[row.member_id]
        f.loans_count += int(row.loans_count)
        f.loans_amount += int(row.loans_amount)
        f.par1_outstanding += int(row.par1)
        f.par30_outstanding += int(row.par30)
        f.fell_due += int(row.fell_due)
        f.repaid += int(row.repaid)
        f.written_off += int(row.written_off)
    for row in _attendance(session, scope, start, end):
        f = member_facts[row.member_id]
        f.present += int(row.present)
        f.attendance_rows += int(row.rows)

    seg_facts: dict[int, dict[str, Facts]] = {gid: {s: Facts() for s in SEGMENTS} for gid in groups}
    for member_id, f in member_facts.items():
        group_id, tags = segments_of.get(member_id, (None, ()))
        if group_id is None or group_id not in groups:
            continue
        group_facts[group_id].add(f)
        for tag in tags:
            seg_facts[group_id][tag].add(f)
    result = []
    for gid, row in groups.items():
        result.append(GroupMeasures(
            group_id=gid, name=row.name, region=row.region, start=start, end=end,
            cycle_id=(cycle_ids or {}).get(gid),
            measures=Measures(row.currency, days, group_facts[gid]),
            segments={s: Measures(row.currency, days, seg_facts[gid][s], whole_group=False)
                      for s in SEGMENTS},
        ))
    return result


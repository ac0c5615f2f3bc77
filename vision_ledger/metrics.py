"""Measures programme staff look at, per group and rolled up over a programme or a region.

Everything is recomputed from the ledger (entries and postings), the loan register, the member
register and attendance rows, never from stored counters that could drift. The figures of many
groups come from a handful of set-based queries (GROUP BY over all the groups at once), so a
programme of a thousand groups costs the same number of round trips as one group.

A period is two dates, `start` and `end`, both included, compared with entries' effective dates
and meetings' dates (the group's local calendar). Balances "at the end of the period" are the
sums of postings dated on or before `end`, read before a share-out dated `end` itself, so the
measures of a whole cycle show what was shared out. Flows "in the period" (income, grants,
write-offs) exclude share-out entries, which only close the cycle's accounts.

Definitions (each ratio is None when its denominator is zero):

- members: members on the register at the end of the period (joined on or before `end`, not
  left by then); `female`, `male`, `youth` (age in the year of `end` at most the policy's
  `youth_age_max`, 29 by default) and `disability` count the members carrying those attributes.
- savings: members' share balances at the end of the period (shares bought, less exits and
  reversals); savings per member = savings / members.
- total assets = loan-fund cash + loans outstanding + social-fund cash, at the end of the period.
- loans outstanding: the loans-receivable balances (principal and service charge still owed).
- loan fund utilisation = loans outstanding / (loans outstanding + loan-fund cash).
- portfolio at risk (1 and 30 days) = outstanding balance of the loans more than 0 (resp. 29)
  days past their contractual due date (issue date + term, before any roll-over) at the end of the
  period / loans outstanding. A rolled-over loan is a loan that was not repaid when due: at risk.
- loans disbursed: count and principal of the loans issued in the period (cancelled loans, i.e.
  reversed ones, excluded); average loan size = principal / count.
- repayment rate = amount repaid / amount that fell due, over the loans whose contractual due date
  lies in the period. What fell due on a loan is its principal plus the service charge posted up
  to its due date; what was repaid is what the member paid on it (repayments and settlement at an
  exit) up to the end of the period, capped at what fell due. Reversals are netted.
- write-off rate = amount written off in the period (principal and charge still owed) / principal
  of the loans disbursed in the period.
- attendance rate = members present / (meetings x active members), over the period's meetings:
  the number of `attendance` rows marked present over the number of rows (one per active member
  per meeting).
- member retention = members on the register at the start of the period who are still members at
  its end / members on the register at its start.
- return on savings (annualised) = (service charges + fines - write-offs - cash variance) earned
  in the period / savings at the end of the period x 52 / weeks elapsed, where weeks elapsed is
  the period's days / 7 (at least one week). This is SAVIX's "annualised return on savings": the
  5-25% a year that programmes consider healthy is calibrated on savings, not on average savings.
- grants: seed-capital grants received in the period; loans after grants: principal of the loans
  disbursed in the period in a group on or after the date of its first grant.

Programme and region roll-ups add up the counts and amounts of their groups and recompute each
ratio from the summed numerator and denominator (a pooled ratio: a big group weighs more).
Disaggregations (female, male, youth, disability) use the same definitions restricted to members
with the attribute; measures of the whole group (assets, utilisation, return on savings) are not
disaggregated.

Why this module is long: it is one concept, read whole. The definitions above, the five set-based
queries below them (balances, loans, attendance, groups, members: one GROUP BY each over every
group in scope) and `compute`, which turns their rows into each definition, name the same columns
and change together; split, a definition and the query that implements it would sit in different
files. Access checks and the two public entry points (`group_measures`, `programme_measures`) are
the rest.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, literal_column, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select

from .actors import Actor, refuse_operator
from .errors import DomainError, NotFound, PermissionDenied
from .groups import group_policy
from .meetings import local_today
from .models import Account, Attendance, Cycle, Entry, Group, Loan, Meeting, Member, Posting, Programme
from .money import Money
from .policy import from_dict

SEGMENTS = ("female", "male", "youth", "disability")
ROS_BAND = (Decimal("0.05"), Decimal("0.25"))  # a healthy annual return on savings


# --- who may look ------------------------------------------------------------------------------


def require_staff(actor: Actor, programme_id: int, group: Group | None = None) -> None:
    """Audit reads are for the programme's admins and auditors (and the service itself).

    Raises NotFound outside the actor's programme, PermissionDenied permission.staff_only for the
    group's own treasurer or members.
    """
    if actor.role == "system":
        return
    if actor.role in ("admin", "auditor") and actor.programme_id == programme_id:
        return
    if group is not None and actor.role in ("treasurer", "member") and actor.group_id == group.id:
        raise PermissionDenied("permission.staff_only", "Only programme staff may read this",
                               role=actor.role)
    if group is not None:
        raise NotFound("group.not_found", "No such group", group_id=group.id)
    refuse_operator(actor)  # sees the programme's record, never its books
    raise NotFound("programme.not_found", "No such programme", programme_id=programme_id)


def staff_group(session: Session, actor: Actor, group_id: int) -> Group:
    """The group, if the actor is staff of its programme. Raises group.not_found, permission.*."""
    group = session.get(Group, group_id)
    if group is None:
        raise NotFound("group.not_found", "No such group", group_id=group_id)
    require_staff(actor, group.programme_id, group)
    return group


def staff_programme(session: Session, actor: Actor, programme_id: int) -> Programme:
    """The programme, if the actor is its staff. Raises programme.not_found."""
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise NotFound("programme.not_found", "No such programme", programme_id=programme_id)
    require_staff(actor, programme_id)
    return programme


# --- the figures -------------------------------------------------------------------------------


@dataclass
class Facts:
    """Additive facts of a group, a segment of its members, or a whole programme."""

    members: int = 0
    female: int = 0
    male: int = 0
    youth: int = 0
    disability: int = 0
    members_at_start: int = 0
    retained: int = 0
    savings: int = 0
    loan_fund_cash: int = 0
    social_fund_cash: int = 0
    loans_outstanding: int = 0
    par1_outstanding: int = 0
    par30_outstanding: int = 0
    loans_count: int = 0
    loans_amount: int = 0
    fell_due: int = 0
    repaid: int = 0
    written_off: int = 0
    present: int = 0
    attendance_rows: int = 0
    meetings: int = 0
    service_charges: int = 0
    fines: int = 0
    cash_variance: int = 0
    grants: int = 0
    loans_after_grants: int = 0

    def add(self, other: Facts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"))


@dataclass
class Measures:
    """The measures of one group, segment or roll-up; money in minor units of `currency`."""

    currency: str
    days: int
    facts: Facts
    whole_group: bool = True  # False for a segment of members: group-wide measures are None

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)

    @property
    def savings_per_member(self) -> Money | None:
        return self.money(self.facts.savings // self.facts.members) if self.facts.members else None

    @property
    def total_assets(self) -> Money | None:
        f = self.facts
        return self.money(f.loan_fund_cash + f.loans_outstanding + f.social_fund_cash) \
            if self.whole_group else None

    @property
    def loan_fund_utilisation(self) -> Decimal | None:
        f = self.facts
        return _ratio(f.loans_outstanding, f.loans_outstanding + f.loan_fund_cash) \
            if self.whole_group else None

    @property
    def portfolio_at_risk_1(self) -> Decimal | None:
        return _ratio(self.facts.par1_outstanding, self.facts.loans_outstanding)

    @property
    def portfolio_at_risk_30(self) -> Decimal | None:
        return _ratio(self.facts.par30_outstanding, self.facts.loans_outstanding)

    @property
    def average_loan_size(self) -> Money | None:
        f = self.facts
        return self.money(f.loans_amount // f.loans_count) if f.loans_count else None

    @property
    def repayment_rate(self) -> Decimal | None:
        return _ratio(self.facts.repaid, self.facts.fell_due)

    @property
    def write_off_rate(self) -> Decimal | None:
        return _ratio(self.facts.written_off, self.facts.loans_amount)

    @property
    def attendance_rate(self) -> Decimal | None:
        return _ratio(self.facts.present, self.facts.attendance_rows)

    @property
    def member_retention(self) -> Decimal | None:
        return _ratio(self.facts.retained, self.facts.members_at_start)

    @property
    def net_income(self) -> int:
        f = self.facts
        return f.service_charges + f.fines - f.written_off - f.cash_variance

    @property
    def return_on_savings(self) -> Decimal | None:
        if not self.whole_group or self.facts.savings <= 0:
            return None
        weeks = max(Decimal(self.days) / 7, Decimal(1))
        value = Decimal(self.net_income) / Decimal(self.facts.savings) * 52 / weeks
        return value.quantize(Decimal("0.0001"))

    def as_dict(self) -> dict[str, Any]:
        """Plain values: Money, Decimal (ratios) or None; the doors render them."""
        f = self.facts
        data: dict[str, Any] = {
            "members": f.members, "female": f.female, "male": f.male, "youth": f.youth,
            "disability": f.disability, "savings": self.money(f.savings),
            "savings_per_member": self.savings_per_member, "total_assets": self.total_assets,
            "loan_fund_cash": self.money(f.loan_fund_cash) if self.whole_group else None,
            "social_fund_cash": self.money(f.social_fund_cash) if self.whole_group else None,
            "loans_outstanding": self.money(f.loans_outstanding),
            "loan_fund_utilisation": self.loan_fund_utilisation,
            "portfolio_at_risk_1": self.portfolio_at_risk_1,
            "portfolio_at_risk_30": self.portfolio_at_risk_30,
            "loans_disbursed": f.loans_count, "loans_disbursed_amount": self.money(f.loans_amount),
            "average_loan_size": self.average_loan_size, "amount_fell_due": self.money(f.fell_due),
            "amount_repaid": self.money(f.repaid), "repayment_rate": self.repayment_rate,
            "written_off": self.money(f.written_off), "write_off_rate": self.write_off_rate,
            "meetings": f.meetings if self.whole_group else None,
            "attendance_rate": self.attendance_rate, "member_retention": self.member_retention,
            "return_on_savings": self.return_on_savings,
        }
        if self.whole_group:
            data.update(service_charges=self.money(f.service_charges), fines=self.money(f.fines),
                        cash_variance=self.money(f.cash_variance), net_income=self.money(self.net_income),
                        grants=self.money(f.grants), loans_after_grants=self.money(f.loans_after_grants))
        return data


@dataclass
class GroupMeasures:
    group_id: int
    name: str
    region: str | None
    start: date
    end: date
    cycle_id: int | None
    measures: Measures
    segments: dict[str, Measures] = field(default_factory=dict)


@dataclass
class ProgrammeMeasures:
    programme_id: int
    region: str | None
    start: date
    end: date
    groups: int
    measures: Measures
    segments: dict[str, Measures]
    groups_ros_outside_band: int
    per_group: list[GroupMeasures]


# --- the queries -------------------------------------------------------------------------------


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


# --- the public operations -----------------------------------------------------------------------


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


__all__ = ["Facts", "GroupMeasures", "Measures", "ProgrammeMeasures", "compute", "cycle_period",
           "group_measures", "programme_measures", "require_staff", "staff_group", "staff_programme"]

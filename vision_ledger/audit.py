"""Audit: anomaly flags per group (each with the facts behind it). Verification of many journals
at once is `journals.py`'s (re-exported here: `audit.verify_many`); the scheduled dates a group
did not meet on are `missed_meetings.py`'s.

Flags are questions for a field officer, not verdicts. Each is computed from the ledger, the
meeting and member registers and the loan register, with set-based queries over every group in
scope at once:

- `cash_variance`: a meeting closed with counted cash different from the books (a recorded
  variance that was not reversed). Facts: meeting, date, bag, expected, counted, difference, reason.
- `treasurer_reversals`: the treasurer reversed more than `treasurer_reversals_max` entries in the
  period. Facts: count, threshold and the reversals (seq, reversed seq and kind, date, reason).
- `meetings_missed`: dates of the cycle's schedule (its RRULE from the cycle's start) with no
  meeting held within half a schedule interval of them, more than `missed_meetings_max` of them.
  Dates still ahead (today and later) are not counted.
- `key_holders_short`: fewer than `key_holders_min` (three) active members hold the role
  key_holder. A member has one role in this model, so a key holder cannot also sit on the
  committee; what can be seen is
- `key_holder_records`: a meeting opened or closed by a treasurer acting as a member whose role is
  key holder or box keeper: the person who holds a key of the box also keeps the books.
- `return_on_savings`: the annualised return on savings (see `metrics`) outside 5-25% a year,
  once the period is at least `ros_min_weeks` long and the group holds savings.
- `idle_members`: members who attended (were on the register at) each of the group's last
  `idle_meetings` meetings and have no entry at any of them.
- `loan_rollovers`: a loan rolled over more than `rollovers_max` times (Loan.rollovers), active
  in the period.
- `ledger_verification_failed`: `verify` found the chain, a sequence number or a stored balance
  disagreeing with the postings; the facts name the first entry (seq and id) or account.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import String, and_, bindparam, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from . import metrics
from .actors import Actor
from .db import utcnow
from .journals import ManyReport, describe, verify_groups, verify_many
from .meetings import local_today
from .missed_meetings import missed_dates, scheduled_dates
from .models import Attendance, Cycle, Entry, Group, Loan, Meeting, Member
from .money import Money
from .policy import from_dict


@dataclass(frozen=True)
class AuditSettings:
    """Thresholds of the flags; a programme may pass its own (they are query parameters in the API)."""

    treasurer_reversals_max: int = 3  # reversals by the treasurer in the period; more is flagged
    missed_meetings_max: int = 0  # scheduled meetings with no meeting held; more is flagged
    key_holders_min: int = 3
    ros_min: Decimal = Decimal("0.05")
    ros_max: Decimal = Decimal("0.25")
    ros_min_weeks: int = 8  # a return measured over fewer weeks is too noisy to flag
    idle_meetings: int = 4  # members with no transaction at this many consecutive meetings
    rollovers_max: int = 1


@dataclass
class Flag:
    code: str
    severity: str  # warning | critical
    message: str
    facts: dict[str, Any]


@dataclass
class GroupFlags:
    group_id: int
    name: str
    flags: list[Flag] = field(default_factory=list)


# --- the flags -----------------------------------------------------------------------------------


def group_flags(session: Session, actor: Actor, group_id: int, *, start: date | None = None,
                end: date | None = None, settings: AuditSettings | None = None,
                verify: bool = True) -> GroupFlags:
    """The group's flags over a period (default: its latest cycle), with verification of its journal.

    Raises group.not_found, permission.staff_only.
    """
    group = metrics.staff_group(session, actor, group_id)
    if start is None or end is None:
        cycle = session.scalars(select(Cycle).where(Cycle.group_id == group.id)
                                .order_by(Cycle.number.desc()).limit(1)).first()
        default = metrics.cycle_period(session, group, cycle) if cycle else (local_today(group),) * 2
        start, end = start or default[0], end or default[1]
    scope = select(Group.id).where(Group.id == group.id)
    policy = from_dict(group.programme.policy)
    return compute_flags(session, scope, start, end, settings or AuditSettings(),
                         youth_age_max=policy.youth_age_max, verify=verify)[0]


def programme_flags(session: Session, actor: Actor, programme_id: int, *, start: date | None = None,
                    end: date | None = None, region: str | None = None,
                    settings: AuditSettings | None = None, verify: bool = False,
                    measures: Sequence[metrics.GroupMeasures] | None = None) -> list[GroupFlags]:
    """Flags of every group of the programme (or region) over a period (default: 52 weeks to today).

    Verification of every journal is optional here (`verify_many` is its own operation). A caller
    that has just computed the groups' measures of the same period (`programme_measures(...,
    per_group=True)`: the console's dashboard) passes them as `measures`, read instead of again.
    Raises programme.not_found.
    """
    programme = metrics.staff_programme(session, actor, programme_id)
    end = end or date.today()  # noqa: DTZ011 - a programme spans time zones; its staff's today
    start = start or end - timedelta(weeks=52) + timedelta(days=1)
    scope = select(Group.id).where(Group.programme_id == programme.id)
    if region is not None:
        scope = scope.where(Group.region == region)
    return compute_flags(session, scope, start, end, settings or AuditSettings(),
                         youth_age_max=from_dict(programme.policy).youth_age_max, verify=verify,
                         measures=measures)


@dataclass
class _Run:
    """One computation of flags: the groups in scope, the period, the thresholds, the results."""

    session: Session
    scope: Select[Any]
    start: date
    end: date
    settings: AuditSettings
    groups: dict[int, Any]
    out: dict[int, GroupFlags]

    def money(self, group_id: int, minor: int) -> Money:
        return Money(int(minor), self.groups[group_id].currency)

    def flag(self, group_id: int, code: str, message: str, facts: dict[str, Any],
             severity: str = "warning") -> None:
        self.out[group_id].flags.append(Flag(code, severity, message, facts))


def compute_flags(session: Session, scope: Select[Any], start: date, end: date, settings: AuditSettings,
                  *, youth_age_max: int = 29, verify: bool = False,
                  measures: Sequence[metrics.GroupMeasures] | None = None) -> list[GroupFlags]:
    """Every flag of every group in `scope` (a SELECT of group ids) over one period; `measures`:
    the groups' measures of that period when the caller has them (else computed here)."""
    groups = {row.id: row for row in session.execute(
        select(Group.id, Group.name, Group.currency, Group.timezone).where(Group.id.in_(scope))
        .order_by(Group.id))}
    out = {gid: GroupFlags(gid, row.name) for gid, row in groups.items()}
    run = _Run(session, scope, start, end, settings, groups, out)
    money = run.money
    _cash_variances(run)
    _treasurer_reversals(run)
    _meetings_missed(run)
    _key_holders(run)
    if measures is not None and any(gm.start != start or gm.end != end for gm in measures):
        raise ValueError("the measures given to compute_flags are of another period")
    if measures is None:
        measures = metrics.compute(session, scope, start, end, youth_age_max)
    for gm in measures:
        if gm.group_id not in out:
            continue
        ros = gm.measures.return_on_savings
        if ros is None or gm.measures.days < settings.ros_min_weeks * 7:
            continue
        if not settings.ros_min <= ros <= settings.ros_max:
            out[gm.group_id].flags.append(Flag(
                "return_on_savings", "warning",
                f"Return on savings of {ros * 100:.1f}% a year, outside "
                f"{settings.ros_min * 100:.0f}-{settings.ros_max * 100:.0f}%",
                {"return_on_savings": ros, "minimum": settings.ros_min, "maximum": settings.ros_max,
                 "net_income": money(gm.group_id, gm.measures.net_income),
                 "savings": money(gm.group_id, gm.measures.facts.savings),
                 "weeks": round(gm.measures.days / 7, 1)}))
    _idle_members(run)
    _rollovers(run)
    if verify:
        for report in verify_groups(session, scope):
            if not report.ok:
                out[report.group_id].flags.append(Flag(
                    "ledger_verification_failed", "critical",
                    "The journal does not verify: " + describe(report.problem or {}),
                    {"first_problem": report.problem, "problems": report.problems,
                     "entries_checked": report.entries_checked}))
    return list(out.values())


def _not_reversed(scope: Select[Any]) -> Any:
    reversed_ids = select(Entry.reverses_id).where(Entry.group_id.in_(scope), Entry.kind == "reversal")
    return Entry.id.not_in(reversed_ids)


def _cash_variances(run: _Run) -> None:
    session, scope, start, end, out, money = run.session, run.scope, run.start, run.end, run.out, run.money
    rows = session.execute(
        select(Entry.group_id, Entry.seq, Entry.meeting_id, Entry.effective_date, Entry.details,
               Entry.memo)
        .where(Entry.group_id.in_(scope), Entry.kind == "cash_variance",
               Entry.effective_date >= start, Entry.effective_date <= end, _not_reversed(scope))
        .order_by(Entry.group_id, Entry.seq))
    for r in rows:
        d = r.details or {}
        expected, counted = int(d.get("expected", 0)), int(d.get("counted", 0))
        out[r.group_id].flags.append(Flag(
            "cash_variance", "warning",
            f"Counted cash differed from the books at the meeting of {r.effective_date.isoformat()}",
            {"meeting_id": r.meeting_id, "date": r.effective_date, "seq": r.seq, "bag": d.get("bag"),
             "expected": money(r.group_id, expected), "counted": money(r.group_id, counted),
             "difference": money(r.group_id, counted - expected), "reason": r.memo}))


def _treasurer_reversals(run: _Run) -> None:
    session, scope, start, end, out, settings = run.session, run.scope, run.start, run.end, run.out, \
        run.settings
    rows = session.execute(
        select(Entry.group_id, Entry.seq, Entry.effective_date, Entry.details, Entry.memo, Entry.actor)
        .where(Entry.group_id.in_(scope), Entry.kind == "reversal", Entry.actor.like("treasurer:%"),
               Entry.effective_date >= start, Entry.effective_date <= end)
        .order_by(Entry.group_id, Entry.seq))
    by_group: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        d = r.details or {}
        by_group[r.group_id].append({"seq": r.seq, "date": r.effective_date,
                                     "reversed_seq": d.get("reversed_seq"),
                                     "reversed_kind": d.get("reversed_kind"), "reason": r.memo,
                                     "by": r.actor})
    for gid, items in by_group.items():
        if len(items) > settings.treasurer_reversals_max:
            out[gid].flags.append(Flag(
                "treasurer_reversals", "warning",
                f"The treasurer reversed {len(items)} entries (more than "
                f"{settings.treasurer_reversals_max})",
                {"count": len(items), "threshold": settings.treasurer_reversals_max,
                 "reversals": items[:50]}))


def _meetings_missed(run: _Run) -> None:
    session, scope, start, end, settings = run.session, run.scope, run.start, run.end, run.settings
    out, groups = run.out, run.groups
    cycles = session.execute(
        select(Cycle.id, Cycle.group_id, Cycle.schedule, Cycle.start_date, Cycle.status,
               Cycle.planned_shareout_date)
        .where(Cycle.group_id.in_(scope), Cycle.start_date <= end))
    held: dict[int, list[date]] = defaultdict(list)
    for cycle_id, day in session.execute(  # in date order: each cycle's last meeting is its list's last
            select(Meeting.cycle_id, Meeting.date).where(
                Meeting.group_id.in_(scope), Meeting.date <= end + timedelta(days=7))
            .order_by(Meeting.cycle_id, Meeting.date)):
        held[cycle_id].append(day)
    now = utcnow()  # one clock for every group: "today" is each group's own date of it
    for c in cycles:
        today = local_today(groups[c.group_id], now)
        stop = c.planned_shareout_date if c.status == "open" else (held[c.id] or [c.start_date])[-1]
        until = min(end, stop, today - timedelta(days=1))
        begin = max(start, c.start_date)
        if until < begin:
            continue
        missed, due = missed_dates(c.schedule, begin, until, held[c.id])
        if len(missed) > settings.missed_meetings_max:
            out[c.group_id].flags.append(Flag(
                "meetings_missed", "warning",
                f"{len(missed)} of {due} scheduled meetings were not held",
                {"cycle_id": c.id, "schedule": c.schedule, "scheduled": due, "missed": len(missed),
                 "missed_dates": missed[:60], "threshold": settings.missed_meetings_max}))


def _key_holders(run: _Run) -> None:
    session, scope, start, end, out, settings = run.session, run.scope, run.start, run.end, run.out, \
        run.settings
    counts = {gid: n for gid, n in session.execute(
        select(Member.group_id, func.count()).where(
            Member.group_id.in_(scope), Member.status == "active", Member.role == "key_holder")
        .group_by(Member.group_id))}
    for gid, found_flags in out.items():
        n = counts.get(gid, 0)
        if n < settings.key_holders_min:
            found_flags.flags.append(Flag(
                "key_holders_short", "warning",
                f"{n} key holders; the box needs {settings.key_holders_min}, none on the committee",
                {"key_holders": n, "minimum": settings.key_holders_min}))
    # Who opened or closed each meeting: a treasurer acting as a member who holds a key. Matched in
    # the database on the member's label: the labels as a list (a key holder of every group) were
    # thousands of bound parameters, longer to send and plan than the join is to run.
    label = literal("treasurer:member:") + cast(Member.id, String)
    found: dict[tuple[int, int], list[date]] = defaultdict(list)
    keyed: dict[tuple[int, int], Any] = {}
    for r in session.execute(
            select(Meeting.group_id, Meeting.date, Member.id, Member.number, Member.name, Member.role)
            .join(Member, and_(Member.group_id == Meeting.group_id,
                               Member.role.in_(("key_holder", "box_keeper")),
                               or_(Meeting.opened_by == label, Meeting.closed_by == label)))
            .where(Meeting.group_id.in_(scope), Meeting.date >= start, Meeting.date <= end)
            .order_by(Meeting.date, Meeting.id, Member.id)):
        keyed[(r.group_id, r.id)] = r
        found[(r.group_id, r.id)].append(r.date)
    for (gid, mid), dates in found.items():
        m = keyed[(gid, mid)]
        out[gid].flags.append(Flag(
            "key_holder_records", "warning",
            f"{m.name}, a {m.role.replace('_', ' ')}, kept the books of {len(dates)} meeting(s)",
            {"member_id": mid, "member_number": m.number, "role": m.role, "meetings": len(dates),
             "dates": dates[:20]}))


IDLE_MEETINGS_AT_ONCE = 5000  # meeting ids written into one statement of `_idle_members`


def _idle_members(run: _Run) -> None:
    session, scope, end, n = run.session, run.scope, run.end, run.settings.idle_meetings
    ranked = select(Meeting.id, Meeting.group_id, func.row_number().over(
        partition_by=Meeting.group_id, order_by=(Meeting.date.desc(), Meeting.id.desc())).label("rn")
    ).where(Meeting.group_id.in_(scope), Meeting.date <= end).subquery()
    recent: dict[int, list[int]] = defaultdict(list)
    for meeting_id, group_id in session.execute(
            select(ranked.c.id, ranked.c.group_id).where(ranked.c.rn <= n)):
        recent[group_id].append(meeting_id)
    # The last meetings are read first and named in the statements below, a batch of groups at a
    # time: as a subquery the planner cannot tell how few rows the window keeps (it expected every
    # meeting) and read every entry of the programme to find who had one (1.3 s at 1,000 groups);
    # named, it reads those meetings' entries by ix_entries_meeting_member. Written as literals
    # (integers): as bound parameters, thousands cost more to send than the query takes to run.
    batch: list[int] = []
    for ids in recent.values():
        batch.extend(ids)
        if len(batch) >= IDLE_MEETINGS_AT_ONCE:
            _idle_in(run, batch, n)
            batch = []
    if batch:
        _idle_in(run, batch, n)


def _idle_in(run: _Run, meeting_ids: list[int], n: int) -> None:
    """The idle members of the groups whose last `n` meetings are `meeting_ids` (whole groups)."""
    def named() -> Any:
        return bindparam("meeting_ids", meeting_ids, unique=True, expanding=True, literal_execute=True)
    busy = select(Entry.member_id).where(Entry.meeting_id.in_(named()), Entry.member_id.is_not(None)) \
        .distinct().subquery()
    rows = run.session.execute(
        select(Attendance.group_id, Attendance.member_id, Member.number, Member.name,
               func.sum(case((Attendance.present, 1), else_=0)).label("present"))
        .join(Member, Member.id == Attendance.member_id)
        .outerjoin(busy, busy.c.member_id == Attendance.member_id)
        .where(Attendance.meeting_id.in_(named()), busy.c.member_id.is_(None), Member.status == "active")
        .group_by(Attendance.group_id, Attendance.member_id, Member.number, Member.name)
        .having(func.count() == n)
        .order_by(Attendance.group_id, Member.number))
    by_group: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_group[r.group_id].append({"member_id": r.member_id, "member_number": r.number,
                                     "name": r.name, "present_at": int(r.present or 0)})
    for gid, members in by_group.items():
        run.out[gid].flags.append(Flag(
            "idle_members", "warning",
            f"{len(members)} member(s) with no transaction at the last {n} meetings",
            {"meetings": n, "members": members}))


def _rollovers(run: _Run) -> None:
    session, scope, start, end, out, settings = run.session, run.scope, run.start, run.end, run.out, \
        run.settings
    money = run.money
    rows = session.execute(
        select(Loan.id, Loan.group_id, Loan.member_id, Loan.principal, Loan.rollovers, Loan.issued_on,
               Loan.due_on, Loan.status, Loan.charged, Loan.repaid_charge, Loan.repaid_principal)
        .where(Loan.group_id.in_(scope), Loan.rollovers > settings.rollovers_max,
               Loan.issued_on <= end, or_(Loan.closed_on.is_(None), Loan.closed_on >= start),
               Loan.status != "cancelled")
        .order_by(Loan.group_id, Loan.id))
    for r in rows:
        owed = r.principal - r.repaid_principal + r.charged - r.repaid_charge \
            if r.status == "active" else 0
        out[r.group_id].flags.append(Flag(
            "loan_rollovers", "warning", f"A loan rolled over {r.rollovers} times",
            {"loan_id": r.id, "member_id": r.member_id, "rollovers": r.rollovers,
             "threshold": settings.rollovers_max, "principal": money(r.group_id, r.principal),
             "owed": money(r.group_id, owed), "issued_on": r.issued_on, "due_on": r.due_on,
             "status": r.status}))


__all__ = ["AuditSettings", "Flag", "GroupFlags", "ManyReport", "compute_flags", "describe", "group_flags",
           "missed_dates", "programme_flags", "scheduled_dates", "verify_many"]

"""What each console page shows, as tables and figures built from the core's public functions.

Every function takes the request's session, the signed-in actor and the staff member's `Words`,
and checks scope exactly as the API does (through the same core functions): a programme, group or
member outside the actor's scope raises NotFound, shown as 404.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.orm import Session

from vision_ledger import audit, groups, ledger, metrics, statements
from vision_ledger.actors import Actor, can_administer, can_read_group
from vision_ledger.errors import PermissionDenied
from vision_ledger.i18n import marker
from vision_ledger.models import Entry, Group, Member, Programme, VerificationRun
from vision_ledger.money import Money

from .. import queries
from ..views import outbox as outbox_views
from .charts import Point, line_chart
from .tables import Table
from .texts import Ratio, Words

PERIODS = 12  # points of a chart: 12 weeks or 12 months
JOURNAL_PAGE = 50
RANKED_ON_PAGE = 50  # groups listed on the dashboard; the CSV holds every group
EVERY = ("week", "month")

# Measures on the dashboard, in order: (key of Measures.as_dict(), label).
HEADLINE = (
    ("members", marker("Members")), ("savings", marker("Savings")),
    ("savings_per_member", marker("Savings per member")),
    ("loans_outstanding", marker("Loans outstanding")), ("total_assets", marker("Total assets")),
    ("loan_fund_utilisation", marker("Loan fund utilisation")),
    ("portfolio_at_risk_1", marker("Portfolio at risk (1 day)")),
    ("portfolio_at_risk_30", marker("Portfolio at risk (30 days)")),
    ("average_loan_size", marker("Average loan size")),
    ("repayment_rate", marker("Repayment rate")), ("write_off_rate", marker("Write-off rate")),
    ("attendance_rate", marker("Attendance rate")), ("member_retention", marker("Member retention")),
    ("return_on_savings", marker("Return on savings (annualised)")),
)
SEGMENT_LABELS = {"female": marker("Women"), "male": marker("Men"), "youth": marker("Youth"),
                  "disability": marker("With a disability")}
SEGMENT_MEASURES = ("members", "savings", "savings_per_member", "loans_outstanding",
                    "portfolio_at_risk_1", "repayment_rate", "attendance_rate")
# Charts over time: (key, label, kind) where kind says how a value is written.
CHARTS = (("savings", marker("Savings"), "money"),
          ("loans_outstanding", marker("Loans outstanding"), "money"),
          ("members", marker("Members"), "count"), ("attendance_rate", marker("Attendance rate"), "ratio"),
          ("portfolio_at_risk_1", marker("Portfolio at risk (1 day)"), "ratio"))
FLAG_LABELS = {
    "cash_variance": marker("Cash variance"), "treasurer_reversals": marker("Reversals by the treasurer"),
    "meetings_missed": marker("Meetings missed"), "key_holders_short": marker("Too few key holders"),
    "key_holder_records": marker("Key holder kept the books"),
    "return_on_savings": marker("Return on savings"),
    "idle_members": marker("Idle members"), "loan_rollovers": marker("Loan rolled over"),
    "ledger_verification_failed": marker("Books do not verify"),
}

# Values of the registers a page shows through the catalog: statuses, roles, genders, entry and
# message kinds, severities (the catalog test checks each has its translation).
VALUE_WORDS = (
    marker("yes"), marker("no"), marker("female"), marker("male"), marker("other"), marker("–"),
    marker("member"), marker("chair"), marker("treasurer"), marker("secretary"),
    marker("money_counter"), marker("key_holder"), marker("box_keeper"), marker("forming"), marker("active"),
    marker("left"), marker("open"), marker("closed"),
    marker("repaid"), marker("written_off"), marker("cancelled"), marker("pending"), marker("sending"),
    marker("sent"), marker("uncertain"), marker("held"), marker("failed"),
    marker("delivered"), marker("created"), marker("unchanged"), marker("warning"), marker("critical"),
    marker("share_purchase"), marker("social_fund"), marker("fine"),
    marker("loan"), marker("service_charge"), marker("repayment"), marker("rollover"), marker("write_off"),
    marker("grant"), marker("welfare"), marker("cash_variance"),
    marker("reversal"), marker("share_out"), marker("member_exit"), marker("receipt"), marker("statement"),
    marker("exit"),
)


def cell(value: Any) -> Any:
    """A measure as a table cell: ratios (Decimal) become `Ratio`, the rest is kept."""
    return Ratio(value) if isinstance(value, Decimal) else value


# --- the programme dashboard -----------------------------------------------------------------------


def periods(today: date, every: str, count: int = PERIODS) -> list[tuple[date, date]]:
    """The `count` weeks (ending today) or calendar months (the last one to today), oldest first."""
    if every == "week":
        return [(today - timedelta(days=7 * k + 6), today - timedelta(days=7 * k))
                for k in reversed(range(count))]
    first = today.replace(day=1)
    out = []
    for k in reversed(range(count)):
        start = first - relativedelta(months=k)
        out.append((start, min(start + relativedelta(months=1) - timedelta(days=1), today)))
    return out


@dataclass
class Dashboard:
    programme: Programme
    every: str
    start: date
    end: date
    headline: list[tuple[str, Any]]
    segments: Table
    series: Table
    charts: list[tuple[str, Any]]
    ranked: Table
    flagged: int
    groups: int
    tables: dict[str, Table] = field(default_factory=dict)


def dashboard(s: Session, actor: Actor, programme_id: int, t: Words, *, every: str = "week",
              today: date | None = None, ranked_limit: int | None = RANKED_ON_PAGE) -> Dashboard:
    """The programme's measures (52 weeks to today), their history by week or month, and its groups
    ranked by their flags. Raises programme.not_found (also outside the actor's scope)."""
    programme = metrics.staff_programme(s, actor, programme_id)
    today = today or date.today()  # noqa: DTZ011 - the programme's staff's today, as the API's
    pm = metrics.programme_measures(s, actor, programme_id, end=today, per_group=True)
    measures = pm.measures.as_dict()
    headline = [(t(label), cell(measures[key])) for key, label in HEADLINE]

    segments = Table("segments", t("By gender, youth and disability"),
                     [t("Measure"), *[t(SEGMENT_LABELS[k]) for k in metrics.SEGMENTS]],
                     numeric=frozenset(range(1, 5)),
                     csv_columns=["measure", *metrics.SEGMENTS])
    by_segment = {k: v.as_dict() for k, v in pm.segments.items()}
    for key in SEGMENT_MEASURES:
        label = next(label for k, label in HEADLINE if k == key)
        segments.add([t(label), *[cell(by_segment[k][key]) for k in metrics.SEGMENTS]])

    spans = periods(today, every)
    history = [point.as_dict() for point in metrics.series(s, actor, programme_id, spans)]  # one pass
    labels = [t.date(b) if every == "week" else t.month(b) for _, b in spans]
    series = Table("history", t("The figures of the charts"),
                   [t("Period ends"), *[t(label) for _, label, _ in CHARTS]],
                   numeric=frozenset(range(1, len(CHARTS) + 1)),
                   csv_columns=["period_start", "period_end", *[key for key, _, _ in CHARTS]])
    for (_, b), row in zip(spans, history, strict=True):
        series.add([b, *[cell(row[key]) for key, _, _ in CHARTS]])
    charts = []
    for key, label, kind in CHARTS:
        values = [_plot(row[key], kind) for row in history]
        data = [Point(lbl, v, t.value(cell(row[key])))
                for lbl, v, row in zip(labels, values, history, strict=True)]
        charts.append((t(label), line_chart(t(label), data, empty=t("No figures in these periods yet."))))
    # the CSV of the history carries both dates of each period
    series_csv = Table(series.name, series.caption, series.columns, csv_columns=series.csv_columns)
    for (a, b), row in zip(spans, history, strict=True):
        series_csv.add([a, b, *[cell(row[key]) for key, _, _ in CHARTS]])

    flags = audit.programme_flags(s, actor, programme_id, end=today, measures=pm.per_group)  # read once
    flags.sort(key=lambda gf: (-sum(f.severity == "critical" for f in gf.flags), -len(gf.flags), gf.name))
    ranked = Table("groups", t("Groups ranked by their flags"),
                   [t("Group"), t("Critical"), t("Warnings"), t("Flags")], numeric=frozenset({1, 2}),
                   csv_columns=["group_id", "group", "critical", "warnings", "flags"])
    ranked_csv = Table(ranked.name, ranked.caption, ranked.columns, csv_columns=ranked.csv_columns)
    flagged = 0
    for gf in flags:
        critical = sum(f.severity == "critical" for f in gf.flags)
        codes = sorted({f.code for f in gf.flags})
        flagged += bool(gf.flags)
        ranked_csv.add([gf.group_id, gf.name, critical, len(gf.flags) - critical, " ".join(codes)])
        if ranked_limit is None or len(ranked.rows) < ranked_limit:
            ranked.add([gf.name, critical, len(gf.flags) - critical,
                        ", ".join(t(FLAG_LABELS.get(c, c)) for c in codes) or t("none")],
                       link=f"/console/groups/{gf.group_id}")
    if len(flags) > len(ranked.rows):
        ranked.more = t("{n} more groups in the CSV file", n=len(flags) - len(ranked.rows))
    return Dashboard(programme=programme, every=every, start=pm.start, end=pm.end, headline=headline,
                     segments=segments, series=series, charts=charts, ranked=ranked, flagged=flagged,
                     groups=pm.groups,
                     tables={"segments": segments, "history": series_csv, "groups": ranked_csv})


def _plot(value: Any, kind: str) -> float | None:
    if value is None:
        return None
    if kind == "money":
        return float(value.to_decimal())
    return float(value)


# --- a group ---------------------------------------------------------------------------------------


@dataclass
class GroupPage:
    group: Group
    tables: dict[str, Table]
    verified_now: ledger.VerifyReport
    last_run: VerificationRun | None
    flags: list[audit.Flag] | None  # None: not staff (the group's treasurer sees no flags)


def member_balances(s: Session, group: Group) -> dict[int, dict[str, int]]:
    """Per member: shares held, savings and loan owed, from the stored balances."""
    out: dict[int, dict[str, int]] = {}
    for account in ledger.balances(s, group):
        if account.member_id is None:
            continue
        row = out.setdefault(account.member_id, {"shares": 0, "savings": 0, "loan": 0})
        if account.code == "member_shares":
            row["shares"] += account.units
            row["savings"] -= account.balance
        elif account.code == "loans_receivable":
            row["loan"] += account.balance
    return out


def group_page(s: Session, actor: Actor, group_id: int, t: Words, *, after: int | None = None,
               journal_limit: int = JOURNAL_PAGE) -> GroupPage:
    """Members with balances, meetings, loans, a page of the journal, verification and flags.
    Raises group.not_found (also outside the actor's scope), permission.*."""
    group = groups.get_group(s, actor, group_id)
    can_read_group(actor, group)
    money = group.currency
    base = f"/console/groups/{group.id}"
    balances = member_balances(s, group)
    members = Table("members", t("Members"), [t("No."), t("Name"), t("Gender"), t("Role"), t("Status"),
                                               t("Shares"), t("Savings"), t("Loan owed")],
                    numeric=frozenset({0, 5, 6, 7}),
                    csv_columns=["number", "name", "gender", "role", "status", "shares", "savings",
                                 "loan_owed"])
    names = {}
    for m in queries.members(s, actor, group):
        names[m.id] = m.name
        b = balances.get(m.id, {"shares": 0, "savings": 0, "loan": 0})
        members.add([m.number, m.name, t(m.gender or "–"), t(m.role), t(m.status), b["shares"],
                     Money(b["savings"], money), Money(b["loan"], money)], link=f"{base}/members/{m.id}")

    variance: dict[int, int] = {}
    for entry in s.scalars(select(Entry).where(Entry.group_id == group.id, Entry.kind == "cash_variance")):
        d = entry.details or {}
        variance[entry.meeting_id or 0] = variance.get(entry.meeting_id or 0, 0) + \
            int(d.get("counted", 0)) - int(d.get("expected", 0))
    meetings = Table("meetings", t("Meetings"), [t("No."), t("Date"), t("Status"), t("Present"),
                                                 t("Attendance"), t("Loan fund counted"), t("Cash variance")],
                     numeric=frozenset({0, 3, 4, 5, 6}),
                     csv_columns=["number", "date", "status", "present", "attendance", "loan_fund_counted",
                                  "cash_variance"])
    for mt in reversed(queries.meetings(s, actor, group)):
        rate = Ratio(Decimal(mt.present_count) / Decimal(mt.active_count) if mt.active_count else None)
        counted = Money(mt.counted_loan_fund, money) if mt.counted_loan_fund is not None else None
        present = f"{t.number(mt.present_count)}/{t.number(mt.active_count)}"
        meetings.add([mt.number, mt.date, t(mt.status), present, rate, counted,
                      Money(variance.get(mt.id, 0), money) if mt.status == "closed" else None])

    loans = loan_table(t, queries.loans(s, actor, group), money, names)
    page = queries.journal(s, actor, group, after=after, limit=journal_limit)
    journal = journal_table(t, page["items"], money, names)
    if page["next_cursor"] is not None:
        journal.more = f"{base}?after={page['next_cursor']}#journal"

    flags: list[audit.Flag] | None = None
    last_run = None
    if actor.role in ("admin", "auditor"):
        flags = audit.group_flags(s, actor, group.id, verify=False).flags
        last_run = s.scalars(select(VerificationRun).where(
            VerificationRun.programme_id == group.programme_id,
            VerificationRun.scope.in_(("programme", "all")))
            .order_by(VerificationRun.started_at.desc(), VerificationRun.id.desc()).limit(1)).first()
    flag_table = Table("flags", t("Flags"), [t("Flag"), t("Severity"), t("What was found"), t("Facts")],
                       csv_columns=["code", "severity", "message", "facts"])
    for f in flags or []:
        facts = "; ".join(f"{k}: {t.value(v) if not isinstance(v, list | dict) else len(v)}"
                          for k, v in f.facts.items())
        flag_table.add([t(FLAG_LABELS.get(f.code, f.code)), t(f.severity), f.message, facts])
    return GroupPage(group=group, verified_now=ledger.verify(s, group), last_run=last_run, flags=flags,
                     tables={"members": members, "meetings": meetings, "loans": loans, "journal": journal,
                             "flags": flag_table})


def loan_table(t: Words, rows: list[Any], money: str, names: dict[int, str]) -> Table:
    loans = Table("loans", t("Loans"), [t("Member"), t("Issued"), t("Due"), t("Principal"), t("Charged"),
                                         t("Repaid"), t("Rollovers"), t("State")],
                  numeric=frozenset({3, 4, 5, 6}),
                  csv_columns=["member", "issued_on", "due_on", "principal", "charged", "repaid", "rollovers",
                               "status"])
    for loan in rows:
        loans.add([names.get(loan.member_id, loan.member_id), loan.issued_on, loan.due_on,
                   Money(loan.principal, money), Money(loan.charged, money),
                   Money(loan.repaid_charge + loan.repaid_principal, money), loan.rollovers, t(loan.status)])
    return loans


def journal_table(t: Words, entries: list[Entry], money: str, names: dict[int, str]) -> Table:
    journal = Table("journal", t("Journal"), [t("No."), t("Date"), t("Kind"), t("Member"), t("Amount"),
                                              t("Memo"), t("Channel")], numeric=frozenset({0, 4}),
                    csv_columns=["seq", "date", "kind", "member", "amount", "memo", "channel"])
    for e in entries:
        amount = max((abs(p.amount) for p in e.postings), default=0)
        journal.add([e.seq, e.effective_date, t(e.kind), names.get(e.member_id or 0, ""),
                     Money(amount, money), e.memo or "", e.channel])
    return journal


def whole_journal(s: Session, actor: Actor, group: Group, t: Words) -> Table:
    """Every entry of the group's journal (the CSV download of the paged table)."""
    names = {m.id: m.name for m in queries.members(s, actor, group)}
    entries: list[Entry] = []
    after = None
    while True:
        page = queries.journal(s, actor, group, after=after, limit=1000)
        entries.extend(page["items"])
        after = page["next_cursor"]
        if after is None:
            return journal_table(t, entries, group.currency, names)


# --- a member --------------------------------------------------------------------------------------


@dataclass
class MemberPage:
    group: Group
    member: Member
    position: statements.Position
    tables: dict[str, Table]


def member_page(s: Session, actor: Actor, group_id: int, member_id: int, t: Words) -> MemberPage:
    """The member's statement with running totals, loans and payouts. Raises group.not_found,
    member.not_found (also outside the actor's scope)."""
    group = groups.get_group(s, actor, group_id)
    member = groups.get_member(s, actor, group, member_id)
    data = statements.member_statement(s, actor, group, member)
    statement = Table("statement", t("Statement"), [t("No."), t("Date"), t("Kind"), t("Amount"), t("Shares"),
                                                    t("Savings"), t("Loan owed"), t("Social fund")],
                      numeric=frozenset({0, 3, 4, 5, 6, 7}),
                      csv_columns=["seq", "date", "kind", "amount", "shares", "savings", "loan_owed",
                                   "social_fund"])
    payouts = Table("payouts", t("Payouts"), [t("Date"), t("Kind"), t("Amount")], numeric=frozenset({2}),
                    csv_columns=["date", "kind", "amount"])
    for line in data["lines"]:
        e = line.entry
        statement.add([e.seq, e.effective_date, t(e.kind), line.amount, line.shares, line.savings,
                       line.loan_balance, line.social_fund])
        if e.kind in ("share_out", "member_exit"):
            payouts.add([e.effective_date, t(e.kind), line.amount])
    loans = loan_table(t, queries.loans(s, actor, group, member_id=member.id), group.currency,
                       {member.id: member.name})
    return MemberPage(group=group, member=member, position=data["position"],
                      tables={"statement": statement, "loans": loans, "payouts": payouts})


# --- the outbox ------------------------------------------------------------------------------------


@dataclass
class OutboxPage:
    programme: Programme
    counts: dict[str, int]
    problems: Table
    ids: list[int]  # the message of each row (the retry buttons)
    can_retry: bool


def _staff_programme(s: Session, actor: Actor) -> Programme:
    """The actor's programme when they are its staff (the outbox and the import are staff pages).
    Raises permission.staff_only for a treasurer or member, programme.not_found for an operator."""
    if actor.role not in ("admin", "auditor") or actor.programme_id is None:
        raise PermissionDenied("permission.staff_only", "Only programme staff may read this", role=actor.role)
    return metrics.staff_programme(s, actor, actor.programme_id)


def outbox_page(s: Session, actor: Actor, t: Words, *, limit: int = 100) -> OutboxPage:
    """Counts by status and the failed, held and uncertain messages of the actor's programme,
    through the API's outbox service (the same scope and permission checks)."""
    programme = _staff_programme(s, actor)
    report = outbox_views.summary_for(s, actor, None, limit)
    problems = Table("outbox", t("Failed and held messages"),
                     [t("No."), t("Group"), t("Kind"), t("Phone"), t("Status"), t("Attempts"), t("Reason"),
                      t("Updated")], numeric=frozenset({0, 5}),
                     csv_columns=["id", "group_id", "kind", "phone", "status", "attempts", "reason",
                                  "updated_at"])
    ids = []
    for p in report["problems"]:
        ids.append(p["id"])
        problems.add([p["id"], p["group_id"], t(p["kind"]), p["phone"], t(p["status"]), p["attempts"],
                      p["reason"] or "", p["updated_at"]],
                     link=f"/console/groups/{p['group_id']}" if p["group_id"] else None)
    return OutboxPage(programme=programme, counts=report["counts"], problems=problems, ids=ids,
                      can_retry=actor.role == "admin")


def retry_message(s: Session, actor: Actor, message_id: int) -> None:
    """Send a failed, held or uncertain message again (the programme's admins), through the API's
    outbox retry. Raises outbox.not_found (also another programme's message), permission.* (an
    auditor), outbox.not_retryable."""
    _staff_programme(s, actor)
    outbox_views.retry_for(s, actor, message_id)


# --- the import ------------------------------------------------------------------------------------


def import_tables(t: Words, report: Any) -> dict[str, Table]:
    """The report of an import (dry run or real) as two tables: its groups and its row errors."""
    groups_t = Table("import-groups", t("Groups in the file"),
                     [t("Row"), t("Group"), t("Village"), t("Outcome"), t("Members added"),
                      t("Members already there")], numeric=frozenset({0, 4, 5}),
                     csv_columns=["row", "group", "village", "status", "members_created",
                                  "members_unchanged"])
    for g in report.groups:
        groups_t.add([g.row, g.name, g.village or "", t(g.status), g.members_created, g.members_unchanged])
    errors = Table("import-errors", t("Problems in the file"), [t("Row"), t("Column"), t("Problem")],
                   numeric=frozenset({0}), csv_columns=["row", "column", "message"])
    for e in report.errors:
        errors.add([e.row, e.column or "", e.message])
    return {"groups": groups_t, "errors": errors}


def import_allowed(actor: Actor, s: Session | None = None) -> Programme | None:
    """Only a programme's admins import (as the API's import route). Raises permission.*; with a
    session, returns the programme."""
    if actor.role != "admin" or actor.programme_id is None:
        raise PermissionDenied("permission.admin_only", "Only the programme's admins import groups",
                               role=actor.role)
    can_administer(actor, programme_id=actor.programme_id)
    return metrics.staff_programme(s, actor, actor.programme_id) if s is not None else None

"""The treasurer's menu: open the meeting, the business of the meeting, undo, close, balances."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from functools import partial

from sqlalchemy import func, select

from vision_ledger import groups, meetings, reversals
from vision_ledger.errors import DomainError
from vision_ledger.models import Account, Entry, Meeting, Member
from vision_ledger.money import Money

from . import treasurer_actions as actions
from .confirm import Confirm, gate
from .meeting_flow import flow_start
from .member_menu import KIND_LABELS, Info, MemberHome, entry_amount
from .menus import Choice, Menu
from .models import Done
from .session import Ask, Ctx, Node, Page, Result, Stay, Who, back_line, name_of
from .texts import fits, marker, refusal, short

MORE = "98"
ROUND_LABEL = marker("1 Savings round  00 Menu")


class TreasurerHome(Menu):
    """Before the meeting: open it. During the meeting: its business, on pages of at most six
    choices (98 = more; shorter where a page would not fit)."""

    name = "treasurer_home"
    more_name = "treasurer_more"
    first_page = 6

    def title(self, ctx: Ctx) -> str:
        t = self.t
        group = short(self.who.group.name, 16)
        if not self.who.walk_open:
            return t("{group}: treasurer", group=group)
        return t("{group}: meeting open", group=group)

    def items(self, ctx: Ctx) -> list[Choice]:
        who = self.who
        if not who.walk_open:
            return [(marker("Open meeting"), lambda: gate(who, lambda: open_meeting(who))),
                    (marker("Group balance"), lambda: Info(who, "group_balance", group_balance_lines)),
                    (marker("My account"), lambda: MemberHome(who))]
        business: list[tuple[str, Callable[[Who], Node]]] = [
            (marker("Savings round"), flow_start), (marker("Shares"), actions.shares),
            (marker("Social fund"), actions.social_fund), (marker("Repayment"), actions.repayment),
            (marker("New loan"), actions.new_loan), (marker("Fine"), actions.fine),
            (marker("Welfare"), actions.welfare), (marker("Undo last entry"), undo),
            (marker("Close meeting"), close_meeting),
        ]
        items: list[Choice] = [(label, partial(gate, who, partial(make, who))) for label, make in business]
        items.append((marker("Group balance"), lambda: Info(who, "group_balance", group_balance_lines)))
        items.append((marker("My account"), lambda: MemberHome(who)))
        return items

    @property
    # Menu.per_page is a class setting; the treasurer's home computes it (mypy: a property over an attribute).
    def per_page(self) -> int | None:  # type: ignore[override]
        return self.first_page if self.who.walk_open else None

    def more_key(self, ctx: Ctx) -> str:
        return MORE


# --- balances ---------------------------------------------------------------------------------


def group_balance_lines(ctx: Ctx, who: Who) -> list[str]:
    t = who.t
    rows = ctx.session.execute(
        select(Account.code, func.sum(Account.balance), func.sum(Account.units))
        .where(Account.group_id == who.group.id).group_by(Account.code)).all()
    sums = {code: (int(bal or 0), int(units or 0)) for code, bal, units in rows}
    shares, units = sums.get("member_shares", (0, 0))
    return [
        t("Loan fund cash: {amount}", amount=t.money(sums.get("loan_fund_cash", (0, 0))[0])),
        t("Social fund cash: {amount}", amount=t.money(sums.get("social_fund_cash", (0, 0))[0])),
        t("Loans out: {amount}", amount=t.money(sums.get("loans_receivable", (0, 0))[0])),
        t("Shares: {shares} = {value}", shares=t.digits(units), value=t.money(-shares)),
    ]


# --- opening the meeting ----------------------------------------------------------------------


DAYS_BACK = meetings.LATE_MEETING_DAYS  # the core's limit on a meeting recorded late by phone


def open_meeting(who: Who) -> Node:
    t = who.t

    def answer(ctx: Ctx, value: str) -> Node | Stay:
        if value == "1":
            return _open_confirm(who, [])
        if value == "2":
            return Absent(who, [])
        if value == "3":
            return _meeting_day(who)
        return Stay(t("Choose one of the options."))

    return Ask(who, "open_meeting", lambda ctx: [t("Open the meeting."), t("1 All present"),
                                                 t("2 Some absent"), t("3 An earlier day")], answer)


def _meeting_day(who: Who) -> Node:
    """A meeting held on an earlier day: 1 to 7 days back, not before the group's last meeting
    nor its cycle's start (the core holds the same rules); its date is shown to confirm."""
    t = who.t
    today = meetings.local_today(who.group, who.ctx.now)

    def answer(ctx: Ctx, value: str) -> Node | Stay:
        if not (value.isdigit() and 1 <= int(value) <= DAYS_BACK):
            return Stay(t("Enter 1 to {high}.", high=DAYS_BACK))
        day = today - timedelta(days=int(value))
        last = ctx.session.scalar(select(func.max(Meeting.date)).where(Meeting.group_id == who.group.id))
        if last is not None and day < last:
            return Stay(refusal(t, DomainError("meeting.date_before_last", "before the last meeting")))
        cycle = who.cycle
        if cycle is not None and day < cycle.start_date:
            return Stay(refusal(t, DomainError("meeting.before_cycle", "before the cycle")))

        def attendance(ctx: Ctx, v: str) -> Node | Stay:
            if v == "1":
                return _open_confirm(who, [], day)
            if v == "2":
                return Absent(who, [], day)
            return Stay(t("Choose one of the options."))

        return Ask(who, "open_attendance", lambda ctx: [
            t("Meeting of {date}.", date=t.date(day)), t("1 All present"), t("2 Some absent")], attendance)

    return Ask(who, "meeting_day", lambda ctx: [t("Meeting held earlier."),
                                                t("How many days ago (1-{high})?", high=DAYS_BACK)], answer)


class Absent(Node):
    """Absent members one number at a time (or several typed as 3*7); 0 = done."""

    name = "absent"
    takes_zero = True

    def __init__(self, who: Who, absent: list[Member], day: date | None = None) -> None:
        super().__init__(who)
        self.absent = absent
        self.day = day  # an earlier day's meeting; None: today

    def render(self, ctx: Ctx) -> Page:
        t = self.t
        listed = " ".join(str(m.number) for m in self.absent[-12:]) or "-"
        return Page([t("Absent: {numbers}", numbers=listed), t("Number of an absent member, 0 = done:"),
                     back_line(t, takes_zero=True)])

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        if value == "0":
            return _open_confirm(self.who, self.absent, self.day)
        found = self.who.member_by_number(value)
        if isinstance(found, str):
            return Stay(found)
        if found in self.absent:
            return Stay()
        return Absent(self.who, [*self.absent, found], self.day)


def _open_confirm(who: Who, absent: list[Member], day: date | None = None) -> Node:
    t = who.t
    active = groups.active_count(who.ctx.session, who.group.id)
    today = day or meetings.local_today(who.group, who.ctx.now)

    def execute(ctx: Ctx) -> Node:
        key = ctx.key(":open")
        record = ctx.session.get(Done, key)
        if record is None:
            meeting, refused = ctx.act(who, lambda: meetings.open_meeting(
                ctx.session, who.treasurer, who.group, absent_member_ids=[m.id for m in absent],
                meeting_date=day))
            if refused is not None:
                return Result(who, "open_refused", [refused], lambda: open_meeting(who))
            ctx.session.add(Done(key=key, session_id=ctx.sid, member_id=who.member.id, kind="open",
                                 result={"meeting": meeting.id}))
            ctx.session.flush()
            who.forget()
        else:
            meeting = ctx.session.get(Meeting, record.result["meeting"])
        who.set_walk_open(True)
        return Result(who, "meeting_opened", [
            t("Meeting open: {present} present.", present=t.digits(meeting.present_count)),
            t("Loan fund {loan}, social fund {social}.", loan=t.money(meeting.opening_loan_fund),
              social=t.money(meeting.opening_social_fund))], start_round, ROUND_LABEL)

    def passed(ctx: Ctx) -> None:
        if who.done_here(ctx.key(":open")) is not None:
            who.set_walk_open(True)

    def start_round() -> Node:
        return gate(who, lambda: flow_start(who))

    return Confirm(who, "open_confirm", [t("Open meeting {date}: {present} of {active} present.",
                                           date=t.date(today), present=t.digits(active - len(absent)),
                                           active=t.digits(active))], execute, start_round,
                   passed=passed, again_label=ROUND_LABEL)


# --- undo -------------------------------------------------------------------------------------


def undo(who: Who) -> Node:
    t = who.t
    session = who.ctx.session
    last = reversals.last_reversible_entry(session, who.group)

    def lines(ctx: Ctx) -> list[str]:
        if last is None:
            return [t("Nothing to undo."), t("0 Back  00 Menu")]
        kind = t(KIND_LABELS.get(last.kind, last.kind))
        return [t("Last: #{seq} {kind} {name} {amount}", seq=last.seq, kind=kind,
                  name=_member_label(who, last.member_id), amount=t.money(entry_amount(last))),
                t("Type {seq} to undo it:", seq=last.seq)]

    def answer(ctx: Ctx, value: str) -> Node | Stay:
        entry = _entry_to_undo(who, value, last)
        if entry is None:
            return Stay(t("Choose one of the options.") if last is None else
                        t("Type {seq} to undo it:", seq=last.seq))

        def execute(ctx: Ctx) -> Node:
            reversal, refused = ctx.act(who, lambda: reversals.reverse_entry(
                ctx.session, who.treasurer, who.group, entry, "Undone by the treasurer on USSD",
                idempotency_key=ctx.key()))
            if refused is not None:
                return Result(who, "undo_refused", [refused])
            return Result(who, "undo_done", [t("Undone: #{seq} ({new}).", seq=entry.seq,
                                               new=f"#{reversal.seq}")])

        return Confirm(who, "undo_confirm", [t("Undo #{seq} {kind} {amount}.", seq=entry.seq,
                                               kind=t(KIND_LABELS.get(entry.kind, entry.kind)),
                                               amount=t.money(entry_amount(entry)))], execute)

    return Ask(who, "undo", lines, answer)


def _entry_to_undo(who: Who, value: str, last: Entry | None) -> Entry | None:
    """The entry the typed number names: the last entry that can be undone - unless the walk is
    passing an input this session already acted on (an undo made later in the text changed which
    entry is last): then only an entry this session undid."""
    ctx = who.ctx
    if not value.isdigit() or len(value) > 12 or who.meeting is None:
        return None
    prefix = f"ussd:{ctx.sid}:"
    undone = {key: reversed_id for key, reversed_id in ctx.session.execute(
        select(Entry.idempotency_key, Entry.reverses_id).where(
            Entry.meeting_id == who.meeting.id, Entry.kind == "reversal")) if key.startswith(prefix)}
    later = {ctx.key_at(j) for j in range(ctx.index + 1, len(ctx.inputs))}
    if last is not None and value == str(last.seq) and not later & set(undone):
        return last
    entry = ctx.session.scalars(select(Entry).where(
        Entry.group_id == who.group.id, Entry.seq == int(value))).first()
    return entry if entry is not None and entry.id in undone.values() else None


def _member_label(who: Who, member_id: int | None) -> str:
    if member_id is None:
        return ""
    member = who.ctx.session.get(Member, member_id)
    return name_of(member) if member else ""


# --- closing the meeting ----------------------------------------------------------------------

RECOUNT = "0"  # the variance page's way back: count again
VARIANCE_REASONS = (marker("Counting error"), marker("Cash missing"), marker("Cash extra"),
                    marker("Other"))


def close_meeting(who: Who) -> Node:
    t = who.t

    def loan_answer(ctx: Ctx, value: str) -> Node | Stay:
        counted = _count(who, value)
        if isinstance(counted, str):
            return Stay(counted)
        return Ask(who, "count_social", lambda ctx: [t("Count the social fund bag."), t("Amount:")],
                   lambda ctx, v: _social_answer(who, counted, v), takes_zero=True)

    return Ask(who, "count_loan_fund", lambda ctx: [t("Close the meeting."), t("Count the loan fund bag."),
                                                    t("Amount:")], loan_answer, takes_zero=True)


def _count(who: Who, value: str) -> Money | str:
    if value == "0":
        return Money(0, who.group.currency)
    return actions.parse_amount(who, value)


def _social_answer(who: Who, counted_loan: Money, value: str) -> Node | Stay:
    t = who.t
    counted_social = _count(who, value)
    if isinstance(counted_social, str):
        return Stay(counted_social)
    expected_loan, expected_social = _expected(who)
    if counted_loan == expected_loan and counted_social == expected_social:
        return _close_confirm(who, counted_loan, counted_social, None)
    differs = t("Differs from the books: loan fund {loan}, social fund {social}.",
                loan=t.money(counted_loan - expected_loan), social=t.money(counted_social - expected_social))

    def answer(ctx: Ctx, v: str) -> Node | Stay:
        if v == RECOUNT:  # a mistyped count is counted again before any variance is recorded
            return close_meeting(who)
        if not (v.isdigit() and 1 <= int(v) <= len(VARIANCE_REASONS)):
            return Stay(t("Choose one of the options."))
        return _close_confirm(who, counted_loan, counted_social, VARIANCE_REASONS[int(v) - 1])

    def lines(ctx: Ctx) -> list[str]:
        # The page's way back is "0 Count again": back to the counts, before any reason is kept.
        options = [f"{i} {t(r)}" for i, r in enumerate(VARIANCE_REASONS, 1)]
        recount = t("0 Count again")
        pages = ([differs, t("Or the reason:"), *options, recount],
                 [differs, " ".join([t("Or the reason:"), *options]), recount],
                 [differs, " ".join(options), recount],
                 [differs, " ".join([recount, *options])])
        # Arabic's 80 characters: the options share a line (the last form is cut if it must be).
        return next((page for page in pages if fits("\n".join(page))), pages[-1])

    return Ask(who, "variance_reason", lines, answer, takes_zero=True)


def _expected(who: Who) -> tuple[Money, Money]:
    """The books' cash to compare the counts with: as they stood when this session closed the
    meeting, if it did (the walk passes that close again), else as they stand."""
    for record in who.session_records().values():
        if record.kind == "close" and "expected_loan" in record.result:
            return (Money(record.result["expected_loan"], who.group.currency),
                    Money(record.result["expected_social"], who.group.currency))
    return meetings.expected_cash(who.ctx.session, who.group)


def _close_confirm(who: Who, loan: Money, social: Money, reason: str | None) -> Node:
    t = who.t

    def execute(ctx: Ctx) -> Node:
        key = ctx.key(":close")
        record = ctx.session.get(Done, key)
        if record is None:
            expected_loan, expected_social = meetings.expected_cash(ctx.session, who.group)
            meeting, refused = ctx.act(who, lambda: meetings.close_meeting(
                ctx.session, who.treasurer, who.group, counted_loan_fund=loan, counted_social_fund=social,
                variance_reason=reason))
            if refused is not None:
                return Result(who, "close_refused", [refused])
            ctx.session.add(Done(key=key, session_id=ctx.sid, member_id=who.member.id, kind="close",
                                 result={"meeting": meeting.id, "expected_loan": expected_loan.minor,
                                         "expected_social": expected_social.minor}))
            ctx.session.flush()
            who.forget()
        else:
            meeting = ctx.session.get(Meeting, record.result["meeting"])
        who.set_walk_open(False)
        return Result(who, "meeting_closed", [
            t("Meeting closed. Loan fund {loan}, social fund {social}.",
              loan=t.money(meeting.closing_loan_fund), social=t.money(meeting.closing_social_fund)),
            t("Statements go to members by SMS.")])

    def passed(ctx: Ctx) -> None:
        if who.done_here(ctx.key(":close")) is not None:
            who.set_walk_open(False)

    lines = [t("Close: loan fund {loan}, social fund {social}.", loan=t.money(loan), social=t.money(social))]
    if reason:
        lines.append(t("Difference recorded: {reason}.", reason=t(reason)))
    return Confirm(who, "close_confirm", lines, execute, passed=passed)


"""What every member can do: balance, last entries, statement by SMS, loan, PIN, language."""

from __future__ import annotations

from collections.abc import Callable

from vision_ledger import groups, loans, statements
from vision_ledger.models import Entry

from .confirm import PinOld, gate
from .menus import Choice, Menu
from .models import Done
from .session import Ctx, End, Node, Page, Result, Stay, Who, closing, paginate
from .texts import LANGUAGE_NAMES, LANGUAGES, Texts, marker, short

KIND_LABELS = {
    "share_purchase": marker("Shares"), "social_fund": marker("Social fund"),
    "fine": marker("Fine"), "welfare": marker("Welfare"), "loan": marker("Loan"),
    "repayment": marker("Repayment"), "service_charge": marker("Charge"),
    "rollover": marker("Rollover"), "write_off": marker("Write-off"),
    "reversal": marker("Undone"), "share_out": marker("Share-out"), "exit": marker("Exit"),
    "member_exit": marker("Exit"),
}


class MemberHome(Menu):
    name = "member_home"

    def title(self, ctx: Ctx) -> str:
        return f"{short(self.who.group.name, 16)}: {short(self.who.member.name)}"

    def items(self, ctx: Ctx) -> list[Choice]:
        who = self.who
        return [
            (marker("My balance"), lambda: gate(who, lambda: Info(who, "balance", balance_lines))),
            (marker("Last 5 entries"), lambda: gate(who, lambda: Info(who, "recent", recent_lines))),
            (marker("Statement by SMS"), lambda: gate(who, lambda: StatementAsk(who))),
            (marker("My loan"), lambda: gate(who, lambda: Info(who, "my_loan", loan_lines))),
            (marker("Change PIN"), lambda: change_pin(who)),
            (marker("Language"), lambda: LanguageAsk(who)),
        ]


def change_pin(who: Who) -> Node:
    if not who.member.pin_hash:
        return End(who, "pin_not_set", [who.t("No PIN is set. Ask your programme officer.")])
    return PinOld(who, None)


class Info(Node):
    """A page to read; 0 and 00 lead back. What does not fit one page goes on after "9 More"."""

    def __init__(self, who: Who, name: str, lines: Callable[[Ctx, Who], list[str]], page: int = 0) -> None:
        super().__init__(who)
        self.name = name
        self._lines = lines
        self.page = page

    def pages(self, ctx: Ctx) -> list[list[str]]:
        t = self.t
        return paginate(self._lines(ctx, self.who), t("9 More"), t("0 Back  00 Menu"))

    def render(self, ctx: Ctx) -> Page:
        pages = self.pages(ctx)
        index = min(self.page, len(pages) - 1)
        if index < len(pages) - 1:
            return Page([*pages[index], self.t("9 More")])
        return Page(closing(self.t, pages[index]))

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        if value == "9" and self.page < len(self.pages(ctx)) - 1:
            return Info(self.who, self.name, self._lines, self.page + 1)
        return Stay(self.t("Choose one of the options."))


def balance_lines(ctx: Ctx, who: Who) -> list[str]:
    t = who.t
    pos = statements.position(ctx.session, who.group, who.member)
    lines = [t("Shares: {shares} = {value}", shares=t.digits(pos.shares), value=t.money(pos.savings)),
             t("Social fund this cycle: {amount}", amount=t.money(pos.social_fund_paid))]
    if pos.loan_balance:
        lines.append(t("Loan: {amount} due {date}", amount=t.money(pos.loan_balance),
                       date=t.date(pos.loan_due_on)))
    else:
        lines.append(t("No loan."))
    lines.append(t("Next meeting: {date}", date=t.date(pos.next_meeting)))
    return lines


def entry_amount(entry: Entry) -> int:
    return max((abs(p.amount) for p in entry.postings), default=0)


def recent_lines(ctx: Ctx, who: Who) -> list[str]:
    t = who.t
    entries = statements.recent_entries(ctx.session, who.group, who.member, limit=5)
    if not entries:
        return [t("No entries yet.")]
    lines = [t("Last entries:")]
    for line in entries:
        entry = line.entry
        kind = t(KIND_LABELS.get(entry.kind, entry.kind))
        day = t.digits(f"{entry.effective_date.day:02d}/{entry.effective_date.month:02d}")
        # A loan reads as the principal the member received (1,000), not the 1,100 owed.
        amount = entry.details.get("principal", line.amount) if entry.kind == "loan" else line.amount
        lines.append(f"{day} {kind} {t.money(amount)}")
    # The running totals after the newest entry (the balance screen has the rest).
    newest = entries[0]
    lines.append(t("Shares: {shares} = {value}", shares=t.digits(newest.shares),
                   value=t.money(newest.savings)))
    return lines


def loan_lines(ctx: Ctx, who: Who) -> list[str]:
    t = who.t
    loan = loans.active_loan(ctx.session, who.member.id)
    if loan is None:
        return [t("You have no loan.")]
    return [t("Loan {principal} + charge {charge}", principal=t.money(loan.principal),
              charge=t.money(loan.charged)),
            t("Repaid {amount}", amount=t.money(loan.repaid_charge + loan.repaid_principal)),
            t("Owed {amount}, due {date}", amount=t.money(loan.balance), date=t.date(loan.due_on))]


class StatementAsk(Node):
    name = "statement_ask"

    def render(self, ctx: Ctx) -> Page:
        t = self.t
        return Page([t("Send your statement by SMS to {phone}?", phone=self.who.member.phone),
                     t("1 Yes  0 Back")])

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        who, t = self.who, self.t
        if value != "1":
            return Stay(t("Choose one of the options."))
        done = [t("Your statement will come by SMS.")]
        if not ctx.is_last:
            return Result(who, "statement_sent", done)
        key = ctx.key(":statement")
        if ctx.session.get(Done, key) is None:
            _, refused = ctx.act(who, lambda: statements.queue_statement(
                ctx.session, who.as_member, who.group, who.member, reason="ussd"))
            if refused:
                return Result(who, "statement_refused", [refused])
            ctx.session.add(Done(key=key, session_id=ctx.sid, member_id=who.member.id,
                                 kind="statement", result={}))
            ctx.session.flush()
        return Result(who, "statement_sent", done)


class LanguageAsk(Node):
    name = "language"

    def render(self, ctx: Ctx) -> Page:
        lines = [self.t("Language:")]
        lines += [f"{i} {LANGUAGE_NAMES[code]}" for i, code in enumerate(LANGUAGES, 1)]
        return Page(lines)

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        who = self.who
        if not (value.isdigit() and 1 <= int(value) <= len(LANGUAGES)):
            return Stay(self.t("Choose one of the options."))
        code = LANGUAGES[int(value) - 1]
        if ctx.is_last and who.member.language != code:
            _, refused = ctx.act(who, lambda: groups.update_member(
                ctx.session, who.as_member, who.group, who.member, language=code))
            if refused:
                return Result(who, "language_refused", [refused])
        t = Texts(code, who.group.currency, who.group.locale)
        return Result(who, "language_set", [t("Language: {name}", name=LANGUAGE_NAMES[code])])

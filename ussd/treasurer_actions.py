"""The treasurer's meeting business for one member at a time: shares, social fund, repayment,
new loan, fine, welfare. Each is: member number -> what -> "what will happen" + PIN -> result.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from vision_ledger import loans, meetings, purposes, savings
from vision_ledger.errors import DomainError
from vision_ledger.models import Entry, Member
from vision_ledger.money import Money

from .confirm import Confirm
from .member_menu import entry_amount
from .menus import Menu
from .session import Ask as _Ask
from .session import Ctx, Node, Page, Result, Stay, Who, back_line, name_of
from .texts import fits, marker, refusal

WELFARE_REASONS = (marker("Illness"), marker("Funeral"), marker("Birth"), marker("Disaster"),
                   marker("Other"))


def parse_amount(who: Who, value: str) -> Money | str:
    """A typed amount in the group's currency, read the way the group's locale writes it
    ("12,50" in sq_XK, "1,250" in en_KE), or the reason it is not one."""
    t = who.t
    try:
        amount = Money.read(value, who.group.currency, who.group.locale)
    except DomainError as error:
        return refusal(t, error)
    if amount.minor <= 0:
        return t("The amount must be more than zero.")
    return amount


def pick_member(who: Who, title: str, then: Callable[[Member], Node | Stay]) -> Node:
    t = who.t

    def answer(ctx: Ctx, value: str) -> Node | Stay:
        found = who.member_by_number(value)
        return Stay(found) if isinstance(found, str) else then(found)

    return _Ask(who, "pick_member", lambda ctx: [title, t("Member number:")], answer)


def done(who: Who, name: str, entry: Entry | None, refused: str | None, line: Callable[[Entry], str],
         *again: Callable[[], Node]) -> Node:
    """The result page of a posted entry (or of its refusal); `again` restarts the action."""
    restart = again[0] if again else None
    if refused is not None or entry is None:
        return Result(who, name + "_refused", [refused or ""], restart)
    return Result(who, name, [line(entry)], restart)


def saved(who: Who, entry: Entry, what: str) -> str:
    return who.t("Saved #{seq}: {what}", seq=who.t.digits(entry.seq), what=what)


# --- shares -----------------------------------------------------------------------------------


def shares(who: Who) -> Node:
    t = who.t
    return pick_member(who, t("Record shares."), lambda member: _shares_count(who, member))


def _shares_count(who: Who, member: Member) -> Node:
    t = who.t
    policy, cycle = who.policy, who.require_cycle()
    lo, hi = policy.shares_min, policy.shares_max

    def answer(ctx: Ctx, value: str) -> Node | Stay:
        if not (value.isdigit() and lo <= int(value) <= hi):
            return Stay(t("Enter {low} to {high}.", low=lo, high=hi))
        n = int(value)
        amount = Money(cycle.share_price * n, who.group.currency)

        def execute(ctx: Ctx) -> Node:
            entry, refused = ctx.act(who, lambda: savings.buy_shares(
                ctx.session, who.treasurer, who.group, member, n, idempotency_key=ctx.key()))
            return done(who, "shares_done", entry, refused, lambda e: saved(who, e, t.n(
                "{name} {n} share = {amount}", "{name} {n} shares = {amount}",
                int(e.details.get("shares", n)), name=name_of(member),
                amount=t.money(entry_amount(e)))), lambda: shares(who))

        return Confirm(who, "shares_confirm", [t.n("{name}: {n} share = {amount}.",
                                                   "{name}: {n} shares = {amount}.", n,
                                                   name=name_of(member), amount=t.money(amount))],
                       execute, lambda: shares(who))

    return _Ask(who, "shares_count", lambda ctx: [
        t("{name}: how many shares ({low}-{high})?", name=name_of(member), low=lo, high=hi)], answer)


# --- social fund ------------------------------------------------------------------------------


def social_fund(who: Who) -> Node:
    t = who.t

    def then(member: Member) -> Node:
        amount = Money(who.require_cycle().social_fund_contribution, who.group.currency)

        def execute(ctx: Ctx) -> Node:
            entry, refused = ctx.act(who, lambda: savings.pay_social_fund(
                ctx.session, who.treasurer, who.group, member, idempotency_key=ctx.key()))
            return done(who, "social_done", entry, refused, lambda e: saved(who, e, t(
                "{name} social fund {amount}", name=name_of(member), amount=t.money(entry_amount(e)))),
                lambda: social_fund(who))

        return Confirm(who, "social_confirm", [t("{name}: social fund {amount}.", name=name_of(member),
                                                 amount=t.money(amount))], execute, lambda: social_fund(who))

    return pick_member(who, t("Social fund."), then)


# --- repayment --------------------------------------------------------------------------------
# Pages move on what was typed and on settings that do not change during a session (bounds of the
# policy); what the books say now (the loan's balance, cash on hand) is shown on the confirmation,
# which then offers only "back" - so the walk of an earlier text never depends on what the session
# itself changed.


def repayment(who: Who) -> Node:
    t = who.t

    def then(member: Member) -> Node:
        if _nothing_to_repay(who, member):
            return Result(who, "repay_no_loan", [t("{name} has no loan.", name=name_of(member))],
                          lambda: repayment(who))

        def owed() -> Money | None:
            loan = loans.active_loan(who.ctx.session, member.id)
            return Money(loan.balance, who.group.currency) if loan else None

        def lines(ctx: Ctx) -> list[str]:
            left = owed()
            head = t("{name} owes {owed}.", name=name_of(member), owed=t.money(left)) if left else \
                t("{name} has no loan.", name=name_of(member))
            return [head, t("Amount paid:")]

        def answer(ctx: Ctx, value: str) -> Node | Stay:
            amount = parse_amount(who, value)
            if isinstance(amount, str):
                return Stay(amount)

            def check() -> str | None:
                left = owed()
                if left is None:
                    return t("The member has no loan to repay.")
                if amount > left:
                    return t("More than the {owed} owed.", owed=t.money(left))
                return None

            def execute(ctx: Ctx) -> Node:
                entry, refused = ctx.act(who, lambda: loans.repay_loan(
                    ctx.session, who.treasurer, who.group, member, amount, idempotency_key=ctx.key()))
                return done(who, "repay_done", entry, refused, lambda e: saved(who, e, t(
                    "{name} repaid {amount}", name=name_of(member), amount=t.money(entry_amount(e)))),
                    lambda: repayment(who))

            return Confirm(who, "repay_confirm", [t("{name} repays {amount}.", name=name_of(member),
                                                    amount=t.money(amount))],
                           execute, lambda: repayment(who), check=check, blocking=True)

        return _Ask(who, "repay_amount", lines, answer)

    return pick_member(who, t("Loan repayment."), then)


def _nothing_to_repay(who: Who, member: Member) -> bool:
    """No active loan and nothing repaid at this meeting: no amount to ask for. (A loan repaid in
    full at this meeting still leads to the amount page, so a walk passing that repayment again
    takes the same pages; its confirmation then says there is no loan.)"""
    session, meeting = who.ctx.session, who.meeting
    if loans.active_loan(session, member.id) is not None:
        return False
    if meeting is None:
        return True
    return session.scalar(select(Entry.id).where(
        Entry.meeting_id == meeting.id, Entry.member_id == member.id,
        Entry.kind == "repayment").limit(1)) is None


# --- new loan ---------------------------------------------------------------------------------


def new_loan(who: Who) -> Node:
    """Member -> amount -> purpose (one keypress) -> "what will happen" + PIN -> result."""
    t = who.t

    def then(member: Member) -> Node:
        policy = who.policy
        lo, hi = Money(policy.loan_min, who.group.currency), Money(policy.loan_max, who.group.currency)

        def answer(ctx: Ctx, value: str) -> Node | Stay:
            principal = parse_amount(who, value)
            if isinstance(principal, str):
                return Stay(principal)
            if principal < lo:
                return Stay(t("Loan below the group minimum of {minimum}.", minimum=t.money(lo)))
            if principal > hi:
                return Stay(t("Loan above the group maximum of {maximum}.", maximum=t.money(hi)))
            return LoanPurposePick(who, member, principal)

        return _Ask(who, "loan_amount", lambda ctx: [
            t("{name}: loan amount ({low} to {high})?", name=name_of(member), low=t.money(lo),
              high=t.money(hi))], answer)

    return pick_member(who, t("New loan."), then)


class LoanPurposePick(Menu):
    """The programme's loan purposes, numbered in its order; pages that do not fit (Arabic's 80
    characters) go on with "98 More", and every number works on every page, so any purpose is one
    keypress for a treasurer who knows its number. Not a menu to come back to after the loan."""

    name = "loan_purpose"
    more_name = "loan_purpose_more"

    def __init__(self, who: Who, member: Member, principal: Money) -> None:
        super().__init__(who)
        self.is_menu = False
        self.member = member
        self.principal = principal

    def title(self, ctx: Ctx) -> str:
        return self.t("Purpose of the loan:")

    def render(self, ctx: Ctx) -> Page:
        page = super().render(ctx)
        with_back = [*page.lines, back_line(self.t, takes_zero=False)]
        return Page(with_back) if fits("\n".join(with_back)) else page

    def items(self, ctx: Ctx) -> list[tuple[str, Callable[[], Node]]]:
        listed = purposes.programme_purposes(ctx.session, self.who.group.programme_id)
        def choose(purpose: purposes.Purpose) -> Callable[[], Node]:
            return lambda: _loan_confirm(self.who, self.member, self.principal, purpose)

        return [(p.title(self.t.language), choose(p)) for p in listed]


def _loan_confirm(who: Who, member: Member, principal: Money, purpose: purposes.Purpose) -> Node:
    t = who.t
    ctx = who.ctx
    policy = who.policy
    cycle = who.require_cycle()
    day = who.meeting.date if who.meeting else meetings.local_today(who.group, ctx.now)
    quote = loans.quote(cycle, policy, principal, day)

    def check() -> str | None:
        try:
            loans.check_loan(ctx.session, who.group, cycle, policy, member, principal, day)
        except DomainError as error:
            return refusal(t, error)
        return None

    def execute(ctx: Ctx) -> Node:
        loan, refused = ctx.act(who, lambda: loans.disburse_loan(
            ctx.session, who.treasurer, who.group, member, principal, purpose=purpose.code,
            idempotency_key=ctx.key()))
        if refused is not None:
            return Result(who, "loan_refused", [refused], lambda: new_loan(who))
        return Result(who, "loan_done", [t(
            "Loan saved: {name} gets {amount}, owes {total} by {date}.", name=name_of(member),
            amount=t.money(loan.principal), total=t.money(loan.principal + loan.charged),
            date=t.date(loan.due_on))], lambda: new_loan(who))

    lines = [t("{name}: loan {amount} + charge {charge} = {total}, due {date}.", name=name_of(member),
               amount=t.money(quote.principal), charge=t.money(quote.charge),
               total=t.money(quote.total), date=t.date(quote.due_on))]
    # The purpose is named when the page has room for it with the PIN prompt (Arabic's 80
    # characters often have none: the treasurer chose it on the page before).
    named = [*lines, t("For: {purpose}", purpose=purpose.title(t.language))]
    if fits("\n".join([*named, t("PIN to confirm:")])):
        lines = named
    return Confirm(who, "loan_confirm", lines, execute, lambda: new_loan(who), check=check)


# --- fine -------------------------------------------------------------------------------------


def fine(who: Who) -> Node:
    t = who.t

    def then(member: Member) -> Node | Stay:
        table = sorted(who.require_cycle().fines.items())[:6]
        if not table:
            return Stay(t("The group has no such fine."))

        def answer(ctx: Ctx, value: str) -> Node | Stay:
            if not (value.isdigit() and 1 <= int(value) <= len(table)):
                return Stay(t("Choose one of the options."))
            name, minor = table[int(value) - 1]

            def execute(ctx: Ctx) -> Node:
                entry, refused = ctx.act(who, lambda: savings.charge_fine(
                    ctx.session, who.treasurer, who.group, member, name, idempotency_key=ctx.key()))
                return done(who, "fine_done", entry, refused, lambda e: saved(who, e, t(
                    "{name} fine {fine} {amount}", name=name_of(member), fine=name,
                    amount=t.money(entry_amount(e)))), lambda: fine(who))

            return Confirm(who, "fine_confirm", [t("{name}: fine {fine} {amount}.", name=name_of(member),
                                                   fine=name, amount=t.money(minor))],
                           execute, lambda: fine(who))

        return _Ask(who, "fine_pick", lambda ctx: [
            t("Fine for {name}:", name=name_of(member)),
            *(f"{i} {n[:12]} {t.money(m)}" for i, (n, m) in enumerate(table, 1))], answer)

    return pick_member(who, t("Fine."), then)


# --- welfare ----------------------------------------------------------------------------------


def welfare(who: Who) -> Node:
    t = who.t

    def then(member: Member) -> Node:
        def amount_answer(ctx: Ctx, value: str) -> Node | Stay:
            amount = parse_amount(who, value)
            if isinstance(amount, str):
                return Stay(amount)
            return _Ask(who, "welfare_reason", lambda ctx: [t("Welfare for:"), *(
                f"{i} {t(r)}" for i, r in enumerate(WELFARE_REASONS, 1))],
                lambda ctx, v: _welfare_confirm(who, member, amount, v))

        return _Ask(who, "welfare_amount", lambda ctx: [
            t("Welfare for {name}.", name=name_of(member)), t("Amount:")], amount_answer)

    return pick_member(who, t("Welfare payout."), then)


def _welfare_confirm(who: Who, member: Member, amount: Money, value: str) -> Node | Stay:
    t = who.t
    if not (value.isdigit() and 1 <= int(value) <= len(WELFARE_REASONS)):
        return Stay(t("Choose one of the options."))
    reason = WELFARE_REASONS[int(value) - 1]  # kept in English in the books (the memo)

    def execute(ctx: Ctx) -> Node:
        entry, refused = ctx.act(who, lambda: savings.pay_welfare(
            ctx.session, who.treasurer, who.group, member, amount, reason, idempotency_key=ctx.key()))
        return done(who, "welfare_done", entry, refused, lambda e: saved(who, e, t(
            "{name} welfare {amount}", name=name_of(member), amount=t.money(entry_amount(e)))),
            lambda: welfare(who))

    return Confirm(who, "welfare_confirm", [t("{name}: welfare {amount} ({reason}).", name=name_of(member),
                                              amount=t.money(amount), reason=t(reason))],
                   execute, lambda: welfare(who))

"""The savings round: after the PIN (once), the treasurer goes member by member.

The next present member not yet recorded is proposed ("4 Juma: shares 1-5?"); one input records
that member's shares and the cycle's social-fund contribution (a trailing 0 leaves the social fund
unpaid: 30 = 3 shares only; 0 alone = nothing, kept as a marker in `ussd_skips`), and the next
member follows.

Who is next is read from the books, not from the text: the present members without a standing
share purchase or social-fund entry in the open meeting and without a marker. So a dropped
session loses nothing and the next session resumes where the books stand. Each input posts with
keys made from (session id, text up to it): a retried hop finds its entries and shows the same
page; earlier inputs of the text were acted on by their own hops and are passed by.
"""

from __future__ import annotations

from sqlalchemy import select

from vision_ledger import savings
from vision_ledger.models import Attendance, Entry, Member

from . import pin_auth
from .models import Skip
from .session import Ask, Ctx, Node, Page, Stay, Who, name_of
from .texts import fits

ROUND_KINDS = ("share_purchase", "social_fund")


def flow_start(who: Who) -> Node:
    """The savings round, behind the PIN unless the session already gave it."""
    if who.authenticated:
        return Round(who)
    t = who.t

    def answer(ctx: Ctx, value: str) -> Node | Stay:
        refused = pin_auth.verify(ctx, who, value)
        if refused is not None:
            return refused
        who.authenticated = True
        return Round(who)

    return Ask(who, "round_pin", lambda ctx: [t("Savings round."), t("PIN:")], answer)


def pending_members(who: Who) -> tuple[list[Member], int]:
    """Present members not yet recorded in the open meeting, in member-number order; and how
    many are present."""
    session, meeting = who.ctx.session, who.meeting
    if meeting is None:
        return [], 0
    present = list(session.scalars(
        select(Member).join(Attendance, Attendance.member_id == Member.id)
        .where(Attendance.meeting_id == meeting.id, Attendance.present.is_(True))
        .order_by(Member.number)))
    rows = session.execute(select(Entry.id, Entry.member_id, Entry.kind, Entry.reverses_id).where(
        Entry.meeting_id == meeting.id, Entry.kind.in_((*ROUND_KINDS, "reversal")))).all()
    undone = {r.reverses_id for r in rows if r.kind == "reversal"}
    recorded = {r.member_id for r in rows if r.kind in ROUND_KINDS and r.id not in undone}
    recorded |= set(session.scalars(select(Skip.member_id).where(Skip.meeting_id == meeting.id)))
    return [m for m in present if m.id not in recorded and m.status == "active"], len(present)


class Round(Node):
    name = "round_member"
    takes_zero = True  # 0 = this member buys nothing today

    def __init__(self, who: Who) -> None:
        super().__init__(who)
        self.last: tuple[str, str] | None = None  # what the previous hop recorded: named, numbered
        self._pending: tuple[list[Member], int] | None = None  # known after this hop's own write

    def render(self, ctx: Ctx) -> Page:
        t, who = self.t, self.who
        pending, present = self._pending or pending_members(who)
        lines = [self.last[0]] if self.last else []
        if who.meeting is None:
            return Page([*lines, t("No meeting is open."), t("00 Menu")])
        if not pending:
            return Page([*lines, t("Savings round done: all {n} present recorded.", n=t.digits(present)),
                         t("00 Menu")])
        policy = who.policy
        member = pending[0]
        done = present - len(pending)
        lines.append(t("[{done}/{present}] {name}: shares {low}-{high}?", done=done + 1, present=present,
                       name=name_of(member), low=policy.shares_min, high=policy.shares_max))
        if self._social_fund():
            lines.append(t("0=none, {high}0={high} without social fund", high=policy.shares_max))
        else:
            lines.append(t("0=none"))
        if self.last and not fits("\n".join(lines)):
            # A page too long for its encoding (Arabic: 80): the member recorded is named by
            # number only, then the keys' reminder (on the round's first page) gives way.
            lines[0] = self.last[1]
            if not fits("\n".join(lines)):
                lines.pop()
        return Page(lines)

    def _social_fund(self) -> int:
        cycle = self.who.cycle
        return cycle.social_fund_contribution if cycle else 0

    def parse(self, value: str) -> tuple[int, bool] | None:
        """(shares, social fund paid) from "3", "30" or "0"; None if it is neither."""
        policy = self.who.policy
        if not value.isdigit():
            return None
        if value == "0":
            return 0, False
        if policy.shares_min <= int(value) <= policy.shares_max:
            return int(value), True
        if len(value) >= 2 and value.endswith("0") and \
                policy.shares_min <= int(value[:-1]) <= policy.shares_max:
            return int(value[:-1]), False
        return None

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        t, who = self.t, self.who
        if not ctx.is_last:
            return Stay()
        choice = self.parse(value)
        if choice is None:
            policy = who.policy
            return Stay(t("Enter {low} to {high}, or 0.", low=policy.shares_min, high=policy.shares_max))
        key = ctx.key(":round")
        replay = self._replay(ctx, key)
        if replay is not None:
            self.last = replay
            return Stay()
        pending, present = pending_members(who)
        if not pending:
            return Stay()
        member = pending[0]
        shares, social = choice
        social = social and self._social_fund() > 0

        def record() -> None:
            if shares == 0:
                meeting = who.meeting
                assert meeting is not None
                ctx.session.add(Skip(group_id=who.group.id, meeting_id=meeting.id, member_id=member.id,
                                     key=key + ":none", session_id=ctx.sid))
                ctx.session.flush()
                return
            savings.buy_shares(ctx.session, who.treasurer, who.group, member, shares,
                               idempotency_key=key + ":sh")
            if social:
                savings.pay_social_fund(ctx.session, who.treasurer, who.group, member,
                                        idempotency_key=key + ":sf")

        _, refused = ctx.act(who, record)
        if refused is not None:
            return Stay(f"{name_of(member)}: {refused}")
        self.last = self._line(member, shares, social)
        self._pending = (pending[1:], present)
        return Stay()

    def _line(self, member: Member, shares: int, social: bool) -> tuple[str, str]:
        """What was recorded for `member`: naming them, and by their number only."""
        t = self.t

        def line(name: str) -> str:
            if shares == 0:
                return t("OK {name}: none.", name=name)
            if social:
                return t.n("OK {name}: {n} share + social fund.", "OK {name}: {n} shares + social fund.",
                           shares, name=name)
            return t.n("OK {name}: {n} share.", "OK {name}: {n} shares.", shares, name=name)

        return line(name_of(member)), line(str(member.number))

    def _replay(self, ctx: Ctx, key: str) -> tuple[str, str] | None:
        """What an earlier attempt of this very hop recorded, if it did."""
        entries = list(ctx.session.scalars(select(Entry).where(
            Entry.group_id == self.who.group.id, Entry.idempotency_key.in_((key + ":sh", key + ":sf")))))
        if entries:
            member = ctx.session.get(Member, entries[0].member_id)
            assert member is not None
            shares = next((int(e.details.get("shares", 0)) for e in entries if e.kind == "share_purchase"), 0)
            return self._line(member, shares, any(e.kind == "social_fund" for e in entries))
        skip = ctx.session.scalars(select(Skip).where(Skip.key == key + ":none")).first()
        if skip is not None:
            member = ctx.session.get(Member, skip.member_id)
            assert member is not None
            return self._line(member, 0, False)
        return None

"""Confirming a write with the PIN, and changing the PIN (also the must-change gate).

Every write shows what will happen and asks for the PIN, unless a PIN of this member was already
accepted earlier in the session's text (then `1` confirms): one PIN per session.
"""

from __future__ import annotations

from collections.abc import Callable

from vision_ledger import pins

from . import pin_auth
from .models import Done
from .session import Ctx, Node, Page, Result, Stay, Who
from .texts import fits


class Confirm(Node):
    """`lines` say what will happen; `execute` acts (only on the hop's last input) and returns the
    result page; `again` restarts the same action from its first page."""

    def __init__(self, who: Who, name: str, lines: list[str], execute: Callable[[Ctx], Node],
                 again: Callable[[], Node] | None = None, *, check: Callable[[], str | None] | None = None,
                 passed: Callable[[Ctx], None] | None = None, again_label: str | None = None,
                 blocking: bool = False) -> None:
        super().__init__(who)
        self.name = name
        self._lines = lines
        self._execute = execute
        self._again = again
        self._check = check  # the books' objection, if any, shown instead of the PIN prompt
        self._passed = passed  # what the walk learns when it passes an earlier confirmation
        self._again_label = again_label
        self._blocking = blocking  # the objection is final (no PIN can change it): no PIN is read

    def render(self, ctx: Ctx) -> Page:
        t = self.t
        objection = self._check() if self._check else None
        if objection:
            page = [*self._lines, objection, t("0 Back  00 Menu")]
            if not fits("\n".join(page)):  # the objection before what it objects to
                page = [objection, t("0 Back  00 Menu")]
            return Page(page)
        prompt = t("1 Confirm  0 Back") if self.who.authenticated else t("PIN to confirm:")
        return Page([*self._lines, prompt])

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        # A page with the books' objection asks for no PIN ("0 Back  00 Menu" only): what else is
        # typed there is not a PIN. (A walk passing an earlier confirmation reads the books after
        # its own action, so only the hop's last input is held to the objection.)
        if self._blocking and ctx.is_last and self._check is not None and self._check():
            return Stay(self.t("Choose one of the options."))
        if self.who.authenticated:
            if value != "1":
                return Stay(self.t("Choose one of the options."))
        else:
            refused = pin_auth.verify(ctx, self.who, value)
            if refused is not None:
                return refused
            self.who.authenticated = True
        if ctx.is_last:
            return self._execute(ctx)
        # Acted on by the hop that ended here; this walk only passes by.
        if self._passed is not None:
            self._passed(ctx)
        return Result(self.who, self.name + "_done", None, self._again, self._again_label)


def gate(who: Who, target: Callable[[], Node]) -> Node:
    """The page a balance or a write starts from: first a new PIN, when staff gave the PIN."""
    if who.needs_new_pin():
        return PinOld(who, target, gate=True)
    return target()


class PinOld(Node):
    name = "pin_old"

    def __init__(self, who: Who, then: Callable[[], Node] | None, *, gate: bool = False) -> None:
        super().__init__(who)
        self.then = then
        self.gate = gate

    def render(self, ctx: Ctx) -> Page:
        t = self.t
        head = t("Please choose a new PIN.") if self.gate else t("Change PIN.")
        return Page([head, t("Current PIN:")])

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        # In a session that already changed the PIN, the old one no longer matches: the walk
        # passes the pages it went through, and the change is not repeated.
        if not pin_auth.was_replaced_in_session(ctx, self.who, value):
            refused = pin_auth.verify(ctx, self.who, value)
            if refused is not None:
                return refused
        return PinNew(self.who, self, value)


class PinNew(Node):
    name = "pin_new"

    def __init__(self, who: Who, first: PinOld, old: str) -> None:
        super().__init__(who)
        self.first = first
        self.old = old

    def render(self, ctx: Ctx) -> Page:
        return Page([self.t("New PIN (4 digits):")])

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        if not (len(value) == 4 and value.isdigit()):
            return Stay(self.t("A PIN is 4 digits."))
        if value == self.old:
            return Stay(self.t("Choose a PIN different from the old one."))
        return PinRepeat(self.who, self.first, self.old, value)


class PinRepeat(Node):
    name = "pin_repeat"

    def __init__(self, who: Who, first: PinOld, old: str, new: str) -> None:
        super().__init__(who)
        self.first = first
        self.old = old
        self.new = new

    def render(self, ctx: Ctx) -> Page:
        return Page([self.t("Repeat the new PIN:")])

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        who, t = self.who, self.t
        if value != self.new:
            return Stay(t("The two PINs differ."))
        if ctx.is_last:
            key = ctx.key(":pin")
            if ctx.session.get(Done, key) is None:
                policy = who.policy
                _, refused = ctx.act(who, lambda: pins.change_pin(
                    who.member, self.old, self.new, attempts=policy.pin_attempts,
                    lock_minutes=policy.pin_lock_minutes, now=ctx.now))
                if refused:
                    ctx.session.flush()
                    return Result(who, "pin_refused", [refused])
                ctx.session.add(Done(key=key, session_id=ctx.sid, member_id=who.member.id, kind="pin",
                                     result={"old": pin_auth.sealed(ctx, who, self.old)}))
                pin_auth.remember(ctx, who, self.new)
        elif not pin_auth.was_replaced_in_session(ctx, who, self.old):
            return Stay()
        who.authenticated = True
        who.gate_passed = True
        if self.first.then is not None:
            target = self.first.then()
            target.is_result = True  # the PIN pages are behind us: back goes to the menu
            return target
        return Result(who, "pin_changed", [t("PIN changed.")])

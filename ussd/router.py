"""The router: a hop is a function of (phone number, the whole text).

The text is split on `*` and walked from the first page (`root`: who is dialling, which group,
their home menu): each input moves from one page (a Node) to the next, `0` goes back and `00` to
the start. Nothing about where the user is in the menu is kept on the server. Only the LAST input
of a hop may act (post an entry, queue a statement...): earlier inputs were acted on by earlier
hops, and an action is idempotent on (session, text up to it), so a retried or duplicated hop
shows the same page and moves nothing twice.

What the walk may consult besides the text is the books themselves (is a meeting open, who is
still to be recorded) and authentication state (ussd/pin_auth.py). The pages themselves are built
from the framework in ussd/session.py; this module is the only one that knows every menu.
"""

from __future__ import annotations

from vision_ledger import groups

from .member_menu import MemberHome
from .session import BACK, BACK_ALWAYS, Ctx, End, Node, Page, Reply, Stay, Who
from .texts import Texts, short
from .treasurer_menu import TreasurerHome


def root(ctx: Ctx) -> Node:
    memberships = groups.groups_of_phone(ctx.session, ctx.phone)
    if not memberships:
        t = Texts("en")
        return End(None, "unknown_phone",
                   [t("Sorry, this number is not registered with a savings group. "
                      "Please ask your group's treasurer.")])
    people = [Who(ctx, member, group) for member, group in memberships]
    if len(people) == 1:
        return home(people[0])
    return GroupChoice(people)


def home(who: Who) -> Node:
    if who.is_treasurer:
        return TreasurerHome(who)
    return MemberHome(who)


class GroupChoice(Node):
    """A phone of members of two groups picks the group first."""

    name = "choose_group"
    is_menu = True

    def __init__(self, people: list[Who]) -> None:
        super().__init__(people[0])
        self.people = people

    def render(self, ctx: Ctx) -> Page:
        t = self.t
        lines = [t("Choose your group:")]
        lines += [f"{i} {short(p.group.name, 20)}" for i, p in enumerate(self.people[:8], 1)]
        return Page(lines)

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        if value.isdigit() and 1 <= int(value) <= min(len(self.people), 8):
            return home(self.people[int(value) - 1])
        return Stay(self.t("Choose one of the options."))


def hop(ctx: Ctx) -> Reply:
    """Walk the inputs from the first page and render where they lead."""
    stack: list[Node] = [root(ctx)]
    reason: str | None = None
    end = False
    for index, raw in enumerate(ctx.inputs):
        ctx.index = index
        if ctx.between is not None and not ctx.writable:
            ctx.between()
        value = raw.strip()
        node = stack[-1]
        reason, end = None, False
        if value == "00":
            del stack[1:]
            continue
        if value == BACK_ALWAYS or (value == BACK and not node.takes_zero):
            if len(stack) > 1 and not node.terminal:
                stack.pop()
            continue
        outcome = node.accept(ctx, value)
        if isinstance(outcome, Stay):
            reason, end = outcome.reason, outcome.end
            if end:
                break  # the session ends here (a locked PIN): what follows is not read
            continue
        if outcome.is_result:
            while len(stack) > 1 and not stack[-1].is_menu:
                stack.pop()
        stack.append(outcome)
    node = stack[-1]
    page = node.render(ctx)
    language = node.t.language
    text = Page([reason]).body() if end and reason else page.body(reason)
    return Reply(text, page.end or end or node.terminal, node.name, language)

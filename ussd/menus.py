"""The first page: who is dialling, which group, and their home menu."""

from __future__ import annotations

from vision_ledger import groups

from .session import Ctx, End, Node, Page, Stay, Who
from .texts import Texts, short


def root(ctx: Ctx) -> Node:
    memberships = groups.groups_of_phone(ctx.session, ctx.phone)
    if not memberships:
        t = Texts("en")
        return End(None, "unknown_phone",  # type: ignore[arg-type]
                   [t("Sorry, this number is not registered with a savings group. "
                      "Please ask your group's treasurer.")])
    people = [Who(ctx, member, group) for member, group in memberships]
    if len(people) == 1:
        return home(people[0])
    return GroupChoice(people)


def home(who: Who) -> Node:
    if who.is_treasurer:
        from .treasurer_menu import TreasurerHome

        return TreasurerHome(who)
    from .member_menu import MemberHome

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


class Menu(Node):
    """A numbered list of choices; `items` is [(label, make the next page)]."""

    is_menu = True

    def title(self, ctx: Ctx) -> str:
        return ""

    def items(self, ctx: Ctx) -> list[tuple[str, object]]:
        raise NotImplementedError

    def shown(self, ctx: Ctx) -> list[tuple[int, str, object]]:
        return [(i, label, make) for i, (label, make) in enumerate(self.items(ctx), 1)]

    def render(self, ctx: Ctx) -> Page:
        t = self.t
        return Page([self.title(ctx), *(f"{i} {t(label)}" for i, label, _ in self.shown(ctx))])

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        choices = {str(i): make for i, (_, make) in enumerate(self.items(ctx), 1)}
        make = choices.get(value)
        if make is None:
            return Stay(self.t("Choose one of the options."))
        return make()  # type: ignore[operator]

"""Menus: a numbered list of choices over as many pages as it takes (the home menus and every
list of the USSD door are built on it)."""

from __future__ import annotations

import copy
from collections.abc import Callable

from .session import Ctx, Node, Page, Stay, paginate

# One choice of a menu: its label (a msgid) and what makes the page it leads to.
Choice = tuple[str, Callable[[], Node]]


class Menu(Node):
    """A numbered list of choices; `items` is [(label, make the next page)].

    A list that does not fit one page (Arabic pages hold 80 characters) goes on over pages that
    end with "9 More" ("98 More" when 9 is a choice); every number works on every page."""

    is_menu = True
    page = 0  # which page of the list this node shows
    per_page: int | None = None  # at most this many choices a page, fit or not
    more_name: str | None = None  # the screen name of the pages after the first

    def title(self, ctx: Ctx) -> str:
        return ""

    def items(self, ctx: Ctx) -> list[Choice]:
        raise NotImplementedError

    def shown(self, ctx: Ctx) -> list[tuple[int, str, Callable[[], Node]]]:
        return [(i, label, make) for i, (label, make) in enumerate(self.items(ctx), 1)]

    def more_key(self, ctx: Ctx) -> str:
        return "9" if len(self.items(ctx)) < 9 else "98"

    def pages(self, ctx: Ctx) -> list[list[str]]:
        t = self.t
        rows = [f"{i} {t(label)}" for i, label, _ in self.shown(ctx)]
        more = f"{self.more_key(ctx)} {t('More')}"
        title = self.title(ctx)
        chunks = [rows[i:i + self.per_page] for i in range(0, len(rows), self.per_page)] \
            if self.per_page else [rows]
        pages: list[list[str]] = []
        for chunk in chunks:
            head = [title] if title and not pages else []
            split = paginate([*head, *chunk], more, "")
            if head and split and split[0] == head and len(split) > 1:  # a title alone: join
                split = [[*head, *split[1]], *split[2:]]
            pages.extend(split)
        return pages

    def render(self, ctx: Ctx) -> Page:
        pages = self.pages(ctx)
        index = min(self.page, len(pages) - 1)
        lines = list(pages[index])
        if index < len(pages) - 1:
            lines.append(f"{self.more_key(ctx)} {self.t('More')}")
        return Page(lines)

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        if value == self.more_key(ctx) and self.page < len(self.pages(ctx)) - 1:
            following = copy.copy(self)
            following.page = self.page + 1
            following.name = self.more_name or f"{self.name}_more"
            return following
        choices = {str(i): make for i, (_, make) in enumerate(self.items(ctx), 1)}
        make = choices.get(value)
        if make is None:
            return Stay(self.t("Choose one of the options."))
        return make()

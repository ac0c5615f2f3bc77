"""The page framework of the USSD door: pages (Page, paginate), the nodes a walk moves through
(Node, Ask, End, Result), who is dialling (Who) and the hop's context (Ctx, Reply).

The router (ussd/router.py) walks a hop's inputs through these; the menus of ussd/menus.py,
member_menu.py, treasurer_menu.py... are built on them and never import the router.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from vision_ledger import groups, meetings
from vision_ledger.actors import Actor
from vision_ledger.cycles import require_open_cycle
from vision_ledger.db import utcnow
from vision_ledger.errors import DomainError
from vision_ledger.models import Cycle, Group, Meeting, Member
from vision_ledger.policy import Policy

from .models import Done
from .texts import Texts, fits, page_size, refusal, short

log = logging.getLogger("ussd")


class NeedsWrite(Exception):
    """The hop must act: run it again in a writing transaction (SQLite's BEGIN IMMEDIATE)."""


# --- pages ------------------------------------------------------------------------------------


@dataclass
class Page:
    lines: list[str]
    end: bool = False

    def body(self, reason: str | None = None) -> str:
        lines = [line for line in self.lines if line]
        text = "\n".join([reason, *lines] if reason else lines)
        if not fits(text) and reason:
            text = "\n".join([reason, lines[-1]]) if lines else reason
        if not fits(text):
            # A page the gateway would cut or refuse: every screen is written to fit (a test
            # crawls them all), so this is a bug to see in the log; the member still gets a page.
            used, allowed = page_size(text)
            log.warning("ussd page over its limit (%d of %d): %r", used, allowed, text[:40])
            while not fits(text + ".."):
                text = text[:-1]
            text += ".."
        return text


def paginate(lines: list[str], more: str, last: str) -> list[list[str]]:
    """Lines split into pages that fit, each but the last ending with `more`, the last with `last`.

    A line that fits no page alone still gets a page of its own (Page.body then cuts it)."""
    pages: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if current and not fits("\n".join([*current, line, more])):
            pages.append(current)
            current = []
        current.append(line)
    if current and len(current) > 1 and not fits("\n".join([*current, last])):
        pages.append(current[:-1])
        current = current[-1:]
    pages.append(current)
    return pages


@dataclass
class Stay:
    """The input was not what the page asked for (or was refused): show the page again."""

    reason: str | None = None
    end: bool = False


class Node:
    """A page of the menu. `accept` returns the next node, or Stay."""

    name = "node"
    takes_zero = False  # the page gives `0` a meaning of its own (not "back")
    is_menu = False  # result pages go back to the nearest menu, never to their confirmation
    is_result = False
    terminal = False  # an END page

    def __init__(self, who: Who | None) -> None:
        self._who = who  # None only on the page of a number no group knows

    @property
    def who(self) -> Who:
        """Who is dialling. Raises RuntimeError on a page that has no caller."""
        if self._who is None:
            raise RuntimeError(f"the page {self.name!r} has no caller")
        return self._who

    @property
    def t(self) -> Texts:
        """The caller's texts; English on a page that has no caller."""
        return self._who.t if self._who is not None else Texts("en")

    def render(self, ctx: Ctx) -> Page:
        raise NotImplementedError

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        return Stay(self.t("Choose one of the options."))


class Ask(Node):
    """A page built from two functions: what it shows, and what an answer leads to."""

    def __init__(self, who: Who, name: str, lines: Callable[[Ctx], list[str]],
                 answer: Callable[[Ctx, str], Node | Stay], *, takes_zero: bool = False,
                 menu: bool = False) -> None:
        super().__init__(who)
        self.name = name
        self._lines = lines
        self._answer = answer
        self.takes_zero = takes_zero
        self.is_menu = menu

    def render(self, ctx: Ctx) -> Page:
        lines = self._lines(ctx)
        if not (lines and lines[-1].startswith((BACK + " ", BACK_ALWAYS + " "))):  # not said already
            lines = [*lines, back_line(self.t, self.takes_zero)]
        return Page(lines)

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        return self._answer(ctx, value)


# Every input page says its way back: `0`, or `#` on the pages where 0 is an answer (a count of
# nothing, a member buying nothing, no more absent members). `#` goes back on every page: it is
# no amount and no number, and unlike `*` it is not AT's separator of the inputs in `text`.
BACK = "0"
BACK_ALWAYS = "#"


def back_line(t: Texts, takes_zero: bool) -> str:
    return t("# Back") if takes_zero else t("0 Back")


class End(Node):
    """A closing page (END)."""

    terminal = True

    def __init__(self, who: Who | None, name: str, lines: list[str]) -> None:
        super().__init__(who)
        self.name = name
        self._lines = lines

    def render(self, ctx: Ctx) -> Page:
        return Page(self._lines, end=True)

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        return Stay()


class Result(Node):
    """What an action did (or why it was refused). 1 = the same action again, 0/00 = menus."""

    is_result = True

    def __init__(self, who: Who, name: str, lines: list[str] | None,
                 again: Callable[[], Node] | None = None, again_label: str | None = None) -> None:
        super().__init__(who)
        self.name = name
        self._lines = lines
        self._again = again
        self._again_label = again_label

    def render(self, ctx: Ctx) -> Page:
        t = self.t
        options = t(self._again_label or "1 Again  00 Menu") if self._again else t("00 Menu")
        return Page([*(self._lines or []), options])

    def accept(self, ctx: Ctx, value: str) -> Node | Stay:
        if value == "1" and self._again:
            return self._again()
        return Stay(self.t("Choose one of the options."))


# --- who is dialling --------------------------------------------------------------------------


class Who:
    """One membership of the caller (member + group), with what the walk learnt about it."""

    def __init__(self, ctx: Ctx, member: Member, group: Group) -> None:
        self.ctx = ctx
        self.member = member
        self.group = group
        self.authenticated = False  # a PIN of this member was accepted earlier in this walk
        self.gate_passed = False  # the must-change-PIN gate was passed earlier in this walk
        self._cache: dict[str, Any] = {}

    @property
    def t(self) -> Texts:
        return Texts(self.member.language, self.group.currency, self.group.locale)

    @property
    def is_treasurer(self) -> bool:
        return self.member.role == "treasurer"

    @property
    def treasurer(self) -> Actor:
        return Actor(role="treasurer", channel="ussd", group_id=self.group.id,
                     member_id=self.member.id, name=self.member.name)

    @property
    def as_member(self) -> Actor:
        return Actor(role="member", channel="ussd", group_id=self.group.id, member_id=self.member.id)

    def _get(self, key: str, load: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = load()
        return self._cache[key]

    def forget(self) -> None:
        """After an action that changes the meeting or the group's state (the walk's own view of
        the meeting stays)."""
        keep = {k: v for k, v in self._cache.items() if k in ("walk_open", "done_keys")}
        self._cache.clear()
        self._cache.update(keep)

    @property
    def meeting(self) -> Meeting | None:
        return self._get("meeting", lambda: meetings.current_meeting(self.ctx.session, self.group.id))

    @property
    def cycle(self) -> Cycle | None:
        return self._get("cycle", lambda: groups.open_cycle(self.ctx.session, self.group.id))

    @property
    def policy(self) -> Policy:
        return self._get("policy", lambda: groups.group_policy(self.ctx.session, self.group, self.cycle))

    @property
    def walk_open(self) -> bool:
        """Whether the meeting was open at this point of the walk (the menus' shape follows it).

        The books say whether it is open now; a meeting this session opened or closed was in the
        other state when the session began, and the walk flips it where it passes the action."""
        if "walk_open" not in self._cache:
            rows = self.ctx.session.scalars(select(Done).where(
                Done.session_id == self.ctx.sid, Done.member_id == self.member.id,
                Done.kind.in_(("open", "close"))).order_by(Done.created_at)).all()
            self._cache["walk_open"] = rows[0].kind == "close" if rows else self.meeting is not None
            self._cache["done_keys"] = {row.key: row for row in rows}
        return bool(self._cache["walk_open"])

    def set_walk_open(self, value: bool) -> None:
        self._cache["walk_open"] = value

    def done_here(self, key: str) -> Done | None:
        """An open/close this session made at this position of the text."""
        return self.session_records().get(key)

    def session_records(self) -> dict[str, Done]:
        """The meetings this session opened or closed, by key."""
        self.walk_open  # noqa: B018  (loads them)
        return self._cache["done_keys"]

    def require_cycle(self) -> Cycle:
        return require_open_cycle(self.ctx.session, self.group)

    def member_by_number(self, value: str) -> Member | str:
        """The member a typed number names, or the reason it names none."""
        t = self.t
        if not value.isdigit() or len(value) > 4:
            return t("Enter a member number.")
        try:
            return groups.member_by_number(self.ctx.session, self.group, int(value))
        except DomainError:
            return t("No member number {n}.", n=int(value))

    def needs_new_pin(self) -> bool:
        """The member's PIN was given by staff and must be changed before balances and writes.

        Also true, for the rest of the walk, in a session that already changed it: the walk
        passes the same pages again (the change itself is not repeated)."""
        if self.gate_passed or not self.member.pin_hash:
            return False
        if self.member.pin_must_change:
            return True
        return bool(self.old_pins_in_session())

    def old_pins_in_session(self) -> list[dict[str, str]]:
        """The sealed PINs (nonce and HMAC) this session replaced (the walk passes those changes
        again); compare with pin_auth.was_replaced_in_session."""
        return self._get("pin_changes", lambda: [
            old for row in self.ctx.session.scalars(
                select(Done.result).where(Done.session_id == self.ctx.sid,
                                          Done.member_id == self.member.id, Done.kind == "pin"))
            if isinstance(old := row.get("old"), dict)])


# --- the hop ----------------------------------------------------------------------------------


@dataclass
class Ctx:
    session: Session
    sid: str
    phone: str
    inputs: list[str]
    pin_key: bytes
    writable: bool = False
    now: datetime = field(default_factory=utcnow)
    index: int = -1
    # scrypt results of this hop, (stored hash, PIN) -> matched, kept across its read-only and
    # writing passes: the slow check runs before the hop takes SQLite's one write lock.
    pin_memo: dict[tuple[str, str], bool] = field(default_factory=dict)
    # Turns the hop's read transaction into a writing one (ussd/readwalk.py); None: raise NeedsWrite.
    upgrade: Callable[[], None] | None = None
    # Called by the walk between two inputs (SQLite: steps aside while this process writes).
    between: Callable[[], None] | None = None

    @property
    def is_last(self) -> bool:
        return self.index == len(self.inputs) - 1

    def prefix(self) -> str:
        """The text up to and including the input being handled."""
        return "*".join(self.inputs[: self.index + 1])

    def key(self, suffix: str = "") -> str:
        """The idempotency key of the action the current input confirms."""
        return self.key_at(self.index, suffix)

    def key_at(self, index: int, suffix: str = "") -> str:
        prefix = "*".join(self.inputs[: index + 1])
        digest = hashlib.sha256(prefix.encode()).hexdigest()[:16]
        return f"ussd:{self.sid}:{digest}{suffix}"

    def require_write(self) -> None:
        """Make the hop a writer before it acts: in place when it can (the walk so far stands),
        else by NeedsWrite (the door walks again as a writer)."""
        if self.writable:
            return
        if self.upgrade is None:
            raise NeedsWrite
        self.upgrade()
        self.writable = True

    def act(self, who: Who, fn: Callable[[], Any]) -> tuple[Any, str | None]:
        """Run one core call in a savepoint: (its result, None), or (None, the refusal's text)."""
        self.require_write()
        try:
            with self.session.begin_nested():
                return fn(), None
        except DomainError as error:
            who.forget()
            return None, refusal(who.t, error)


@dataclass
class Reply:
    text: str
    end: bool
    screen: str
    language: str


def closing(t: Texts, lines: list[str]) -> list[str]:
    """A page's last line of navigation."""
    return [*lines, t("0 Back  00 Menu")]


def name_of(member: Member) -> str:
    """A member as pages show them: the number and a short name that tells them apart in the group."""
    session = object_session(member)
    if session is None:
        return f"{member.number} {short(member.name)}"
    known: dict[int, dict[int, str]] = session.info.setdefault("ussd_short_names", {})
    if member.group_id not in known:
        rows = session.execute(select(Member.id, Member.name).where(Member.group_id == member.group_id))
        known[member.group_id] = short_names({row.id: row.name for row in rows})
    return f"{member.number} {known[member.group_id].get(member.id) or short(member.name)}"


NAME_SIZE = 12


def short_names(names: dict[int, str], size: int = NAME_SIZE) -> dict[int, str]:
    """Short names that tell members apart: the first name alone where no one else in the group
    has it, else the first name and the initials of as many further names as it takes, else the
    first name and as much of the second name as it takes. Each is at most `size` characters; the
    member number shown beside it still tells apart the rare pair this cannot."""
    words = {key: (" ".join(name.split()) or "?").split(" ") for key, name in names.items()}

    def label(first: str, suffix: str = "") -> str:
        if not suffix:
            return short(first, size)
        room = max(size - len(suffix) - 1, 2)  # the first name gives way to what tells apart
        return f"{short(first, room)} {suffix[: size - 3]}"

    def candidates(parts: list[str]) -> list[str]:
        first, rest = parts[0], parts[1:]
        found = [label(first)]
        found += [label(first, "".join(w[0] for w in rest[:k])) for k in range(1, len(rest) + 1)]
        if rest:
            found += [label(first, rest[0][:k]) for k in range(2, len(rest[0]) + 1)]
        return found

    options = {key: candidates(parts) for key, parts in words.items()}
    level = dict.fromkeys(options, 0)
    while True:
        chosen = {key: options[key][level[key]] for key in options}
        holders: dict[str, list[int]] = {}
        for key, name in chosen.items():
            holders.setdefault(name, []).append(key)
        bumped = False
        for keys in holders.values():
            for key in keys if len(keys) > 1 else ():
                if level[key] + 1 < len(options[key]):
                    level[key] += 1
                    bumped = True
        if not bumped:
            break
    return chosen

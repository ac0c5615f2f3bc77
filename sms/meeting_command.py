"""Recording a meeting by SMS when USSD fails: `M <PIN> [date] S ... F ... R ... C ...`, then `OK <code>`.

The treasurer texts the meeting in one message (the grammar is in README, "Recording a meeting by
SMS"). The service checks the PIN (vision_ledger.pins; the PIN is never stored: the inbound row
keeps the text with the PIN masked), rehearses the whole meeting inside a SAVEPOINT that it rolls
back (so every rule of the core is applied, and nothing is kept), stores what it understood in
`sms_meeting_commands` with a 4-character code, and answers with a summary and the code.
`OK <code>` from the same phone within 30 minutes posts it with the very calls the USSD round
makes (open_meeting, buy_shares then pay_social_fund member by member, repay_loan, close_meeting),
all or nothing. A code is used once: a second OK answers "already recorded" and changes nothing;
three wrong codes cancel the command. Loans stay on USSD and the API.

A phone that keeps the books of several groups names the group after the command word, `M G2 <PIN>
...` (the number of the group in the list the refusal sends, groups by name); without it nothing is
recorded and the reply lists the groups. An `OK <code>` goes to the group its code was given for.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sms.models import SmsInbound, SmsMeetingCommand
from sms.texts import shorten
from vision_ledger import ledger, loans, meetings, pins, savings
from vision_ledger.actors import Actor
from vision_ledger.db import utcnow
from vision_ledger.errors import DomainError
from vision_ledger.groups import group_policy, groups_of_phone, member_by_number, open_cycle
from vision_ledger.models import Group, Meeting, Member
from vision_ledger.money import Money

CODE_ALPHABET: Final = "ACDEFHJKMNPRTUVWXY346789"  # no 0/O, 1/I/L, 2/Z, 5/S, B/8 look-alikes
CODE_LENGTH: Final = 4
VALID_MINUTES: Final = 30
MAX_WRONG_CODES: Final = 3
MAX_DAYS_BACK: Final = meetings.LATE_MEETING_DAYS  # the core's limit on a meeting recorded late by phone

MEETING_WORDS: Final = frozenset({"m", "meeting", "mkutano", "اجتماع"})
CONFIRM_WORDS: Final = frozenset({"ok", "sawa", "ndiyo", "موافق", "نعم"})
SECTIONS: Final[dict[str, str]] = {
    "s": "shares", "shares": "shares", "h": "shares", "hisa": "shares", "اسهم": "shares", "س": "shares",
    "f": "social", "fund": "social", "j": "social", "jamii": "social", "صندوق": "social", "ص": "social",
    "r": "repay", "repay": "repay", "l": "repay", "lipa": "repay", "سداد": "repay", "د": "repay",
    "c": "close", "close": "close", "k": "close", "funga": "close", "اغلاق": "close", "غ": "close",
    "a": "absent", "absent": "absent", "hayupo": "absent", "غياب": "absent", "ب": "absent",
}
_ARABIC_MARKS = re.compile("[\u064b-\u0652\u0670\u0640]")
_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ة": "ه", "ى": "ي", "،": " ", "؛": " "})
_PIN = re.compile(r"^\d{4}$")
_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?$")
_PAIR = re.compile(r"^(\d{1,3})[:=](.+)$")
_GROUP = re.compile(r"^[g#](\d{1,2})$")


class Refused(Exception):
    """What the treasurer is told instead (a reply reason and its facts); nothing is recorded."""

    def __init__(self, reason: str, **facts: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.facts = facts


@dataclass
class Command:
    """A meeting as typed: member numbers to shares, social fund (1/0), repayments (as typed)."""

    pin: str = ""
    day: tuple[int, int, int | None] | None = None
    group: int | None = None  # G2: the second of the phone's treasurer seats
    shares: dict[int, int] = field(default_factory=dict)
    social: dict[int, int] = field(default_factory=dict)
    social_all: bool = False
    repay: dict[int, str] = field(default_factory=dict)
    close: list[str] = field(default_factory=list)
    absent: list[int] = field(default_factory=list)


def words(text: str) -> list[str]:
    """The tokens of an SMS: NFKC, case-folded, Arabic spellings folded; Arabic-Indic digits kept."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    return _ARABIC_MARKS.sub("", text).translate(_ARABIC_FOLD).split()


def claims(text: str) -> bool:
    """Whether an inbound SMS is a meeting command or its confirmation (this module answers it)."""
    tokens = words(text)
    if not tokens:
        return False
    # "OK" alone (or a longer sentence) is left to the other commands: only "OK <code>" is ours.
    return tokens[0] in MEETING_WORDS or (tokens[0] in CONFIRM_WORDS and len(tokens) == 2
                                          and len(tokens[1]) == CODE_LENGTH)


def masked(text: str) -> str:
    """The text as kept in sms_inbound: a meeting command's PIN replaced by ****."""
    tokens = (text or "").split()
    if tokens and words(tokens[0])[:1] and words(tokens[0])[0] in MEETING_WORDS:
        # Only the tokens before the first section can be the PIN.
        for i, token in enumerate(tokens[1:], 1):
            if words(token) and words(token)[0] in SECTIONS:
                break
            if _PIN.match(unicodedata.normalize("NFKC", token)) or \
                    (len(token) == 4 and token.isdigit()):
                tokens[i] = "****"
        return " ".join(tokens)
    return text


def _number(token: str, what: str) -> int:
    if not token.isdigit():
        raise Refused("unreadable", word=token)
    value = int(token)  # int() reads Arabic-Indic digits too
    if what == "member" and not 1 <= value <= 999:
        raise Refused("no_member", number=token)
    return value


def parse(text: str) -> Command:
    """Read a meeting command (no database). Raises Refused."""
    tokens = words(text)
    if not tokens or tokens[0] not in MEETING_WORDS:
        raise Refused("unreadable", word=tokens[0] if tokens else "")
    command = Command()
    section: str | None = None
    seen: set[str] = set()
    following = 1  # the member number a plain value of a section is for
    for token in tokens[1:]:
        if token in SECTIONS:
            section = SECTIONS[token]
            if section in seen:
                raise Refused("section_twice", word=token)
            seen.add(section)
            following = 1
            continue
        if section is None:
            if _PIN.match(token) and token.isdigit() and not command.pin:
                command.pin = "".join(str(unicodedata.digit(ch)) for ch in token)  # ٤٣٢١ is 4321
            elif (found := _GROUP.match(token)) and command.group is None:
                command.group = int(found.group(1))
            elif (found := _DATE.match(token)) and command.day is None:
                year = found.group(3)
                command.day = (int(found.group(1)), int(found.group(2)),
                               (2000 + int(year) if len(year) == 2 else int(year)) if year else None)
            else:
                raise Refused("unreadable", word=token)
            continue
        if section == "close":
            if len(command.close) == 2:
                raise Refused("close_two", word=token)
            command.close.append(token)
            continue
        if section == "absent":
            command.absent.append(_number(token, "member"))
            continue
        if section == "social" and token in ("*", "all", "wote", "الكل"):
            command.social_all = True
            continue
        pair = _PAIR.match(token)
        number, value = (_number(pair.group(1), "member"), pair.group(2)) if pair else (following, token)
        following = number + 1
        if section == "repay":
            if number in command.repay:
                raise Refused("member_twice", number=str(number))
            command.repay[number] = value
            continue
        counts = command.shares if section == "shares" else command.social
        if number in counts:
            raise Refused("member_twice", number=str(number))
        counts[number] = _number(value, "count")
        if section == "social" and counts[number] not in (0, 1):
            raise Refused("social_one", word=token)
    if not command.pin:
        raise Refused("pin_missing")
    if not (command.shares or command.social or command.social_all or command.repay or command.close):
        raise Refused("nothing")
    if command.close and len(command.close) != 2:
        raise Refused("close_two", word=" ".join(command.close))
    return command


# -- from what was typed to what the books will record --------------------------------------


def plan_of(session: Session, group: Group, command: Command) -> dict[str, Any]:
    """Resolve a command against the group: the meeting's date, members, amounts in minor units.

    Raises Refused (a member number the group does not have, an amount that is not one, a date
    the rules do not allow); the core's own rules are met when the plan is rehearsed.
    """
    today = meetings.local_today(group)
    meeting = meetings.current_meeting(session, group.id)
    when = _date_of(command.day, today) if command.day else (meeting.date if meeting else today)
    if meeting is not None and meeting.date != when:
        raise Refused("other_meeting_open", day=meeting.date.isoformat())
    if meeting is None:
        if when > today:
            raise Refused("date_future", day=when.isoformat())
        if when < today - timedelta(days=MAX_DAYS_BACK):
            raise Refused("date_too_old", day=when.isoformat(), days=str(MAX_DAYS_BACK))
        last = session.scalar(select(func.max(Meeting.date)).where(Meeting.group_id == group.id))
        if last is not None and when <= last:
            raise Refused("date_before_last", day=when.isoformat(), last=last.isoformat())
    elif command.absent:
        raise Refused("absent_when_open")
    members: dict[int, int] = {}
    for number in {*command.shares, *command.social, *command.repay, *command.absent}:
        try:
            members[number] = member_by_number(session, group, number).id
        except DomainError:
            raise Refused("no_member", number=str(number)) from None
    social = {n for n, paid in command.social.items() if paid}
    if command.social_all:
        social |= {n for n, count in command.shares.items() if count}
    repay: dict[int, int] = {}
    for number, typed in command.repay.items():
        repay[number] = _amount(group, typed)
    close = [_amount(group, typed, zero=True) for typed in command.close]
    return {
        "date": when.isoformat(), "open": meeting is None,
        "absent": sorted(members[n] for n in command.absent),
        "round": [[n, members[n], command.shares.get(n, 0), n in social]
                  for n in sorted({*command.shares, *social})],
        "repay": [[n, members[n], repay[n]] for n in sorted(repay)],
        "close": close or None,
    }


def _date_of(day: tuple[int, int, int | None], today: date) -> date:
    d, m, y = day
    try:
        when = date(y or today.year, m, d)
        if y is None and when > today:
            when = date(today.year - 1, m, d)  # 30/12 typed on 2 January
    except ValueError:
        raise Refused("bad_date", word=f"{d}/{m}") from None
    return when


def _amount(group: Group, typed: str, *, zero: bool = False) -> int:
    try:
        money = Money.read(typed, group.currency, group.locale)
    except DomainError:
        raise Refused("bad_amount", word=typed) from None
    if money.minor < 0 or (money.minor == 0 and not zero):
        raise Refused("bad_amount", word=typed)
    return money.minor


def execute(session: Session, actor: Actor, group: Group, plan: dict[str, Any], key: str) -> None:
    """Post a plan with the USSD round's calls, in its order. Raises DomainError, its facts
    carrying `member_number` when it is about one member (the caller then keeps nothing)."""
    currency = group.currency
    if plan["open"]:
        meetings.open_meeting(session, actor, group, absent_member_ids=plan["absent"],
                              meeting_date=date.fromisoformat(plan["date"]))
    for number, member_id, count, social in plan["round"]:
        with _about(number):
            member = _member(session, member_id)
            if count:
                savings.buy_shares(session, actor, group, member, count, idempotency_key=f"{key}:{number}:sh")
            if social:
                savings.pay_social_fund(session, actor, group, member, idempotency_key=f"{key}:{number}:sf")
    for number, member_id, minor in plan["repay"]:
        with _about(number):
            loans.repay_loan(session, actor, group, _member(session, member_id), Money(minor, currency),
                             idempotency_key=f"{key}:{number}:rp")
    if plan["close"]:
        meetings.close_meeting(session, actor, group, counted_loan_fund=Money(plan["close"][0], currency),
                               counted_social_fund=Money(plan["close"][1], currency))


def _member(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    assert member is not None  # resolved from the group's members when the plan was made
    return member


@contextmanager
def _about(number: int) -> Iterator[None]:
    """Name the member a refusal is about (the core's facts carry ids, the treasurer numbers)."""
    try:
        yield
    except DomainError as error:
        error.facts = {**(error.facts or {}), "member_number": number}
        raise


def summary(session: Session, group: Group, plan: dict[str, Any]) -> dict[str, Any]:
    """The facts of the preview reply: counts and totals in minor units."""
    cycle = open_cycle(session, group.id)
    price = cycle.share_price if cycle else 0
    contribution = cycle.social_fund_contribution if cycle else 0
    shares = sum(count for _, _, count, _ in plan["round"])
    social = sum(1 for *_, paid in plan["round"] if paid)
    facts: dict[str, Any] = {
        "day": plan["date"], "opens": plan["open"],
        "buyers": sum(1 for _, _, count, _ in plan["round"] if count),
        "shares": shares, "shares_amount": shares * price,
        "social": social, "social_amount": social * contribution,
        "repaid": len(plan["repay"]), "repaid_amount": sum(minor for *_, minor in plan["repay"]),
    }
    if plan["close"]:
        facts["close_loan_fund"], facts["close_social_fund"] = plan["close"]
    return facts


# -- the door --------------------------------------------------------------------------------


def handle(session: Session, form: Any, phone: str, at_id: str) -> str:
    """Answer a meeting command or its OK; return what was done (for logs and tests)."""
    text = form.get("text", "") or ""
    tokens = words(text)
    confirming = tokens[0] in CONFIRM_WORDS
    session.add(SmsInbound(at_id=at_id[:100], phone=phone[:20], shortcode=(form.get("to") or "")[:20],
                           text=masked(text)[:1000], link_id=form.get("linkId"),
                           network_code=(form.get("networkCode") or "")[:10] or None,
                           command="meeting_ok" if confirming else "meeting"))
    session.flush()  # the unique AT id refuses a concurrent duplicate here
    seats = _treasurer_seats(session, phone)
    if not seats:
        ledger.queue_message(session, None, None, "reply", phone=phone, language=_hint(tokens),
                             payload={"command": "meeting_refused", "reason": "not_treasurer"})
        return "meeting_not_treasurer"
    member, group = seats[0]  # answers a refusal before the group is known
    try:
        if confirming:
            member, group = _seat_of_code(session, seats, phone, tokens[1].upper())
            return _confirm(session, member, group, phone, tokens)
        command = parse(text)
        member, group = _seat_for(seats, command)
        return _preview(session, member, group, phone, command)
    except Refused as refusal:
        _reply(session, group, member, phone, {"command": "meeting_refused", "reason": refusal.reason,
                                               **refusal.facts})
        return f"meeting_refused:{refusal.reason}"


def _hint(tokens: list[str]) -> str:
    first = tokens[0] if tokens else ""
    if any("\u0600" <= ch <= "\u06ff" for ch in first):
        return "ar"
    return "sw" if first in ("mkutano", "sawa", "ndiyo") else "en"


def _treasurer_seats(session: Session, phone: str) -> list[tuple[Member, Group]]:
    """The groups whose books this phone keeps, by name (then id): G1, G2, ... in that order."""
    seats = [(member, group) for member, group in groups_of_phone(session, phone)
             if member.role == "treasurer" and member.status == "active"]
    return sorted(seats, key=lambda seat: (seat[1].name, seat[1].id))


def _seat_for(seats: list[tuple[Member, Group]], command: Command) -> tuple[Member, Group]:
    """The seat a command records into: the only one, or the one its G<number> names; never a guess."""
    if command.group is None and len(seats) == 1:
        return seats[0]
    if command.group is not None and 1 <= command.group <= len(seats):
        return seats[command.group - 1]
    # At most four named, so the reply keeps to its part budget (a fifth seat is still G5).
    listed = ", ".join(f"G{n} {shorten(group.name, 14)}" for n, (_, group) in enumerate(seats[:4], 1))
    listed += f" +{len(seats) - 4}" if len(seats) > 4 else ""
    raise Refused("which_group", groups=listed)


def _seat_of_code(session: Session, seats: list[tuple[Member, Group]], phone: str,
                  typed: str) -> tuple[Member, Group]:
    """The seat an OK is for: the group its code was given for, else the newest waiting command's
    (where a wrong code is counted), else the first (which has nothing waiting)."""
    by_group = {group.id: (member, group) for member, group in seats}
    rows = session.execute(select(SmsMeetingCommand.group_id, SmsMeetingCommand.code).where(
        SmsMeetingCommand.phone == phone, SmsMeetingCommand.group_id.in_(list(by_group)),
        SmsMeetingCommand.status.in_(("pending", "posted")))
        .order_by(SmsMeetingCommand.id.desc())).all()
    chosen = next((gid for gid, code in rows if code == typed), rows[0][0] if rows else None)
    return by_group.get(chosen, seats[0]) if chosen is not None else seats[0]


def _actor(member: Member, group: Group) -> Actor:
    return Actor(role="treasurer", channel="sms", group_id=group.id, member_id=member.id, name=member.name)


def _reply(session: Session, group: Group, member: Member, phone: str, payload: dict[str, Any]) -> None:
    ledger.queue_message(session, group, member.id, "reply", payload=payload, phone=phone)


def _preview(session: Session, member: Member, group: Group, phone: str, command: Command) -> str:
    policy = group_policy(session, group)
    try:
        pins.check_pin(member, command.pin, attempts=policy.pin_attempts,
                       lock_minutes=policy.pin_lock_minutes)
    except DomainError as error:
        # The failure count is on the member's row and is committed with the reply.
        raise Refused("pin_locked" if error.code == "pin.locked" else
                      "pin_not_set" if error.code == "pin.not_set" else "pin_wrong") from None
    plan = plan_of(session, group, command)
    rehearsal = session.begin_nested()
    try:
        execute(session, _actor(member, group), group, plan, key=f"sms:rehearsal:{secrets.token_hex(8)}")
    except DomainError as error:
        rehearsal.rollback()
        raise Refused("rule", **_facts(error, group.currency)) from None
    rehearsal.rollback()
    session.expire_all()
    now = utcnow()
    for old in session.scalars(select(SmsMeetingCommand).where(
            SmsMeetingCommand.phone == phone, SmsMeetingCommand.status == "pending")):
        old.status, old.done_at, old.outcome = "replaced", now, "a newer command came"
    code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    session.add(SmsMeetingCommand(group_id=group.id, member_id=member.id, phone=phone, code=code, plan=plan,
                                  status="pending", wrong_codes=0, created_at=now,
                                  expires_at=now + timedelta(minutes=VALID_MINUTES)))
    session.flush()
    _reply(session, group, member, phone, {"command": "meeting_preview", "code": code,
                                           "minutes": VALID_MINUTES, **summary(session, group, plan)})
    return "meeting_preview"


MONEY_FACTS: Final = frozenset({"owed", "expected_loan_fund", "expected_social_fund",
                                 "counted_loan_fund", "counted_social_fund"})


def _facts(error: DomainError, currency: str) -> dict[str, Any]:
    """The facts a refusal's text may show: amounts in minor units, numbers, the member's number."""
    facts: dict[str, Any] = {"code": error.code}
    for name, value in (error.facts or {}).items():
        if name in MONEY_FACTS and isinstance(value, str):
            facts[name] = Money.parse(value, currency).minor
        elif isinstance(value, int | str) and not isinstance(value, bool):
            facts[name] = value
    return facts


def _confirm(session: Session, member: Member, group: Group, phone: str, tokens: list[str]) -> str:
    typed = tokens[1].upper()
    now = utcnow()
    rows = list(session.scalars(select(SmsMeetingCommand).where(
        SmsMeetingCommand.phone == phone, SmsMeetingCommand.group_id == group.id,
        SmsMeetingCommand.status.in_(("pending", "posted")))
        .order_by(SmsMeetingCommand.id.desc()).with_for_update()))
    for row in rows:
        if row.code == typed and row.status == "posted":
            _reply(session, group, member, phone, {"command": "meeting_already", "code": row.code})
            return "meeting_already"
    pending = next((row for row in rows if row.status == "pending"), None)
    if pending is None:
        raise Refused("nothing_pending")
    expires = pending.expires_at if pending.expires_at.tzinfo else pending.expires_at.replace(
        tzinfo=ZoneInfo("UTC"))
    if now > expires:
        pending.status, pending.done_at, pending.outcome = "expired", now, "no OK within 30 minutes"
        raise Refused("expired", minutes=str(VALID_MINUTES))
    if pending.code != typed:
        pending.wrong_codes += 1
        if pending.wrong_codes >= MAX_WRONG_CODES:
            pending.status, pending.done_at, pending.outcome = "cancelled", now, "wrong codes"
            raise Refused("code_cancelled")
        raise Refused("code_wrong")
    work = session.begin_nested()
    try:
        execute(session, _actor(member, group), group, pending.plan, key=f"sms:{pending.id}")
    except DomainError as error:
        work.rollback()
        pending.status, pending.done_at, pending.outcome = "refused", now, error.code
        raise Refused("rule", **_facts(error, group.currency)) from None
    work.commit()
    pending.status, pending.done_at, pending.outcome = "posted", now, "posted"
    session.flush()
    _reply(session, group, member, phone, {"command": "meeting_done", "code": pending.code,
                                           **summary(session, group, pending.plan)})
    return "meeting_posted"

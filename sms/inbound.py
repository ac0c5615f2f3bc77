"""Inbound SMS commands: BAL, LOAN, HELP, LANG xx, in English, Swahili and Arabic; a treasurer's
meeting (M ...) and its OK <code> are answered by sms.meeting_command.

A reply is queued in the outbox (kind 'reply') to the sender's own number and sent by the worker.
A number that belongs to no member gets one polite reply a day at most. The same AT id is
handled once.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from sms import meeting_command
from sms.models import SmsInbound
from sms.schedule import once
from vision_ledger import ledger, ratelimits
from vision_ledger.actors import Actor
from vision_ledger.db import utcnow
from vision_ledger.groups import groups_of_phone, update_member
from vision_ledger.loans import active_loan, loan_facts
from vision_ledger.statements import position, position_payload

log = logging.getLogger("sms.inbound")

# word -> (command, the language the word is in)
COMMANDS: Final[dict[str, tuple[str, str]]] = {
    "bal": ("balance", "en"), "balance": ("balance", "en"), "statement": ("balance", "en"),
    "salio": ("balance", "sw"), "taarifa": ("balance", "sw"),
    "رصيد": ("balance", "ar"), "كشف": ("balance", "ar"),
    "loan": ("loan", "en"), "mkopo": ("loan", "sw"), "قرض": ("loan", "ar"),
    "help": ("help", "en"), "msaada": ("help", "sw"), "مساعده": ("help", "ar"),
    "lang": ("lang", "en"), "language": ("lang", "en"), "lugha": ("lang", "sw"),
    "لغه": ("lang", "ar"),
}
LANGUAGES: Final[dict[str, str]] = {
    "en": "en", "eng": "en", "english": "en", "kiingereza": "en", "انجليزي": "en",
    "انجليزيه": "en", "الانجليزيه": "en",
    "sw": "sw", "swa": "sw", "swahili": "sw", "kiswahili": "sw", "سواحيلي": "sw",
    "ar": "ar", "ara": "ar", "arabic": "ar", "kiarabu": "ar", "عربي": "ar", "العربيه": "ar",
    "عربيه": "ar",
}
_ARABIC_MARKS = re.compile("[\u064b-\u0652\u0670\u0640]")  # harakat, dagger alef, tatweel
_ARABIC_FOLD = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ة": "ه", "ى": "ي"})
_PUNCTUATION = re.compile(r"[^\w\s]", re.UNICODE)


def normalise(text: str) -> list[str]:
    """Return the words of text, case-folded, spacing and punctuation gone, Arabic spellings folded."""
    text = unicodedata.normalize("NFKC", text or "").casefold()
    text = _ARABIC_MARKS.sub("", text).translate(_ARABIC_FOLD)
    return _PUNCTUATION.sub(" ", text).split()


def parse(text: str) -> tuple[str, str | None, str | None]:
    """Return (command, language argument, the language the command was written in).

    An unknown or empty text is ("help", None, None); "LANG" without a known language is help too.
    """
    words = normalise(text)
    if not words:
        return "help", None, None
    command, hint = COMMANDS.get(words[0], ("help", None))
    if command == "lang":
        chosen = LANGUAGES.get(words[1]) if len(words) > 1 else None
        return ("lang", chosen, hint) if chosen else ("help", None, hint)
    return command, None, hint


def sender_phone(raw: str) -> str:
    """E.164 from AT's `from`; a '+' sent unencoded arrives as a space."""
    raw = (raw or "").strip()
    return "+" + raw if raw.isdigit() else raw


def handle(session: Session, form: Mapping[str, str],
           reply_limit: ratelimits.Limit | None = None) -> str:
    """Record an inbound SMS and queue the reply; return what was done (for logs and tests).

    Past `reply_limit` replies to one phone (VISION_SMS_REPLY_LIMIT) the SMS is recorded and
    counted (rate_limits `sms:reply:<phone>`) but not answered: "throttled"."""
    phone = sender_phone(form.get("from", ""))
    text = form.get("text", "") or ""
    at_id = form.get("id") or "noid:" + hashlib.sha256(
        f"{phone}|{form.get('date')}|{text}".encode()).hexdigest()[:40]
    if session.scalar(select(SmsInbound.id).where(SmsInbound.at_id == at_id)) is not None:
        return "duplicate"
    if meeting_command.claims(text):  # a treasurer's meeting (M ...) or its OK <code>
        # Its preview and confirmation are replies too: the same per-phone limit applies. Past it
        # the text (which holds a PIN) is not kept; the hit is counted and logged.
        if reply_limit and (wait := ratelimits.hit(session, f"sms:reply:{phone}", reply_limit)):
            log.warning("inbound meeting command %s from %s****: over the reply limit, not answered "
                        "(window ends in %ss)", at_id, phone[:-4], wait)
            return "throttled"
        return meeting_command.handle(session, form, phone, at_id)
    command, language, hint = parse(text)
    session.add(SmsInbound(at_id=at_id[:100], phone=phone[:20], shortcode=(form.get("to") or "")[:20],
                           text=text[:1000], link_id=form.get("linkId"),
                           network_code=(form.get("networkCode") or "")[:10] or None,
                           command=command))
    session.flush()  # the unique AT id refuses a concurrent duplicate here
    if reply_limit and (wait := ratelimits.hit(session, f"sms:reply:{phone}", reply_limit)):
        log.warning("inbound SMS %s from %s****: over the reply limit, not answered (window ends in %ss)",
                    at_id, phone[:-4], wait)
        return "throttled"
    memberships = groups_of_phone(session, phone)
    if not memberships:
        if once(session, f"stranger:{phone}:{utcnow().date().isoformat()}"):
            ledger.queue_message(session, None, None, "reply", payload={"command": "stranger"},
                                 phone=phone, language=hint or "en")
            return "stranger"
        return "stranger_throttled"
    for index, (member, group) in enumerate(memberships):
        actor = Actor(role="member", channel="sms", group_id=group.id, member_id=member.id)
        payload: dict[str, Any]
        if command == "lang":
            update_member(session, actor, group, member, language=language)
            payload = {"command": "lang"}
        elif command == "balance":
            payload = {"command": "balance", "reason": "request",
                       **position_payload(position(session, group, member))}
        elif command == "loan":
            payload = {"command": "loan", "loan_balance": 0, **loan_facts(active_loan(session, member.id))}
        else:
            payload = {"command": "help"}
        # Balance and loan differ per group; help and a language change need saying once.
        if index == 0 or command in ("balance", "loan"):
            ledger.queue_message(session, group, member.id, "reply", payload=payload, phone=phone)
    return command

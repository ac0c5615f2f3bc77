"""Message texts in English, Swahili and Arabic, rendered from an outbox row's payload.

English and Swahili texts are built to fit one 160-character GSM-7 segment: names are folded to
GSM-7 (a curly quote or an "ë" in a name must not turn the message into UCS-2, which halves its
room), the group name is shortened before anything else, and optional facts are added only while
the text still fits. A text goes past one segment only when its required facts do not fit with
the shortest group name. Arabic is UCS-2 by nature and keeps to two parts (70 characters alone,
67 each when joined): a text that would take a third is written in the compact form (the currency
named once after the date, amounts without it, dates as day/month).

The words are gettext messages (sms.words, sms.meeting_words) in the catalogs every door shares
(vision_ledger.i18n): English is the msgid, Swahili and Arabic are translations with their own
plural forms wherever a count is shown.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, Final

from babel.dates import format_date
from babel.numbers import format_decimal

from sms import meeting_words as mw
from sms.gsm import GSM7_BASIC, GSM7_EXTENSION, segments, to_gsm7
from sms.words import COMPACT, KINDS, WORDS
from vision_ledger.amounts import ARABIC_DIGITS
from vision_ledger.i18n import LANGUAGES, Message, translate
from vision_ledger.money import Money, locale_for, minor_digits

MAX_SEGMENTS: Final = {"en": 1, "sw": 1, "ar": 2}
GROUP_NAME_MAX: Final = 24  # characters of the group name a text starts with
GROUP_NAME_MIN: Final = 10  # the shortest it is cut to before a text may take two parts


class RenderError(ValueError):
    """The payload lacks a fact the text needs (the message is failed, not sent)."""


def language_of(language: str | None) -> str:
    """Return the member's language if we have texts in it, else English."""
    lang = (language or "en").lower()[:2]
    return lang if lang in LANGUAGES else "en"


def gsm_safe(text: str) -> str:
    """Return text with every character GSM-7: typography folded, accents dropped, the rest '?'."""
    text = to_gsm7(" ".join(str(text).split()))
    out = []
    for ch in text:
        if ch in GSM7_BASIC or ch in GSM7_EXTENSION:
            out.append(ch)
            continue
        plain = "".join(c for c in unicodedata.normalize("NFKD", ch) if c in GSM7_BASIC)
        out.append(plain or "?")
    return "".join(out)


def shorten(name: str, limit: int) -> str:
    """Cut name to limit characters, at a word boundary when one is near the end."""
    if len(name) <= limit:
        return name
    cut = name[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space >= limit - 6 and space > 0 else cut).rstrip(" .,-")


class _Ctx:
    """The facts of one payload, formatted for one language."""

    def __init__(self, payload: dict[str, Any], language: str, *, compact: bool = False) -> None:
        self.p = payload
        self.lang = language
        self.currency = str(payload.get("currency") or "")
        self.compact = compact

    def fact(self, key: str) -> Any:
        if self.p.get(key) is None:
            raise RenderError(f"payload has no {key!r}")
        return self.p[key]

    def money(self, key: str) -> str:
        value = self.fact(key)
        if not self.currency:
            raise RenderError("payload has no currency")
        # Written the group's way (its locale: sq_XK writes "EUR 1.250,50" to every reader, as
        # the USSD pages do); a payload queued before the locale was carried, the language's way.
        text = Money(int(value), self.currency).format(self.lang, with_minor=False,
                                                       locale=self.p.get("locale"))
        if self.compact:
            # The compact form names the currency once, in the text's head.
            text = " ".join(text.replace(self.currency, " ").split())
        return text

    def num(self, key: str) -> str:
        text = format_decimal(int(self.fact(key)), locale=locale_for(self.lang), format="#,##0")
        return text.translate(ARABIC_DIGITS) if self.lang == "ar" else text

    def date(self, key: str) -> str:
        day = date.fromisoformat(str(self.fact(key)))
        text = f"{day.day}/{day.month}" if self.compact else \
            format_date(day, "d MMM", locale=locale_for(self.lang))
        return text.translate(ARABIC_DIGITS) if self.lang == "ar" else text

    def has(self, key: str) -> bool:
        return self.p.get(key) is not None

    def text(self, message: Message, count: str | None = None, n: str | None = None,
             **facts: str) -> str:
        """A message in the text's language, filled with facts; a plural message counts the
        payload fact `count` (shown as {n}: the fact formatted, unless `n` says how)."""
        number = None
        if message.plural is not None:
            if count is None:
                raise RenderError(f"no count for {message}")
            number = int(self.fact(count))
            facts["n"] = self.num(count) if n is None else n
        return translate(self.lang, message, number).format(**facts)

    def say(self, word: str, count: str | None = None, **facts: str) -> str:
        """A word of sms.words (its compact form in a compact text)."""
        message = COMPACT.get(word, WORDS[word]) if self.compact else WORDS[word]
        return self.text(message, count, **facts)

    def kind(self, kind: object) -> str:
        """An entry's kind named in the text's language ("entry" when the kind is unknown)."""
        return translate(self.lang, KINDS.get(str(kind), KINDS["entry"]))


def compose(ctx: _Ctx, head: str, required: list[str], optional: Sequence[str] = (),
            *, with_group: bool = True) -> str:
    """Join "<group> <head>: <required> <optional...>" into the language's segment budget."""
    gsm = ctx.lang != "ar"
    budget = MAX_SEGMENTS[ctx.lang]
    name = str(ctx.p.get("group") or "") if with_group else ""
    name = gsm_safe(name) if gsm else " ".join(name.split())
    if ctx.compact and ctx.currency:
        head = f"{head} {ctx.currency}".strip()

    def build(limit: int, parts: list[str]) -> str:
        prefix = " ".join(x for x in (shorten(name, limit), head) if x)
        body = " ".join(x for x in parts if x)
        text = f"{prefix}: {body}" if prefix else body
        return to_gsm7(gsm_safe(text) if gsm else text)

    limit = GROUP_NAME_MAX
    text = build(limit, required)
    while segments(text) > budget and limit > GROUP_NAME_MIN:
        limit -= 2
        text = build(limit, required)
    chosen = list(required)
    for part in optional:
        candidate = build(limit, [*chosen, part])
        if segments(candidate) <= budget:
            chosen.append(part)
            text = candidate
    return text


# -- receipts -------------------------------------------------------------------------------


def _loan_tail(c: _Ctx) -> list[str]:
    """ "Loan KES 1,100 due 19 Dec." when the payload knows of a loan (optional fact)."""
    if c.has("loan_balance") and int(c.p["loan_balance"]) > 0 and c.has("loan_due_on"):
        return [c.say("loan_due", amount=c.money("loan_balance"), due=c.date("loan_due_on"))]
    return []


def _receipt(c: _Ctx) -> str:
    kind = str(c.fact("kind"))
    head = c.date("date")
    amount = c.money("amount") if c.has("amount") else ""
    required: list[str]
    optional: list[str] = []
    if kind == "share_purchase":
        required = [c.say("bought", count="shares", amount=amount)]
        if c.has("total_shares") and c.has("savings"):
            required.append(c.say("shares_total", count="total_shares", savings=c.money("savings")))
        optional = _loan_tail(c)
    elif kind == "social_fund":
        required = [c.say("social_paid", amount=amount)]
        if c.has("social_total"):
            required.append(c.say("social_cycle", amount=c.money("social_total")))
    elif kind == "fine":
        required = [c.say("fine", amount=amount, name=str(c.p.get("fine") or ""))]
    elif kind == "welfare":
        required = [c.say("welfare", amount=amount)]
    elif kind == "loan":
        required = [c.say("loan_given", amount=amount, owed=c.money("owed"), due=c.date("due_on"))]
        if c.has("purpose"):  # the purpose's title in the member's language (vision_ledger.purposes)
            required.append(c.say("loan_purpose", purpose=str(c.p["purpose"])))
        if c.has("charge") and int(c.p["charge"]):
            optional = [c.say("charge_incl", charge=c.money("charge"))]
    elif kind in ("repayment", "service_charge", "rollover"):
        word = {"repayment": "repaid", "service_charge": "charged", "rollover": "rolled"}[kind]
        required = [c.say(word, amount=amount)]
        if int(c.fact("owed")) == 0:
            required.append(c.say("loan_cleared"))
        else:
            required.append(c.say("balance_due", owed=c.money("owed"), due=c.date("due_on")))
    elif kind == "write_off":
        required = [c.say("written_off", amount=amount)]
    elif kind == "member_exit":
        return _exit(c)
    elif kind == "reversal":
        what = c.kind(c.p.get("reversed_kind"))
        by = c.say("by_treasurer" if c.p.get("by") == "treasurer" else "by_staff")
        word = "reversed" if amount and int(c.p["amount"]) else "reversed_nothing"
        required = [c.say(word, day=c.date("reversed_date"), what=what, amount=amount, by=by)]
    else:
        required = [c.say("recorded", what=c.kind(kind), amount=amount)]
    return compose(c, head, required, optional)


def _exit(c: _Ctx) -> str:
    required = [c.say("left")]
    if int(c.p.get("owed") or 0):
        required.append(c.say("exit_owed", savings=c.money("savings"), owed=c.money("owed"),
                              payout=c.money("amount")))
    else:
        required.append(c.say("exit_paid", payout=c.money("amount")))
    return compose(c, c.date("date") if c.has("date") else "", required)


# -- statements, announcements, reminders, replies ------------------------------------------


def _statement(c: _Ctx) -> str:
    meeting = c.p.get("reason") == "meeting" and c.has("meeting_date")
    head = c.date("meeting_date") if meeting else c.say("statement")
    required = [c.say("shares_total", count="shares", savings=c.money("savings"))]
    if c.has("payout") and c.has("payout_kind"):
        # Her share-out or exit payout, when it is her latest entry: the statement says so.
        what = c.kind(c.p["payout_kind"])
        required.append(f"{what} {c.say('exit_paid', payout=c.money('payout'))}")
    loan = _loan_tail(c)
    if not loan and c.has("loan_balance") and not c.compact:  # the compact form leaves it out
        loan = [c.say("no_loan")]
    required += loan
    optional = []
    if meeting and c.has("closing_loan_fund") and c.has("closing_social_fund"):
        # The closing cash announced at the meeting: members are expected to remember it.
        required.append(c.say("box", loan_fund=c.money("closing_loan_fund"),
                              social=c.money("closing_social_fund")))
    if c.has("social_fund_paid"):
        optional.append(c.say("social_total", amount=c.money("social_fund_paid")))
    if c.has("next_meeting"):
        optional.append(c.say("next_meeting", day=c.date("next_meeting")))
    return compose(c, head, required, optional)


def _grant(c: _Ctx) -> str:
    return compose(c, c.date("date"), [c.say("grant", amount=c.money("amount"))])


def _share_out(c: _Ctx) -> str:
    required = [c.say("share_out", count="shares", payout=c.money("payout"))]
    optional = []
    if c.has("value_per_share") and c.currency:
        # An exact decimal in major units; shown to the minor unit, as the money counters read it.
        value = Money.parse(_major(str(c.p["value_per_share"]), c.currency), c.currency)
        optional.append(c.say("per_share", value=value.format(c.lang)))
    return compose(c, c.date("date") if c.has("date") else "", required, optional)


def _major(value: str, currency: str) -> str:
    """Cut an exact decimal string down to the currency's minor unit (never rounding up)."""
    whole, _, fraction = value.partition(".")
    digits = minor_digits(currency)
    return whole + ("." + (fraction + "000")[:digits] if digits else "")


def _reminder(c: _Ctx) -> str:
    return compose(c, c.say("reminder"), [c.say("reminder_due", amount=c.money("loan_balance"),
                                               due=c.date("loan_due_on"))])


def _reply(c: _Ctx) -> str:
    command = str(c.p.get("command") or "help")
    if command == "balance":
        return _statement(c)
    if command == "loan":
        loan = _loan_tail(c) or [c.say("no_loan")]
        return compose(c, c.say("loan_head"), loan)
    if command == "lang":
        return compose(c, "", [c.say("lang_set")], with_group=False)
    if command == "stranger":
        return compose(c, "", [c.say("stranger")], with_group=False)
    if command.startswith("meeting_"):
        return _meeting_reply(c, command)
    return compose(c, "", [c.say("help")], with_group=False)


_MEETING_MONEY: Final = ("owed", "expected_loan_fund", "expected_social_fund")


def _meeting_reply(c: _Ctx, command: str) -> str:
    """The answer to a meeting sent by SMS: what was understood and its code, the result, or why not."""
    if command == "meeting_already":
        return compose(c, "", [c.text(mw.ALREADY, code=c.fact("code"))], with_group=False)
    if command == "meeting_refused":
        reason = str(c.fact("reason"))
        if reason == "rule":
            code = str(c.fact("code"))
            facts = {k: (c.money(k) if k in _MEETING_MONEY else c.num(k) if isinstance(v, int) else str(v))
                     for k, v in c.p.items() if v is not None and k not in ("group", "currency")}
            try:
                said = c.text(mw.REFUSALS[code], mw.COUNTED.get(code), **facts)
                return compose(c, "", [said, c.text(mw.TAIL)], with_group=False)
            except (KeyError, RenderError):  # a code without words, or a fact they need missing
                return compose(c, "", [c.text(mw.RULE, code=code)], with_group=False)
        facts = {k: str(c.p.get(k) or "") for k in ("word", "number", "days", "minutes", "groups")}
        for k in ("day", "last"):
            facts[k] = c.date(k) if c.has(k) else ""
        if c.lang != "ar":
            facts["word"] = gsm_safe(facts["word"])[:20]
            facts["groups"] = gsm_safe(facts["groups"])
        counted = mw.COUNTED.get(reason)
        # The count shows as the command wrote it (the digits it was given).
        shown = facts.pop(counted) if counted else None
        said = c.text(mw.REASONS[reason], counted, n=shown, example=mw.EXAMPLE, **facts)
        return compose(c, "", [said], with_group=False)
    # Five amounts: named once (the currency in the head), as in Arabic's compact form.
    c = _Ctx(c.p, c.lang, compact=True)
    head = c.text(mw.HEAD_OPENS if c.p.get("opens") else mw.HEAD, day=c.date("day"))
    required = []
    if int(c.p.get("shares") or 0):
        required.append(c.text(mw.SHARES, "buyers", shares=c.num("shares"),
                               amount=c.money("shares_amount")))
    if int(c.p.get("social") or 0):
        required.append(c.text(mw.SOCIAL, "social", amount=c.money("social_amount")))
    if int(c.p.get("repaid") or 0):
        required.append(c.text(mw.REPAID, "repaid", amount=c.money("repaid_amount")))
    if c.has("close_loan_fund"):
        required.append(c.text(mw.CLOSE, loan_fund=c.money("close_loan_fund"),
                               social=c.money("close_social_fund")))
    if command == "meeting_done":
        return compose(c, head, [c.text(mw.DONE), *required], with_group=False)
    required.append(c.text(mw.OK, "minutes", code=c.fact("code")))
    return compose(c, head, required, with_group=False)


RENDERERS: Final[dict[str, Callable[[_Ctx], str]]] = {
    "receipt": _receipt,
    "statement": _statement,
    "grant": _grant,
    "share_out": _share_out,
    "exit": _exit,
    "reminder": _reminder,
    "reply": _reply,
}


def render(kind: str, payload: dict[str, Any], language: str | None) -> str:
    """Return the text of an outbox message. Raises RenderError for an unknown kind or missing fact."""
    renderer = RENDERERS.get(kind)
    if renderer is None:
        raise RenderError(f"no text for messages of kind {kind!r}")
    lang = language_of(language)
    try:
        text = renderer(_Ctx(dict(payload or {}), lang))
        if segments(text) > MAX_SEGMENTS[lang] and lang == "ar":
            text = renderer(_Ctx(dict(payload or {}), lang, compact=True))
        return text
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, RenderError):
            raise
        raise RenderError(f"cannot render {kind}: {exc!r}") from exc

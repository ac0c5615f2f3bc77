"""Words and numbers in the member's language: gettext catalogs (English source strings), money,
dates, and domain refusals turned into short sentences.

The catalogs are `translations/<lang>/LC_MESSAGES/messages.po`; they are compiled in memory with
Babel the first time a language is used, so no binary catalog is kept in the repository.
"""

from __future__ import annotations

import gettext
import io
from datetime import date
from functools import cache
from pathlib import Path

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from vision_ledger.amounts import ARABIC_DIGITS
from vision_ledger.errors import DomainError
from vision_ledger.gsm import fits_ussd_page, ussd_size
from vision_ledger.money import Money, locale_for

LANGUAGES = ("en", "sw", "ar")
LANGUAGE_NAMES = {"en": "English", "sw": "Kiswahili", "ar": "العربية"}
TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# A page (what follows "CON "/"END ") is measured as the gateway sends it: 182 GSM-7 septets
# (extension characters such as [ ] { } ^ ~ | \\ and the euro sign count two), or 80 UCS-2
# characters once one character is outside GSM-7 (every Arabic page).
fits = fits_ussd_page
page_size = ussd_size


@cache
def catalog(language: str) -> gettext.NullTranslations:
    """The compiled catalog of a language (English is the source: no catalog)."""
    path = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as fh:
        po = read_po(fh, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, po)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Texts:
    """`t("Shares: {n}", n=3)` in one language; `t.money(...)`, `t.date(...)` format for it."""

    def __init__(self, language: str, currency: str = "KES", locale: str | None = None) -> None:
        self.language = language if language in LANGUAGES else "en"
        self.currency = currency
        self.locale = locale  # the group's: amounts are read and written its way
        self._catalog = catalog(self.language)

    def __call__(self, msgid: str, **facts: object) -> str:
        text = self._catalog.gettext(msgid)
        return text.format_map(_Facts(facts)) if "{" in text else text

    def n(self, singular: str, plural: str, count: int, **facts: object) -> str:
        """The plural form the catalog gives for `count` (shown as {n}, in the language's digits)."""
        text = self._catalog.ngettext(singular, plural, count)
        return text.format_map(_Facts({"n": self.digits(count), **facts}))

    def money(self, amount: Money | int | str) -> str:
        if isinstance(amount, int):
            amount = Money(amount, self.currency)
        elif isinstance(amount, str):
            amount = Money.parse(amount, self.currency)
        return amount.format(self.language, with_minor=False, locale=self.locale)

    def date(self, day: date | str | None) -> str:
        if day is None:
            return "-"
        if isinstance(day, str):
            day = date.fromisoformat(day[:10])
        text = format_date(day, "d MMM yyyy", locale=locale_for(self.language))
        return self.digits(text)

    def digits(self, text: object) -> str:
        """Numbers shown to read (not typed): Arabic-Indic digits where the locale writes them."""
        text = str(text)
        return text.translate(ARABIC_DIGITS) if self.language == "ar" else text


class _Facts(dict):
    """A fact the error did not carry shows as "?" rather than failing the page."""

    def __missing__(self, key: str) -> str:
        return "?"


def short(name: str, size: int = 12) -> str:
    """Names are cut so a page keeps within the limit whatever the member is called."""
    name = " ".join(name.split())
    return name if len(name) <= size else name[: size - 1] + "."


# --- refusals ---------------------------------------------------------------------------------
# A domain error's code -> an English sentence (the msgid) whose {fields} are the error's facts.
# Facts that are amounts are decimal strings in the group's currency: formatted with t.money.
_MONEY_FACTS = {"maximum", "minimum", "requested", "available", "owed", "savings", "needed"}

REFUSALS: dict[str, str] = {
    "meeting.not_open": "No meeting is open.",
    "meeting.already_open": "A meeting is already open.",
    "group.forming": "The group needs {minimum} members to meet.",
    "meeting.no_quorum": "No quorum: {present} of {active} present.",
    "meeting.date_before_last": "A meeting cannot be dated before the last one.",
    "meeting.before_cycle": "The cycle has not started.",
    "meeting.date_in_future": "A meeting cannot be dated in the future.",
    "meeting.unknown_member": "Absent members must be active members.",
    "meeting.invalid_count": "A count cannot be negative.",
    "meeting.cash_mismatch": "The count does not match the books.",
    "cycle.none_open": "The group has no open cycle.",
    "member.not_found": "No such member.",
    "member.not_active": "That member has left the group.",
    "shares.below_minimum": "Buy at least {minimum} share(s).",
    "shares.above_maximum": "At most {maximum} shares a meeting ({already} bought).",
    "social_fund.already_paid": "Social fund already paid at this meeting.",
    "social_fund.none_set": "This cycle has no social fund contribution.",
    "fine.unknown": "The group has no such fine.",
    "welfare.invalid_amount": "The amount must be more than zero.",
    "welfare.reason_required": "Say what the payout is for.",
    "welfare.above_social_fund": "The social fund holds only {available}.",
    "loan.below_minimum": "Loan below the group minimum of {minimum}.",
    "loan.above_maximum": "Loan above the group maximum of {maximum}.",
    "loan.above_savings_multiple": "Loan above {multiple}x savings ({maximum}).",
    "loan.active_loan_exists": "The member must repay the current loan first.",
    "loan.above_cash_on_hand": "The loan fund holds only {available}.",
    "loan.term_too_long": "A loan is for at most {maximum} months.",
    "loan.invalid_term": "A loan term is a whole number of months.",
    "loan.due_after_shareout": "The loan would fall due after the share-out.",
    "loan.none_active": "The member has no loan to repay.",
    "repayment.invalid_amount": "The amount must be more than zero.",
    "repayment.above_balance": "More than the {owed} owed.",
    "reversal.outside_open_meeting": "Only entries of the open meeting can be undone.",
    "reversal.not_reversible": "This entry cannot be undone.",
    "reversal.already_reversed": "This entry was already undone.",
    "reversal.loan_has_later_entries": "Undo the loan's later entries first.",
    "reversal.staff_only": "Only programme staff can undo this entry.",
    "ledger.cash_short": "Not enough cash in the bag.",
    "pin.wrong": "Wrong PIN. {attempts_left} tries left.",
    "pin.locked": "Too many wrong PINs. Try again in {minutes} minutes.",
    "pin.not_set": "No PIN is set. Ask your programme officer.",
    "pin.invalid_format": "A PIN is 4 digits.",
    "pin.same": "Choose a PIN different from the old one.",
    "money.invalid_amount": "Not an amount.",
    "money.too_precise": "Too many decimal places.",
    "money.ambiguous_amount": "Unclear amount. Type {decimal} or {whole}.",
    "money.currency_mismatch": "Wrong currency.",
    "idempotency.key_reused": "This request was already used for something else.",
    "permission.treasurer_only": "Only the treasurer can do this.",
    "permission.denied": "Not allowed.",
}
GENERIC_REFUSAL = "Not allowed ({code})."


def refusal(t: Texts, error: DomainError) -> str:
    """A domain error as a short sentence in the member's language."""
    msgid = REFUSALS.get(error.code)
    facts = dict(error.facts)
    for name, value in list(facts.items()):
        if name in _MONEY_FACTS and isinstance(value, str):
            try:
                facts[name] = t.money(Money.parse(value, t.currency))
            except DomainError:
                facts[name] = value
        elif isinstance(value, int):
            facts[name] = t.digits(value)
    if msgid is None:
        return t(GENERIC_REFUSAL, code=error.code)
    return t(msgid, **facts)


def marker(msgid: str) -> str:
    """Marks a string for extraction whose translation happens later (menu labels)."""
    return msgid

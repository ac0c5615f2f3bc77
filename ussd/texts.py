"""Words and numbers in the member's language: gettext catalogs (English source strings), money,
dates, and domain refusals turned into short sentences.

The catalogs are shared with the SMS door: `vision_ledger.i18n` (`translator(language)`) reads
`vision_ledger/translations/<lang>/LC_MESSAGES/messages.po` once per process and language.
"""

from __future__ import annotations

from datetime import date

from babel.dates import format_date

from vision_ledger.amounts import ARABIC_DIGITS
from vision_ledger.errors import DomainError
from vision_ledger.gsm import fits_ussd_page, ussd_size
from vision_ledger.i18n import LANGUAGES, Message, marker, plural, translator
from vision_ledger.money import Money, locale_for

LANGUAGE_NAMES = {"en": "English", "sw": "Kiswahili", "ar": "العربية"}
# A page (what follows "CON "/"END ") is measured as the gateway sends it: 182 GSM-7 septets
# (extension characters such as [ ] { } ^ ~ | \\ and the euro sign count two), or 80 UCS-2
# characters once one character is outside GSM-7 (every Arabic page).
fits = fits_ussd_page
page_size = ussd_size


class Texts:
    """`t("Shares: {n}", n=3)` in one language; `t.money(...)`, `t.date(...)` format for it."""

    def __init__(self, language: str, currency: str = "KES", locale: str | None = None) -> None:
        self.language = language if language in LANGUAGES else "en"
        self.currency = currency
        self.locale = locale  # the group's: amounts are read and written its way
        self._catalog = translator(self.language)

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
    "meeting.not_open": marker("No meeting is open."),
    "meeting.already_open": marker("A meeting is already open."),
    "meeting.no_quorum": marker("No quorum: {present} of {active} present."),
    "meeting.date_before_last": marker("A meeting cannot be dated before the last one."),
    "meeting.before_cycle": marker("The cycle has not started."),
    "meeting.date_in_future": marker("A meeting cannot be dated in the future."),
    "meeting.unknown_member": marker("Absent members must be active members."),
    "meeting.invalid_count": marker("A count cannot be negative."),
    "meeting.cash_mismatch": marker("The count does not match the books."),
    "cycle.none_open": marker("The group has no open cycle."),
    "member.not_found": marker("No such member."),
    "member.not_active": marker("That member has left the group."),
    "social_fund.already_paid": marker("Social fund already paid at this meeting."),
    "social_fund.none_set": marker("This cycle has no social fund contribution."),
    "fine.unknown": marker("The group has no such fine."),
    "welfare.invalid_amount": marker("The amount must be more than zero."),
    "welfare.reason_required": marker("Say what the payout is for."),
    "welfare.above_social_fund": marker("The social fund holds only {available}."),
    "loan.below_minimum": marker("Loan below the group minimum of {minimum}."),
    "loan.above_maximum": marker("Loan above the group maximum of {maximum}."),
    "loan.above_savings_multiple": marker("Loan above {multiple}x savings ({maximum})."),
    "loan.active_loan_exists": marker("The member must repay the current loan first."),
    "loan.above_cash_on_hand": marker("The loan fund holds only {available}."),
    "loan.invalid_term": marker("A loan term is a whole number of months."),
    "loan.due_after_shareout": marker("The loan would fall due after the share-out."),
    "loan.none_active": marker("The member has no loan to repay."),
    "repayment.invalid_amount": marker("The amount must be more than zero."),
    "repayment.above_balance": marker("More than the {owed} owed."),
    "reversal.outside_open_meeting": marker("Only entries of the open meeting can be undone."),
    "reversal.not_reversible": marker("This entry cannot be undone."),
    "reversal.already_reversed": marker("This entry was already undone."),
    "reversal.loan_has_later_entries": marker("Undo the loan's later entries first."),
    "reversal.staff_only": marker("Only programme staff can undo this entry."),
    "ledger.cash_short": marker("Not enough cash in the bag."),
    "pin.not_set": marker("No PIN is set. Ask your programme officer."),
    "pin.invalid_format": marker("A PIN is 4 digits."),
    "pin.same": marker("Choose a PIN different from the old one."),
    "money.invalid_amount": marker("Not an amount."),
    "money.too_precise": marker("Too many decimal places."),
    "money.ambiguous_amount": marker("Unclear amount. Type {decimal} or {whole}."),
    "money.currency_mismatch": marker("Wrong currency."),
    "idempotency.key_reused": marker("This request was already used for something else."),
    "permission.treasurer_only": marker("Only the treasurer can do this."),
    "permission.denied": marker("Not allowed."),
}
GENERIC_REFUSAL = marker("Not allowed ({code}).")
# Refusals that show a count, in the language's plural form for it: code -> (the fact counted,
# shown as {n}; the message).
COUNTED_REFUSALS: dict[str, tuple[str, Message]] = {
    "group.forming": ("minimum", plural(None, "The group needs {n} member to meet.",
                                        "The group needs {n} members to meet.")),
    "shares.below_minimum": ("minimum", plural(None, "Buy at least {n} share.",
                                               "Buy at least {n} shares.")),
    "shares.above_maximum": ("maximum", plural(None, "At most {n} share a meeting ({already} bought).",
                                               "At most {n} shares a meeting ({already} bought).")),
    "loan.term_too_long": ("maximum", plural(None, "A loan is for at most {n} month.",
                                             "A loan is for at most {n} months.")),
    "pin.wrong": ("attempts_left", plural(None, "Wrong PIN. {n} try left.", "Wrong PIN. {n} tries left.")),
    "pin.locked": ("minutes", plural(None, "Too many wrong PINs. Try again in {n} minute.",
                                     "Too many wrong PINs. Try again in {n} minutes.")),
}
# An error without its count says "?" in the form a round hundred takes (every language shows {n}).
_UNKNOWN_COUNT = 100


def refusal(t: Texts, error: DomainError) -> str:
    """A domain error as a short sentence in the member's language."""
    msgid = REFUSALS.get(error.code)
    counted = COUNTED_REFUSALS.get(error.code)
    facts = dict(error.facts)
    for name, value in list(facts.items()):
        if name in _MONEY_FACTS and isinstance(value, str):
            try:
                facts[name] = t.money(Money.parse(value, t.currency))
            except DomainError:
                facts[name] = value
        elif isinstance(value, int):
            facts[name] = t.digits(value)
    if counted is not None:
        fact, text = counted
        count = error.facts.get(fact)
        if isinstance(count, int) and not isinstance(count, bool):
            return t.n(text.msgid, str(text.plural), count, **facts)
        return t.n(text.msgid, str(text.plural), _UNKNOWN_COUNT, **{**facts, "n": "?"})
    if msgid is None:
        return t(GENERIC_REFUSAL, code=error.code)
    return t(msgid, **facts)

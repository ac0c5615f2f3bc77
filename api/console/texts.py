"""The console's words, numbers, money and dates in the staff member's language.

Messages are English source strings translated through the project's one set of gettext catalogs
(`vision_ledger/translations`, through `vision_ledger.i18n.translator`), in context "console"
(`python -m vision_ledger.i18n` extracts them from this package's code and templates and checks
the Arabic catalog has each). Numbers, money and dates go through Babel in the
locale of the language (Arabic readers get Arabic-Indic digits, as the SMS and USSD doors write).
"""

from __future__ import annotations

import gettext
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

from vision_ledger.amounts import ARABIC_DIGITS
from vision_ledger.i18n import CONSOLE_CONTEXT, translator
from vision_ledger.money import Money, locale_for

LANGUAGES = ("en", "ar")
LANGUAGE_NAMES = {"en": "English", "ar": "العربية"}
RIGHT_TO_LEFT = frozenset({"ar"})


def _t(language: str) -> gettext.NullTranslations:
    """The catalog of a language (English is the source: no catalog)."""
    return translator(language if language in LANGUAGES else "en")


def best_language(accept: Any) -> str:
    """The first console language a browser's Accept-Language asks for (English otherwise)."""
    return accept.best_match(LANGUAGES, default="en") if accept is not None else "en"

# The day and moment types by other names: `Words` has methods called date and datetime.
Day = date
Moment = datetime


class Words:
    """`t("Message {n} will be sent again.", n=3)` in one language; `t.money`, `t.date`,
    `t.number`, `t.percent` format values for its readers; `t.value(v)` whatever a cell holds."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else "en"
        self.locale = locale_for(self.language)
        self.rtl = self.language in RIGHT_TO_LEFT
        self._catalog = _t(self.language)

    def __call__(self, msgid: str, **facts: Any) -> str:
        text = self._catalog.pgettext(CONSOLE_CONTEXT, msgid)
        return text.format(**{k: self.value(v) for k, v in facts.items()}) if facts else text

    def n(self, singular: str, plural: str, count: int, **facts: Any) -> str:
        text = self._catalog.npgettext(CONSOLE_CONTEXT, singular, plural, count)
        return text.format(n=self.number(count), **{k: self.value(v) for k, v in facts.items()})

    def _digits(self, text: str) -> str:
        return text.translate(ARABIC_DIGITS) if self.language == "ar" else text

    @property
    def _numbering(self) -> str:
        """Arabic separators with Arabic digits, as money is written for Arabic readers."""
        return "default" if self.language == "ar" else "latn"

    def number(self, value: int | Decimal) -> str:
        return self._digits(format_decimal(value, locale=self.locale, numbering_system=self._numbering))

    def percent(self, ratio: Decimal | None) -> str:
        if ratio is None:
            return "–"
        number = format_decimal(ratio * 100, format="#,##0.0", locale=self.locale,
                                numbering_system=self._numbering)
        return self._digits(number) + "%"

    def money(self, amount: Money | None) -> str:
        return "–" if amount is None else amount.format(self.language)

    def date(self, value: Day | None) -> str:
        return "–" if value is None else self._digits(format_date(value, "medium", locale=self.locale))

    def month(self, value: Day) -> str:
        """"Dec 2026": a monthly period on a chart."""
        return self._digits(format_date(value, "MMM y", locale=self.locale))

    def datetime(self, value: Moment | None) -> str:
        if value is None:
            return "–"
        return self._digits(format_datetime(value, "medium", tzinfo=None, locale=self.locale))

    def value(self, value: Any) -> str:
        """A table cell or message fact as its reader sees it."""
        if value is None:
            return "–"
        if isinstance(value, bool):
            return self("yes") if value else self("no")
        if isinstance(value, Money):
            return self.money(value)
        if isinstance(value, Ratio):
            return self.percent(value.value)
        if isinstance(value, datetime):
            return self.datetime(value)
        if isinstance(value, date):
            return self.date(value)
        if isinstance(value, int | Decimal):
            return self.number(value)
        return str(value)


class Ratio:
    """A ratio (0.1234) shown as a percentage on a page and as the plain decimal in a CSV file."""

    __slots__ = ("value",)

    def __init__(self, value: Decimal | None) -> None:
        self.value = value

    def __str__(self) -> str:
        return "" if self.value is None else str(self.value)


def plain(value: Any) -> Any:
    """A cell as a CSV file holds it: amounts as decimals ("12.50"), dates in ISO, ratios as
    decimals; what a spreadsheet reads the same in every locale."""
    if value is None:
        return ""
    if isinstance(value, Money):
        return value.decimal_string()
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)

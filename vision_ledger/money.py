"""Money: integer minor units plus an ISO 4217 currency. No float ever touches money."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from babel.core import Locale
from babel.numbers import format_decimal, get_currency_precision

from .amounts import ARABIC_DIGITS, MACHINE, convention, to_minor
from .errors import DomainError

# The largest amount, in minor units, that any single amount, balance or running total of one group
# may reach: 10^13 (KES 100 billion, UGX 10 trillion), so that the sum of such amounts over a whole
# programme of 100,000 accounts still fits a signed 64-bit integer (9.2 x 10^18) with room to spare.
# Real amounts sit millions of times below it; the programme policy's limits bound each kind.
MAX_AMOUNT_MINOR = 10**13


# The installation's choice of minor digits per currency (vision_ledger.currencies records it in
# the database when a currency's first programme is created; it never changes afterwards). A
# process learns the choices where it starts (`use_minor_digits`) and asks `_LOOKUP` about a
# currency it has not seen, so a worker started before a programme was created still reads and
# formats that programme's amounts with the programme's digits. Only recorded choices are cached.
_DIGITS: dict[str, int] = {}
_LOOKUP: list[Callable[[str], int | None]] = []  # at most one: where the process's database is


def use_minor_digits(choices: dict[str, int],
                     lookup: Callable[[str], int | None] | None = None) -> None:
    """Install the installation's recorded digits and the lookup for currencies not yet seen."""
    _DIGITS.clear()
    _DIGITS.update(choices)
    _LOOKUP.clear()
    if lookup is not None:
        _LOOKUP.append(lookup)


def reset_minor_digits() -> None:
    """Forget every recorded choice (tests: each test has its own database state)."""
    use_minor_digits({}, None)


def minor_digits(currency: str) -> int:
    """Digits after the decimal point for a currency: the installation's recorded choice, else
    CLDR's (KES 2, JPY 0, YER 0: CLDR's usage, where ISO 4217 says 2)."""
    digits = _DIGITS.get(currency)
    if digits is not None:
        return digits
    if _LOOKUP:
        digits = _LOOKUP[0](currency)
        if digits is not None:
            _DIGITS[currency] = digits
            return digits
    return get_currency_precision(currency)


def check_currency(currency: str) -> str:
    """Return the currency code if it is a known ISO 4217 code, else raise money.unknown_currency."""
    code = (currency or "").upper()
    if not re.fullmatch(r"[A-Z]{3}", code) or code not in Locale("en").currencies:
        raise DomainError("money.unknown_currency", f"Unknown currency {currency!r}", currency=currency)
    return code


@dataclass(frozen=True, slots=True, order=False)
class Money:
    """An amount in a currency's minor unit (cents)."""

    minor: int
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.minor, bool) or not isinstance(self.minor, int):
            raise TypeError("Money takes integer minor units; use Money.parse for decimal strings")

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def parse(cls, text: str | Decimal, currency: str) -> Money:
        """The machine form ("12.50", "-3": dot, no grouping), as JSON and stored facts carry it.
        Raises money.invalid_amount ("1,250" is not the machine form), money.too_precise."""
        if isinstance(text, float):
            raise TypeError("Money is never built from a float")
        currency = check_currency(currency)
        return cls(to_minor(str(text), minor_digits(currency), MACHINE, currency), currency)

    @classmethod
    def read(cls, text: str, currency: str, locale: str) -> Money:
        """An amount as a person typed it, read by the group's locale ("12,50" in sq_XK is 12.50).
        Raises money.invalid_amount, money.too_precise, money.ambiguous_amount (vision_ledger.amounts)."""
        if not isinstance(text, str):
            raise TypeError("Money.read reads typed text")
        currency = check_currency(currency)
        return cls(to_minor(text, minor_digits(currency), convention(locale), currency), currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    # --- arithmetic ---------------------------------------------------------------------------
    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"Cannot combine Money with {type(other).__name__}")
        if other.currency != self.currency:
            raise DomainError(
                "money.currency_mismatch",
                f"Cannot combine {self.currency} with {other.currency}",
                left=self.currency,
                right=other.currency,
            )

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor + other.minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.minor - other.minor, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.minor, self.currency)

    def __mul__(self, factor: int) -> Money:
        if isinstance(factor, bool) or not isinstance(factor, int):
            raise TypeError("Money multiplies by whole numbers only; use .percent or .ratio")
        return Money(self.minor * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor < other.minor

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.minor <= other.minor

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.minor > other.minor

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.minor >= other.minor

    def __bool__(self) -> bool:
        return self.minor != 0

    def basis_points(self, bp: int, periods: int = 1) -> Money:
        """This amount x bp/10000 x periods, rounded half up to the minor unit (service charges)."""
        exact = Decimal(self.minor) * bp * periods / 10000
        return Money(int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)), self.currency)

    def ratio_floor(self, numerator: int, denominator: int) -> Money:
        """This amount x numerator/denominator, rounded down to the minor unit (share-out)."""
        if denominator <= 0:
            raise ValueError("denominator must be positive")
        return Money((self.minor * numerator) // denominator, self.currency)

    # --- presentation -------------------------------------------------------------------------
    def to_decimal(self) -> Decimal:
        return Decimal(self.minor).scaleb(-minor_digits(self.currency))

    def decimal_string(self) -> str:
        """"12.50": the form used in JSON and in error facts."""
        digits = minor_digits(self.currency)
        return str(self.to_decimal().quantize(Decimal(1).scaleb(-digits), rounding=ROUND_DOWN))

    def format(self, language: str = "en", *, with_minor: bool = True, locale: str | None = None) -> str:
        """"KES 1,250.00" in English; the locale's own digits and separators elsewhere."""
        return format_money(self, language, with_minor=with_minor, locale=locale)

    def __str__(self) -> str:
        return f"{self.currency} {self.decimal_string()}"


_LOCALES = {"en": "en_KE", "sw": "sw_KE", "ar": "ar_YE"}


def locale_for(language: str) -> Locale:
    """The Babel locale used for a member's language (en, sw, ar) or any CLDR locale name."""
    return Locale.parse(_LOCALES.get(language, language))


# Marks a page sends as plain GSM-7 characters: a no-break space would turn the whole USSD page
# or SMS into UCS-2 (80/70 characters instead of 182/160) for no difference a reader sees.
_PLAIN_MARKS = str.maketrans({"\u00a0": " ", "\u202f": " ", "\u2019": "'"})


def writing_locale(language: str, locale: str | None = None) -> Locale:
    """The locale amounts are written in for a reader: the group's locale (sq_XK writes "12,50"),
    except that Arabic readers of a non-Arabic locale keep Arabic's own (ar_YE)."""
    if locale is None:
        return locale_for(language)
    group = Locale.parse(locale)
    return locale_for("ar") if language == "ar" and group.language != "ar" else group


def format_money(money: Money, language: str = "en", *, with_minor: bool = True,
                 locale: str | None = None) -> str:
    """"KES 1,250.00": the ISO code (which every member recognises) and the locale's number format.

    `locale` is the group's (amounts are written as the group writes them); without it, the
    language's own. Arabic-Indic digits only for Arabic readers of a locale that writes them
    (ar_YE); Babel only swaps separators, so the digits are transliterated. `with_minor=False`
    drops ".00" from whole amounts (USSD pages are short).
    """
    written = writing_locale(language, locale)
    arabic = written.default_numbering_system == "arab" and (locale is None or language == "ar")
    digits = minor_digits(money.currency)
    show_minor = digits and (with_minor or money.minor % (10**digits))
    pattern = "#,##0" + ("." + "0" * digits if show_minor else "")
    number = format_decimal(
        money.to_decimal(), format=pattern, locale=written, numbering_system="default" if arabic else "latn",
        decimal_quantization=False,
    )
    if arabic:
        number = number.translate(ARABIC_DIGITS)
    return f"{money.currency} {number.translate(_PLAIN_MARKS)}"

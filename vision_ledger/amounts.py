"""Amounts as people write them: one reader for every door, by the group's locale.

A convention says which characters mark decimals and which group thousands. The group's locale
(CLDR, from Babel) gives it; JSON has its own strict machine convention ("12.50": dot, no
grouping, a leading minus allowed). The rules, for a locale with decimal mark D and grouping
mark G (README "How amounts are read" has the examples):

| form | read as |
| --- | --- |
| digits only (ASCII, Arabic-Indic, Eastern Arabic) | a whole amount |
| U+066B / U+066C (Arabic decimal / grouping marks) | decimal / grouping, in every locale |
| D once, last, digits after | decimals; more than the currency has: too precise |
| G between groups of three (en_IN: 3, then 2s) | grouping |
| spaces, NBSP, narrow NBSP | grouping where G is a space (sq_XK); else not an amount |
| "." or "," the locale does not use (sq_XK's ".") | grouping if repeated or before D; |
| | else the one valid reading; both valid: ambiguous |
| D alone, 1-3 digits before, 3 after ("1,250" in sq_XK) | ambiguous (1,25 or 1250) |
| G alone in the wrong place ("12,50" in en_KE) | ambiguous (12.50 or 1250) |
| a sign, letters, currency codes or symbols, other marks | `money.invalid_amount` |

An ambiguous amount is `money.ambiguous_amount` with the two readings as the member would type
them (`decimal`, `whole`), never a guess: a hundredfold error in a member's savings is the worst
thing the books can do.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

from babel import localedata
from babel.core import Locale, UnknownLocaleError
from babel.languages import get_official_languages
from babel.numbers import get_decimal_symbol, get_group_symbol

from .errors import DomainError

ARABIC_DECIMAL, ARABIC_GROUP = "\u066b", "\u066c"
# Western digits written as Arabic-Indic ones (what an Arabic reader's page and SMS show).
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
SPACES = frozenset(" \u00a0\u202f\u2009")
APOSTROPHES = frozenset("'\u2019")
_LOCALE_NAME = re.compile(r"[a-z]{2,3}(_[A-Z][a-z]{3})?(_[A-Z]{2}|_[0-9]{3})?")
TOO_PRECISE = "too_precise"
MAX_LENGTH = 64  # longer than any amount the books can hold, written with every grouping mark


@dataclass(frozen=True)
class Convention:
    """How one locale (or the machine form) writes a number."""

    name: str
    decimal: str  # the mark typed for decimals ("." or ",")
    decimals: frozenset[str]
    groups: frozenset[str]
    foreign: frozenset[str]  # "." or "," the locale does not use: read by the shape of the amount
    grouping: tuple[int, int] = (3, 3)  # primary (rightmost) and secondary group sizes
    people: bool = True  # False: the machine form (ASCII digits, a minus, no ambiguity rules)

    def kind(self, char: str) -> str | None:
        if char in self.decimals:
            return "D"
        if char in self.groups:
            return "G"
        if char in self.foreign:
            return "F"
        return None


MACHINE = Convention("machine", ".", frozenset("."), frozenset(), frozenset(), people=False)


def check_locale(name: str) -> str:
    """The canonical CLDR name of a locale Babel knows ("sr_Latn_XK"), else group.unknown_locale."""
    text = str(name or "").replace("-", "_")
    unknown = DomainError("group.unknown_locale", f"Unknown locale {name!r}", locale=str(name)[:40])
    if not _LOCALE_NAME.fullmatch(text) or not localedata.exists(text):
        raise unknown
    try:
        locale = Locale.parse(text)
    except (UnknownLocaleError, ValueError) as exc:
        raise unknown from exc
    if get_decimal_symbol(locale) not in ".,":
        raise DomainError("group.unknown_locale", f"Amounts in {name!r} are not written with . or ,",
                          locale=str(name))
    return str(locale)


@cache
def convention(locale_name: str) -> Convention:
    """The convention of a CLDR locale, from Babel's number symbols (Latin digits)."""
    locale = Locale.parse(check_locale(locale_name))
    decimal, group = get_decimal_symbol(locale), get_group_symbol(locale)
    groups = set(SPACES if group in SPACES else APOSTROPHES if group in APOSTROPHES else {group})
    pattern = locale.decimal_formats.get(None)
    primary, secondary = pattern.grouping if pattern is not None else (3, 3)
    foreign = frozenset(".,") - {decimal} - groups
    return Convention(str(locale), decimal, frozenset({decimal, ARABIC_DECIMAL}),
                      frozenset(groups | {ARABIC_GROUP}), foreign, (primary, secondary))


def to_minor(text: str, digits: int, conv: Convention, currency: str = "") -> int:
    """Minor units of an amount written in a convention. Raises money.invalid_amount,
    money.too_precise, money.ambiguous_amount."""
    raw = str(text).strip()
    facts = {"amount": raw[:MAX_LENGTH], "currency": currency, "locale": conv.name}
    invalid = DomainError("money.invalid_amount", f"Not an amount: {raw[:MAX_LENGTH]!r}", **facts)
    too_precise = DomainError("money.too_precise", f"{currency} amounts have at most {digits} decimal places",
                              **facts, digits=digits)
    if len(raw) > MAX_LENGTH:
        raise invalid
    sign = 1
    if not conv.people and raw[:1] == "-":
        sign, raw = -1, raw[1:]
    runs, marks = _scan(raw, conv, invalid)
    kinds = [kind for kind, _ in marks]
    if "F" in kinds:
        values = _foreign_readings(runs, marks, digits, conv)
        valid = [int(v) for v in values if v is not None and v != TOO_PRECISE]
        if len(valid) == 2 and valid[0] != valid[1]:
            raise _ambiguous(valid[0], runs, digits, conv, facts)
        if valid:
            return valid[0]
        raise too_precise if TOO_PRECISE in values else invalid
    value = _value(runs, kinds, digits, conv)
    if value is None:
        if conv.people and len(marks) == 1 and marks[0][1] in ".,":  # a grouping mark misplaced
            decimal = _value(runs, ["D"], digits, conv)
            if isinstance(decimal, int):
                raise _ambiguous(decimal, runs, digits, conv, facts)
        raise invalid
    if value == TOO_PRECISE:
        raise too_precise
    if conv.people and kinds == ["D"] and marks[0][1] in ".," and len(runs[0]) <= 3 and len(runs[1]) == 3:
        # "1,250" where the comma is the decimal mark is one thousand two hundred and fifty almost
        # everywhere else: refused whatever the currency's decimals (1.25 or 1250, never guessed).
        raise _ambiguous(int(value), runs, digits, conv, facts)
    return sign * int(value)


def _foreign_readings(runs: list[str], marks: list[tuple[str, str]], digits: int,
                      conv: Convention) -> list[int | str | None]:
    """A "." or "," the locale does not use: grouping if it repeats or comes before the decimal
    mark; otherwise read both ways (as decimals first)."""
    kinds = [kind for kind, _ in marks]
    first = kinds.index("F")
    foreign_chars = {char for kind, char in marks if kind == "F"}
    grouping_only = kinds.count("F") > 1 or "D" in kinds[first:] or len(foreign_chars) > 1
    options = [["G" if k == "F" else k for k in kinds]]
    if not grouping_only:
        options.insert(0, ["D" if k == "F" else k for k in kinds])
    return [_value(runs, option, digits, conv) for option in options]


def _scan(raw: str, conv: Convention, invalid: DomainError) -> tuple[list[str], list[tuple[str, str]]]:
    """Digit runs (as ASCII) and the marks between them; anything else is not an amount."""
    runs: list[str] = []
    marks: list[tuple[str, str]] = []
    current: list[str] = []
    for char in raw:
        if char.isdecimal() and (conv.people or char.isascii()):
            current.append(str(unicodedata.decimal(char)))
            continue
        kind = conv.kind(char)
        if kind is None or not current:
            raise invalid
        runs.append("".join(current))
        marks.append((kind, char))
        current = []
    if not current:
        raise invalid
    runs.append("".join(current))
    return runs, marks


def _value(runs: list[str], kinds: list[str], digits: int, conv: Convention) -> int | str | None:
    """Minor units if the marks fit (decimal mark once and last, groups of the right size);
    None if they do not; TOO_PRECISE if there are decimals the currency does not have."""
    if kinds.count("D") > 1 or ("D" in kinds and kinds[-1] != "D"):
        return None
    whole_runs, fraction = (runs[:-1], runs[-1]) if kinds[-1:] == ["D"] else (runs, "")
    if len(whole_runs) > 1:
        primary, secondary = conv.grouping
        sizes = [len(run) for run in whole_runs]
        if sizes[-1] != primary or any(size != secondary for size in sizes[1:-1]) \
                or not 1 <= sizes[0] <= (secondary if len(sizes) > 2 else primary):
            return None
    kept = fraction.rstrip("0")
    if len(kept) > digits:
        return TOO_PRECISE
    return int("".join(whole_runs) + kept.ljust(digits, "0"))


def typed(minor: int, digits: int, conv: Convention) -> str:
    """An amount as a member would type it in a convention: "12,50", "1250" (no grouping)."""
    whole, fraction = divmod(minor, 10**digits) if digits else (minor, 0)
    if not fraction:
        return str(whole)
    return f"{whole}{conv.decimal}{fraction:0{digits}d}"


def _ambiguous(decimal: int, runs: list[str], digits: int, conv: Convention,
               facts: dict[str, str]) -> DomainError:
    """Two readings: the mark as decimals ("12.50") and as a grouping mark ("1250")."""
    as_decimal = typed(decimal, digits, conv)
    as_whole = typed(int("".join(runs)) * 10**digits, digits, conv)
    return DomainError("money.ambiguous_amount", f"{facts['amount']!r} could be {as_decimal} or {as_whole}",
                       **facts, decimal=as_decimal, whole=as_whole)


def default_locale(language: str, country: str) -> str:
    """The locale a group reads amounts in unless told: its language in its country if CLDR has
    it (sw_KE), else the country's first official language that CLDR has there (a group working
    in English in Kosovo writes amounts as sq_XK does), else the language alone."""
    country = (country or "").upper()
    candidates = [f"{language}_{country}",
                  *(f"{official}_{country}" for official in get_official_languages(country))]
    for name in candidates:
        if localedata.exists(name):
            return check_locale(name)
    return check_locale(language or "en")

"""Amounts as people write them, read by the group's locale (vision_ledger.amounts): worked
tables per locale for a 2-digit and a 0-digit currency, each refusal named for its rule, and a
property: whatever the service writes, it reads back as the same amount."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vision_ledger.amounts import check_locale, convention, default_locale
from vision_ledger.errors import DomainError
from vision_ledger.money import Money

from .helpers import refused

# No database: runs in the SQLite pass of scripts/test.sh only (marker nodb).
pytestmark = pytest.mark.nodb

AMBIGUOUS, INVALID, PRECISE = "money.ambiguous_amount", "money.invalid_amount", "money.too_precise"
LOCALES = ("en_KE", "sw_KE", "ar_YE", "sq_XK", "sr_Latn_XK", "en_GH")
DOT_DECIMAL = ("en_KE", "sw_KE", "ar_YE", "en_GH")  # "." decimals, "," groups (CLDR)

# text -> (2-digit currency result in minor units or refusal, 0-digit currency result or refusal)
DOT_LOCALES_TABLE = {
    "1250": (125000, 1250),
    "12.50": (1250, PRECISE),
    "12.5": (1250, PRECISE),
    "1,250": (125000, 1250),
    "1,250.50": (125050, PRECISE),
    "1,250,000": (125000000, 1250000),
    "12,50": (AMBIGUOUS, INVALID),  # 12.50 or 1250 (or a digit missing): asked again
    "0,5": (AMBIGUOUS, INVALID),
    "1.250": (AMBIGUOUS, PRECISE),  # 1.25 or the thousands of a dot-grouping writer
    "1.255": (PRECISE, PRECISE),
    "12.505": (PRECISE, PRECISE),
    "1.250,50": (INVALID, INVALID),  # this locale's "." is decimals: not before a ","
    "1.250.000": (INVALID, INVALID),
    "1 250": (INVALID, INVALID),  # spaces group only where the locale groups with spaces
    "١٢٫٥٠": (1250, PRECISE),  # Arabic-Indic digits, Arabic decimal mark
    "١٬٢٥٠": (125000, 1250),  # Arabic grouping mark
    "١٫٢٥٠": (125, PRECISE),  # the Arabic decimal mark never groups: not ambiguous
    "۱۲۵۰": (125000, 1250),  # Eastern Arabic (Persian) digits
}
SQ_XK_TABLE = {
    "1250": (125000, 1250),
    "12,50": (1250, PRECISE),
    "12,5": (1250, PRECISE),
    "0,5": (50, PRECISE),
    "1 250": (125000, 1250),
    "1\u00a0250,50": (125050, PRECISE),  # the no-break space CLDR writes
    "1\u202f250": (125000, 1250),
    "1,250": (AMBIGUOUS, PRECISE),  # 1,25 or 1250: asked again
    "1,255": (PRECISE, PRECISE),
    "12.50": (1250, PRECISE),  # "." is not sq's: as decimals it is the only valid reading
    "1.250": (AMBIGUOUS, 1250),  # "." either way: 1,25 or 1250 (no decimals in a 0-digit currency)
    "1.250,50": (125050, PRECISE),  # "." before the decimal comma: grouping
    "1.250.000": (125000000, 1250000),
    "1,250.50": (INVALID, INVALID),  # sq's decimal comma cannot come before a grouping mark
    "12 50": (INVALID, INVALID),
    "١٢٫٥٠": (1250, PRECISE),
}
SR_LATN_XK_TABLE = {
    "1250": (125000, 1250),
    "12,50": (1250, PRECISE),
    "1.250": (125000, 1250),  # "." groups in sr
    "1.250,50": (125050, PRECISE),
    "1.250.000": (125000000, 1250000),
    "1,250": (AMBIGUOUS, PRECISE),
    "12.50": (AMBIGUOUS, INVALID),  # sr's grouping dot in the wrong place: 12,50 or 1250
    "1,250.50": (INVALID, INVALID),
    "1 250": (INVALID, INVALID),
    "١٬٢٥٠٫٥": (125050, PRECISE),
}
TABLES = {**{name: DOT_LOCALES_TABLE for name in DOT_DECIMAL}, "sq_XK": SQ_XK_TABLE,
          "sr_Latn_XK": SR_LATN_XK_TABLE}
CASES = [(locale, currency, text, expected[index])
         for locale, table in TABLES.items() for text, expected in table.items()
         for index, currency in enumerate(("EUR", "UGX"))]


def _read(text: str, currency: str, locale: str) -> int | str:
    try:
        return Money.read(text, currency, locale).minor
    except DomainError as error:
        return error.code


@pytest.mark.parametrize(("locale", "currency", "text", "expected"), CASES)
def test_amounts_are_read_by_the_groups_locale(locale, currency, text, expected):
    assert _read(text, currency, locale) == expected


def test_the_comma_is_the_decimal_mark_in_kosovo_and_groups_thousands_in_kenya():
    assert Money.read("12,50", "EUR", "sq_XK") == Money(1250, "EUR")
    assert Money.read("12,50", "EUR", "sr_Latn_XK") == Money(1250, "EUR")
    assert Money.read("1,250", "KES", "en_KE") == Money(125000, "KES")
    assert Money.read("1,250", "KES", "sw_KE") == Money(125000, "KES")


def test_an_ambiguous_amount_is_refused_with_both_readings_as_the_member_types_them():
    with pytest.raises(DomainError, match="could be") as caught:
        Money.read("1,250", "EUR", "sq_XK")
    facts = caught.value.facts
    assert caught.value.code == AMBIGUOUS
    assert (facts["decimal"], facts["whole"]) == ("1,25", "1250")
    assert (facts["locale"], facts["currency"]) == ("sq_XK", "EUR")
    with pytest.raises(DomainError, match="could be") as caught:
        Money.read("12,50", "KES", "en_KE")
    assert (caught.value.facts["decimal"], caught.value.facts["whole"]) == ("12.50", "1250")
    with pytest.raises(DomainError, match="could be") as caught:
        Money.read("1.250", "USD", "ar_YE")
    assert (caught.value.facts["decimal"], caught.value.facts["whole"]) == ("1.25", "1250")


def test_a_thousands_shape_after_the_decimal_mark_is_ambiguous_in_a_three_digit_currency_too():
    with pytest.raises(DomainError, match="could be") as caught:
        Money.read("1.250", "KWD", "en_KE")  # 1.250 dinars or 1250
    assert (caught.value.facts["decimal"], caught.value.facts["whole"]) == ("1.250", "1250")
    assert Money.read("1.25", "KWD", "en_KE").minor == 1250


def test_more_decimals_than_the_currency_has_is_too_precise():
    with pytest.raises(DomainError, match="decimal places") as caught:
        Money.read("12,505", "EUR", "sq_XK")
    assert caught.value.facts["digits"] == 2
    with refused(PRECISE):
        Money.read("12.5", "YER", "ar_YE")  # CLDR: the rial has no minor unit in use
    assert Money.read("12.5000", "KES", "en_KE") == Money(1250, "KES")  # trailing zeros are not decimals


@pytest.mark.parametrize("text", ["-5", "+5", "−5", "5-", "KES 500", "500 KES", "€12,50", "12,50 €", "Sh500",
                                  "500/=", "$5", "1e3", "five", "", "   ", ",50", "50,", "5..0", "5,,000",
                                  "1_000", "1'000", "12*50", "0x10", "١٢،٥٠", "9" * 65])
@pytest.mark.parametrize("locale", LOCALES)
def test_signs_letters_currency_symbols_and_stray_marks_are_not_amounts(text, locale):
    with refused(INVALID):
        Money.read(text, "EUR", locale)


def test_spaces_group_only_where_the_locale_groups_with_spaces():
    assert Money.read("1 250", "EUR", "sq_XK").minor == 125000
    assert Money.read("  1250  ", "KES", "en_KE").minor == 125000  # around it: trimmed
    with refused(INVALID):
        Money.read("1 250", "KES", "en_KE")


def test_a_grouping_mark_must_group_by_three():
    for text in ("1,25,000", "12,5000", "1,2500"):
        assert _read(text, "KES", "en_KE") in (AMBIGUOUS, INVALID), text
        with pytest.raises(DomainError):
            Money.read(text, "KES", "en_KE")
    assert Money.read("12,34,567", "INR", "en_IN").minor == 123456700  # CLDR: 3 then 2s in India


def test_the_machine_form_is_a_dot_and_no_grouping():
    assert Money.parse("12.50", "EUR").minor == 1250
    assert Money.parse("-12.50", "EUR").minor == -1250
    assert Money.parse("1.250", "EUR").minor == 125  # JSON means what it says: no ambiguity rule
    for text in ("1,250", "12,50", "1 250", "١٢٫٥٠", "١٢٥٠"):
        with refused(INVALID):
            Money.parse(text, "EUR")


def test_money_read_takes_only_text():
    with pytest.raises(TypeError):
        Money.read(12.5, "EUR", "sq_XK")  # type: ignore[arg-type]


def test_an_unknown_locale_is_refused():
    for name in ("xx_YY", "", "en_KE;drop", "klingon", "root", "und", "en_ke"):
        with refused("group.unknown_locale"):
            check_locale(name)
    assert check_locale("sr-Latn-XK") == "sr_Latn_XK"


def test_the_default_locale_is_the_groups_language_in_its_country():
    assert default_locale("en", "KE") == "en_KE"
    assert default_locale("sw", "KE") == "sw_KE"
    assert default_locale("ar", "YE") == "ar_YE"
    assert default_locale("en", "GH") == "en_GH"
    assert default_locale("en", "XK") == "sq_XK"  # CLDR has no en_XK: the country's own language
    assert default_locale("en", "ZZ") == "en"


def test_conventions_come_from_babels_locale_data():
    assert (convention("sq_XK").decimal, convention("sr_Latn_XK").decimal) == (",", ",")
    assert convention("en_KE").decimal == "."
    assert "\u00a0" in convention("sq_XK").groups and "." in convention("sr_Latn_XK").groups


@given(minor=st.integers(min_value=0, max_value=10**13), locale=st.sampled_from(LOCALES),
       currency=st.sampled_from(("KES", "EUR", "USD", "YER", "UGX")),
       language=st.sampled_from(("en", "sw", "ar")), with_minor=st.booleans())
def test_whatever_the_service_writes_reads_back_as_the_same_amount(minor, locale, currency, language,
                                                                   with_minor):
    written = Money(minor, currency).format(language, with_minor=with_minor, locale=locale)
    code, _, number = written.partition(" ")
    assert code == currency
    assert Money.read(number, currency, locale).minor == minor, written


def test_amounts_are_written_the_way_the_group_writes_them():
    amount = Money(125050, "EUR")
    assert amount.format("en", locale="sq_XK") == "EUR 1 250,50"  # a plain space: GSM-7 pages
    assert amount.format("sw", locale="sr_Latn_XK") == "EUR 1.250,50"
    assert amount.format("en", locale="en_KE") == "EUR 1,250.50"
    assert amount.format("ar", locale="ar_YE") == "EUR ١٬٢٥٠٫٥٠"
    assert amount.format("en", locale="ar_YE") == "EUR 1,250.50"  # Latin digits for a Latin page
    assert amount.format("ar", locale="sq_XK") == "EUR ١٬٢٥٠٫٥٠"  # Arabic readers keep Arabic marks

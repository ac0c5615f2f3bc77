"""GSM-7 / UCS-2 detection, septet and segment counting, and typographic folding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sms.gsm import (
    _FOLD,
    GSM7_BASIC,
    GSM7_EXTENSION,
    encoding,
    gsm7_length,
    is_gsm7,
    segments,
    to_gsm7,
    ucs2_length,
)

# No database: runs in the SQLite pass of scripts/test.sh only (marker nodb).
pytestmark = pytest.mark.nodb

BASIC = sorted(GSM7_BASIC)
EXTENSION = sorted(GSM7_EXTENSION)
basic_text = st.text(alphabet=BASIC)
gsm_text = st.text(alphabet=BASIC + EXTENSION)
ARABIC = "تم استلام مساهمتك ١٠٠ شلن. الرصيد: ٥٠٠"


# -- the alphabet -------------------------------------------------------------------------


def test_basic_table_has_127_characters_plus_esc() -> None:
    assert len(GSM7_BASIC) == 127  # 128 code points, one of them the ESC prefix
    assert "\x1b" not in GSM7_BASIC
    assert GSM7_BASIC.isdisjoint(GSM7_EXTENSION)


def test_extension_table() -> None:
    assert set("^{}[]~|€\\\f") == GSM7_EXTENSION


@pytest.mark.parametrize(
    "ch",
    [*"@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà", "\n", "\r", " ", "'", '"'],
)
def test_non_ascii_basic_characters_are_gsm(ch: str) -> None:
    assert is_gsm7(ch)
    assert gsm7_length(ch) == 1


@pytest.mark.parametrize(
    "ch",
    [
        "`",  # ASCII, but not in GSM-7
        "\t",
        "ç",  # GSM-7 has the capital only
        "á", "í", "ó", "ú", "â", "ê", "ô", "õ", "ã",
        "\u2019", "\u201c", "\u2013", "\u2026", "\u00a0",
        "ب", "Ж", "😀", "\x1b", "\x00",
    ],
)
def test_characters_outside_gsm(ch: str) -> None:
    assert not is_gsm7(ch)
    assert encoding(ch) == "UCS-2"
    with pytest.raises(ValueError, match="not in GSM-7"):
        gsm7_length(ch)


def test_ascii_printables_except_backtick_are_gsm() -> None:
    printable = [chr(c) for c in range(0x20, 0x7F)]
    assert [ch for ch in printable if not is_gsm7(ch)] == ["`"]


def test_empty_text() -> None:
    assert is_gsm7("")
    assert encoding("") == "GSM-7"
    assert gsm7_length("") == 0
    assert segments("") == 1


# -- lengths ------------------------------------------------------------------------------


def test_extension_characters_count_double() -> None:
    assert gsm7_length("{}") == 4
    assert gsm7_length("€5") == 3
    assert gsm7_length("a\fb") == 4


def test_ucs2_length_counts_utf16_code_units() -> None:
    assert ucs2_length("abc") == 3
    assert ucs2_length("ب") == 1
    assert ucs2_length("😀") == 2  # outside the BMP: a surrogate pair


@given(gsm_text)
def test_gsm7_length_is_length_plus_extension_count(text: str) -> None:
    assert gsm7_length(text) == len(text) + sum(ch in GSM7_EXTENSION for ch in text)


@given(st.text())
def test_encoding_agrees_with_is_gsm7(text: str) -> None:
    assert (encoding(text) == "GSM-7") is is_gsm7(text)


# -- segments: GSM-7 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (159, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_gsm_boundaries(length: int, parts: int) -> None:
    assert segments("a" * length) == parts


@given(basic_text.filter(lambda t: len(t) <= 160))
def test_basic_text_up_to_160_is_one_segment(text: str) -> None:
    assert segments(text) == 1


@given(st.text(alphabet=BASIC, min_size=161, max_size=306))
def test_basic_text_of_161_to_306_is_two_segments(text: str) -> None:
    assert segments(text) == 2


@given(st.text(alphabet=BASIC, min_size=161, max_size=2000))
def test_basic_text_segments_is_ceiling_of_153(text: str) -> None:
    assert segments(text) == -(-len(text) // 153)


def test_extension_characters_fill_a_part_twice_as_fast() -> None:
    assert segments("€" * 80) == 1  # 160 septets
    assert segments("€" * 81) == 2  # 162 septets
    assert segments("a" * 159 + "€") == 2  # 161 septets


def test_escape_sequence_is_not_split_across_parts() -> None:
    # 152 septets then a two-septet character: it does not fit in part one's 153 septets and
    # moves whole to part two, so 152 + 2 + 152 = 306 septets take three parts, not two.
    text = "a" * 152 + "€" + "a" * 152
    assert gsm7_length(text) == 306
    assert segments(text) == 3
    assert segments("a" * 151 + "€" + "a" * 153) == 2


# -- segments: UCS-2 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "parts"),
    [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)],
)
def test_ucs2_boundaries(length: int, parts: int) -> None:
    assert segments("ب" * length) == parts


def test_one_non_gsm_character_makes_the_whole_text_ucs2() -> None:
    assert segments("a" * 160) == 1
    assert segments("a" * 159 + "\u2019") == 3  # 160 UCS-2 units: 67 + 67 + 26


def test_emoji_counts_two_code_units() -> None:
    assert segments("😀" * 35) == 1  # 70 units
    assert segments("😀" * 36) == 2  # 72 units


def test_surrogate_pair_is_not_split_across_parts() -> None:
    text = "ب" * 66 + "😀" + "ب" * 66  # 134 units, but the pair straddles unit 67
    assert ucs2_length(text) == 134
    assert segments(text) == 3
    assert segments("ب" * 65 + "😀" + "ب" * 67) == 2


@given(st.text(alphabet=st.characters(min_codepoint=0x600, max_codepoint=0x6FF), min_size=1))
def test_arabic_is_ucs2_ceiling_of_67(text: str) -> None:
    expected = 1 if len(text) <= 70 else -(-len(text) // 67)
    assert encoding(text) == "UCS-2"
    assert segments(text) == expected


# -- segments: properties -----------------------------------------------------------------


@given(st.text(), st.text())
def test_segments_monotone_in_length(prefix: str, rest: str) -> None:
    assert segments(prefix) <= segments(prefix + rest)


@given(gsm_text, gsm_text)
def test_segments_monotone_for_gsm(prefix: str, rest: str) -> None:
    assert segments(prefix) <= segments(prefix + rest)


@given(st.text(min_size=1))
def test_segments_bounds(text: str) -> None:
    if is_gsm7(text):
        size, single, multi = gsm7_length(text), 160, 153
    else:
        size, single, multi = ucs2_length(text), 70, 67
    parts = segments(text)
    if size <= single:
        assert parts == 1
    else:
        # Never fewer than a perfect packing; at most one unit wasted per part boundary.
        assert -(-size // multi) <= parts <= -(-size // (multi - 1))


# -- to_gsm7 ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typographic", "plain"),
    [
        ("Mama\u2019s share", "Mama's share"),
        ("\u2018ok\u2019", "'ok'"),
        ("\u201cLoan\u201d", '"Loan"'),
        ("\u201eLoan\u201f", '"Loan"'),
        ("\u00abPr\u00eat\u00bb", '"Pr\u00eat"'),  # ê has no equivalent and stays
        ("10\u201312", "10-12"),
        ("a \u2014 b", "a - b"),
        ("\u22125", "-5"),
        ("non\u2011breaking", "non-breaking"),
        ("Wait\u2026", "Wait..."),
        ("KES\u00a0500", "KES 500"),
        ("1\u202f000", "1 000"),
        ("a\u2009b", "a b"),
        ("a\tb", "a b"),
        ("zero\u200bwidth", "zerowidth"),
        ("\ufeffBOM", "BOM"),
        ("soft\u00adhyphen", "softhyphen"),
        ("`quoted\u00b4", "'quoted'"),
        ("\u2032 \u2033", "' \""),
    ],
)
def test_to_gsm7_folds_typography(typographic: str, plain: str) -> None:
    assert to_gsm7(typographic) == plain


def test_to_gsm7_keeps_a_message_in_one_gsm_part() -> None:
    text = "Mama\u2019s contribution of KES\u00a0500 was received \u2014 thank you\u2026"
    assert encoding(text) == "UCS-2"
    assert encoding(to_gsm7(text)) == "GSM-7"
    assert segments(to_gsm7(text)) == 1


def test_to_gsm7_composes_decomposed_accents_only_when_that_makes_gsm() -> None:
    decomposed = "Caf" + "e\u0301"  # e + combining acute: NFC gives é, which is GSM-7
    assert to_gsm7(decomposed) == "Café"
    # With an Arabic character in it, the text stays UCS-2 and is not normalised at all.
    assert to_gsm7(decomposed + " ب") == decomposed + " ب"


@pytest.mark.parametrize(
    "text",
    [
        ARABIC,
        "مرحبا\u200cبك",  # ZWNJ shapes Persian/Arabic script: kept
        "👩\u200d👩\u200d👧",  # ZWJ joins an emoji family: kept
        "Umeweka akiba ya TSh 2,000",
        "reçu: 500 FCFA",  # ç has no GSM-7 equivalent (only Ç): untouched
        "Привет",
        "ا\u0654",  # alef + combining hamza: NFC would change it, to_gsm7 must not
    ],
)
def test_to_gsm7_leaves_characters_without_equivalent_alone(text: str) -> None:
    assert to_gsm7(text) == text


@given(st.text(alphabet=st.characters(min_codepoint=0x600, max_codepoint=0x6FF)))
def test_to_gsm7_never_touches_arabic(text: str) -> None:
    assert to_gsm7(text) == text


@given(gsm_text)
def test_to_gsm7_is_identity_on_gsm_text(text: str) -> None:
    assert to_gsm7(text) == text


@given(st.text(alphabet=BASIC + list("\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u00a0\u202f")))
def test_to_gsm7_makes_gsm_text_with_typography_gsm(text: str) -> None:
    assert is_gsm7(to_gsm7(text))


@given(st.text())
def test_to_gsm7_is_idempotent(text: str) -> None:
    once = to_gsm7(text)
    assert to_gsm7(once) == once


@given(st.text())
def test_to_gsm7_only_changes_characters_it_knows(text: str) -> None:
    result = to_gsm7(text)
    if not is_gsm7(result):
        # No normalisation happened: exactly the fold table was applied, nothing else.
        assert result == text.translate(str.maketrans(_FOLD))
        assert all(ch in result for ch in text if ch not in _FOLD)

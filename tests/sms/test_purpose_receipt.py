"""A loan's SMS receipt names its purpose, in the member's language, within the segment budget."""

from __future__ import annotations

import pytest

from sms.gsm import encoding, segments
from sms.texts import render
from vision_ledger import purposes

BIG = 987_654_321  # KES 9,876,543.21: more than any VSLA holds
MAX = {"group": "Wanawake Wajasiriamali wa Kijiji cha Mtwapa Kaskazini Kikundi cha Akiba na Mikopo",
       "currency": "KES", "member": "Nyambura Wanjiku-Kamau Achieng", "member_number": 20}
D = "2024-09-30"
LOAN = {"kind": "loan", "date": D, "amount": BIG, "charge": BIG, "owed": BIG, "due_on": D}
LONGEST = {lang: max((p.title(lang) for p in purposes.DEFAULTS), key=len) for lang in ("en", "sw", "ar")}


@pytest.mark.parametrize("language", ["en", "sw"])
def test_the_receipt_names_the_longest_purpose_in_one_gsm7_segment(language):
    text = render("receipt", {**MAX, **LOAN, "purpose": LONGEST[language]}, language)
    assert LONGEST[language] in text
    assert encoding(text) == "GSM-7" and segments(text) == 1, f"{len(text)}: {text}"
    assert "9,876,543" in text


def test_the_arabic_receipt_names_the_purpose_in_two_parts_at_most():
    text = render("receipt", {**MAX, **LOAN, "purpose": LONGEST["ar"]}, "ar")
    assert LONGEST["ar"] in text and "الغرض" in text
    assert segments(text) <= 2, f"{len(text)}: {text}"


@pytest.mark.parametrize(("language", "word"), [("en", "For: School fees."), ("sw", "Kwa: Karo ya shule.")])
def test_the_purpose_reads_as_a_sentence(language, word):
    school = next(p for p in purposes.DEFAULTS if p.code == "school_fees")
    text = render("receipt", {**LOAN, "group": "Umoja", "currency": "KES", "amount": 100000,
                              "charge": 10000, "owed": 110000, "purpose": school.title(language)}, language)
    assert word in text


def test_a_loan_recorded_before_purposes_has_a_receipt_without_one():
    text = render("receipt", {**LOAN, "group": "Umoja", "currency": "KES"}, "en")
    assert "For:" not in text and "loan of" in text

"""The SMS parts every text costs, per language, at the worst input the validators accept.

English and Swahili: one GSM-7 segment (160 septets; `^{}[]~|\\` and the euro sign count two).
Arabic: at most two UCS-2 parts (70 characters alone, 67 each when joined). The table below is
the README's "parts per text" table; a text that grows past it fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from sms.gsm import GSM7_EXTENSION, encoding, gsm7_length, segments, ucs2_length
from sms.texts import render
from tests.sms.test_texts import BIG, RECEIPTS

# No database: runs in the SQLite pass of scripts/test.sh only (marker nodb).
pytestmark = pytest.mark.nodb

# The longest names the validators accept (200 characters: the columns' limit), written to cost
# the most: extension-table characters (two septets each) in the GSM-7 name, Arabic for Arabic.
LATIN_NAME = ("Umoja [Mtwapa] {Kilifi} Women|Youth ~ Akiba na Mikopo ^ Kikundi \\ " * 4)[:200]
ARABIC_NAME = ("مجموعة نساء قرية المخا الساحلية للادخار والإقراض الأسبوعي " * 4)[:200]
# Amounts (BIG): nine digits of minor units in every currency the programmes keep (KES/USD/EUR with
# two decimals: 9,876,543.21; YER with none: 987,654,321), far above what a member can save in a
# cycle under the programmes' bounds (5 shares x USD 20 x 52 meetings = USD 5,200).
D = "2024-09-30"  # "30 Sept": the longest month abbreviation
CURRENCIES = {"en": ("KES", "EUR"), "sw": ("KES",), "ar": ("YER", "USD")}

STATEMENT = {"shares": 260, "savings": BIG, "social_fund_paid": BIG, "loan_balance": BIG,
             "loan_due_on": D, "next_meeting": D}
OTHERS: dict[str, tuple[str, dict[str, Any]]] = {
    "statement/meeting": ("statement", {"reason": "meeting", "meeting_date": D,
                                        "closing_loan_fund": BIG, "closing_social_fund": BIG,
                                        **STATEMENT}),
    "statement/monthly": ("statement", {"reason": "monthly", **STATEMENT}),
    # The statement after a share-out names the payout; every loan was settled before it.
    "statement/payout": ("statement", {"reason": "meeting", "meeting_date": D,
                                       "closing_loan_fund": BIG, "closing_social_fund": BIG,
                                       **STATEMENT, "loan_balance": 0, "payout": BIG,
                                       "payout_kind": "share_out"}),
    "grant": ("grant", {"amount": BIG, "date": D}),
    "share_out": ("share_out", {"shares": 260, "payout": BIG,
                                "value_per_share": "123456.7890123456", "date": D}),
    "exit": ("exit", {"amount": BIG, "savings": BIG, "owed": BIG, "date": D}),
    "reminder": ("reminder", {"loan_balance": BIG, "loan_due_on": D, "date": D}),
    "reply/balance": ("reply", {"command": "balance", "reason": "request", **STATEMENT}),
    "reply/loan": ("reply", {"command": "loan", "loan_balance": BIG, "loan_due_on": D}),
    "reply/help": ("reply", {"command": "help"}),
    "reply/lang": ("reply", {"command": "lang"}),
    "reply/stranger": ("reply", {"command": "stranger"}),
}
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    f"receipt/{k}": ("receipt", {"kind": k, "date": D, **v}) for k, v in RECEIPTS.items()
} | OTHERS

# Parts per text and language at the worst input: the README's table.
PARTS: dict[str, dict[str, int]] = {label: {"en": 1, "sw": 1, "ar": 2} for label in CASES}
for short in ("reply/help", "reply/lang", "reply/stranger"):
    PARTS[short]["ar"] = 1  # no group name, no amount: one UCS-2 part


def worst(label: str, language: str, currency: str) -> tuple[str, dict[str, Any]]:
    kind, facts = CASES[label]
    name = ARABIC_NAME if language == "ar" else LATIN_NAME
    return kind, {"group": name, "currency": currency, "member": name, "member_number": 20, **facts}


@pytest.mark.parametrize("label", sorted(CASES))
@pytest.mark.parametrize("language", ["en", "sw", "ar"])
def test_every_text_costs_its_parts_at_the_worst_input(label: str, language: str) -> None:
    costs = []
    for currency in CURRENCIES[language]:
        kind, payload = worst(label, language, currency)
        text = render(kind, payload, language)
        costs.append(segments(text))
        if language == "ar":
            assert encoding(text) == "UCS-2"
            assert ucs2_length(text) <= (70 if costs[-1] == 1 else costs[-1] * 67), text
        else:
            assert encoding(text) == "GSM-7", text
            assert gsm7_length(text) <= 160, text
    # The worst currency costs exactly the table's parts (a text that grows fails here).
    assert max(costs) == PARTS[label][language], f"{label} {language}: {costs}"


def test_extension_characters_count_two_in_the_gsm7_budget() -> None:
    kind, payload = worst("statement/meeting", "en", "EUR")
    text = render(kind, payload, "en")
    assert any(ch in GSM7_EXTENSION for ch in text)  # a bracket of the group's name
    assert gsm7_length(text) > len(text)
    assert segments(text) == 1


def test_arabic_statement_falls_back_to_the_compact_form_within_two_parts() -> None:
    kind, payload = worst("statement/meeting", "ar", "USD")
    text = render(kind, payload, "ar")
    assert text.count("USD") == 1  # named once, in the head
    assert "٣٠/٩" in text and "٩٬٨٧٦٬٥٤٣٫٢١" in text  # Arabic-Indic digits, day/month
    assert segments(text) == 2


def test_short_arabic_statements_keep_the_full_form() -> None:
    payload = {"group": "الأمل", "currency": "YER", "shares": 12, "savings": 12000,
               "reason": "monthly", "loan_balance": 0}
    text = render("statement", payload, "ar")
    assert "YER ١٢٬٠٠٠" in text


def test_two_social_fund_payments_on_one_day_read_as_two() -> None:
    base = {"group": "Umoja VSLA", "currency": "KES", "kind": "social_fund", "amount": 2000,
            "date": "2024-11-21"}
    first = render("receipt", {**base, "social_total": 2000}, "en")
    second = render("receipt", {**base, "social_total": 4000}, "en")
    assert first != second
    assert "Paid this cycle: KES 40." in second
    for language in ("sw", "ar"):
        assert render("receipt", {**base, "social_total": 2000}, language) != \
            render("receipt", {**base, "social_total": 4000}, language)

"""Every text in every language: one GSM-7 segment in English and Swahili, even at maximal values."""

from __future__ import annotations

from typing import Any

import pytest

from sms.gsm import encoding, segments
from sms.texts import RenderError, gsm_safe, render

# No database: runs in the SQLite pass of scripts/test.sh only (marker nodb).
pytestmark = pytest.mark.nodb

LONG_GROUP = "Wanawake Wajasiriamali wa Kijiji cha Mtwapa Kaskazini Kikundi cha Akiba na Mikopo"
BIG = 987_654_321  # KES 9,876,543.21: more than any VSLA holds
MAX = {"group": LONG_GROUP, "currency": "KES", "member": "Nyambura Wanjiku-Kamau Achieng",
       "member_number": 20}
D = "2024-09-30"  # "30 Sept" in some locales: the longest month abbreviation

RECEIPTS: dict[str, dict[str, Any]] = {
    "share_purchase": {"shares": 5, "amount": BIG, "total_shares": 260, "savings": BIG,
                       "loan_balance": BIG, "loan_due_on": D},
    "social_fund": {"amount": BIG, "social_total": BIG},
    "fine": {"amount": BIG, "fine": "lost passbook"},
    "welfare": {"amount": BIG},
    "loan": {"amount": BIG, "charge": BIG, "owed": BIG, "due_on": D},
    "repayment": {"amount": BIG, "owed": BIG, "due_on": D},
    "service_charge": {"amount": BIG, "owed": BIG, "due_on": D},
    "rollover": {"amount": BIG, "owed": BIG, "due_on": D},
    "write_off": {"amount": BIG},
    "member_exit": {"amount": BIG, "savings": BIG, "owed": BIG},
    "reversal": {"reversed_seq": 99999, "reversed_kind": "service_charge", "reversed_date": D,
                 "amount": BIG, "by": "admin"},
}
STATEMENT = {"shares": 260, "savings": BIG, "social_fund_paid": BIG, "loan_balance": BIG,
             "loan_due_on": D, "next_meeting": D}
OTHERS: dict[str, dict[str, Any]] = {
    "statement/meeting": {"reason": "meeting", "meeting_date": D, "closing_loan_fund": BIG,
                          "closing_social_fund": BIG, **STATEMENT},
    "statement/monthly": {"reason": "monthly", **STATEMENT},
    "grant": {"amount": BIG, "date": D},
    "share_out": {"shares": 260, "payout": BIG, "value_per_share": "123456.7890123456", "date": D},
    "exit": {"amount": BIG, "savings": BIG, "owed": BIG, "date": D},
    "reminder": {"loan_balance": BIG, "loan_due_on": D, "date": D},
    "reply/balance": {"command": "balance", "reason": "request", **STATEMENT},
    "reply/loan": {"command": "loan", "loan_balance": BIG, "loan_due_on": D},
    "reply/help": {"command": "help"},
    "reply/lang": {"command": "lang"},
    "reply/stranger": {"command": "stranger"},
}
CASES = [("receipt", {"kind": k, "date": D, **v}, k) for k, v in RECEIPTS.items()] + [
    (name.split("/")[0], v, name) for name, v in OTHERS.items()
]


@pytest.mark.parametrize("language", ["en", "sw"])
@pytest.mark.parametrize(("kind", "facts", "label"), CASES, ids=[c[2] for c in CASES])
def test_english_and_swahili_texts_fit_one_gsm7_segment_at_maximal_values(
    kind: str, facts: dict[str, Any], label: str, language: str
) -> None:
    text = render(kind, {**MAX, **facts}, language)
    assert encoding(text) == "GSM-7", text
    assert segments(text) == 1, f"{len(text)}: {text}"
    assert "9,876,543" in text or (kind == "reply" and label in ("reply/help", "reply/lang",
                                                                 "reply/stranger"))


@pytest.mark.parametrize(("kind", "facts", "label"), CASES, ids=[c[2] for c in CASES])
def test_arabic_texts_keep_to_two_parts(kind: str, facts: dict[str, Any], label: str) -> None:
    text = render(kind, {**MAX, **facts}, "ar")
    assert encoding(text) == "UCS-2"
    # Four amounts in the millions would take a third part: the compact form keeps to two.
    assert segments(text) <= 2, f"{len(text)}: {text}"


@pytest.mark.parametrize(("kind", "facts", "label"), CASES, ids=[c[2] for c in CASES])
@pytest.mark.parametrize("language", ["en", "sw", "ar"])
def test_every_template_renders_with_ordinary_values(
    kind: str, facts: dict[str, Any], label: str, language: str
) -> None:
    small = {k: (30000 if v == BIG else v) for k, v in facts.items()}
    text = render(kind, {"group": "Umoja VSLA", "currency": "KES", **small}, language)
    assert text.startswith("Umoja VSLA") or kind == "reply"
    assert "{" not in text and "}" not in text


def test_share_purchase_receipt_reads_like_the_issue() -> None:
    payload = {"group": "Umoja VSLA", "currency": "KES", "kind": "share_purchase", "shares": 3,
               "amount": 30000, "total_shares": 36, "savings": 360000, "date": "2024-11-21",
               "loan_balance": 110000, "loan_due_on": "2024-12-19"}
    assert render("receipt", payload, "en") == (
        "Umoja VSLA 21 Nov: you bought 3 shares, KES 300. Shares 36 = KES 3,600. "
        "Loan due 19 Dec: KES 1,100."
    )


def test_reversal_names_the_cancelled_entry_and_who_cancelled_it() -> None:
    payload = {"group": "Umoja VSLA", "currency": "KES", "kind": "reversal", "date": "2024-11-21",
               "reversed_kind": "share_purchase", "reversed_seq": 7,
               "reversed_date": "2024-11-14", "amount": 30000, "by": "treasurer"}
    assert render("receipt", payload, "en") == (
        "Umoja VSLA 21 Nov: the entry of 14 Nov (shares, KES 300) was cancelled by the treasurer."
    )
    assert "mweka hazina" in render("receipt", payload, "sw")
    assert "أمين الصندوق" in render("receipt", payload, "ar")


def test_meeting_statement_carries_the_closing_cash() -> None:
    payload = {"group": "Umoja VSLA", "currency": "KES", **OTHERS["statement/meeting"],
               "closing_loan_fund": 5640000, "closing_social_fund": 320000}
    text = render("statement", payload, "en")
    assert "KES 56,400" in text and "KES 3,200" in text


def test_a_curly_quote_in_a_name_does_not_make_the_text_ucs2() -> None:
    payload = {**MAX, **OTHERS["grant"], "group": "Mama\u2019s \u201cUmoja\u201d Zo\u00eb"}
    text = render("grant", payload, "en")
    assert encoding(text) == "GSM-7"
    assert text.startswith("Mama's \"Umoja\" Zoe")


def test_long_group_names_are_shortened_at_a_word() -> None:
    text = render("grant", {**MAX, **OTHERS["grant"]}, "en")
    assert text.startswith("Wanawake Wajasiriamali 30 Sept:") or text.startswith(
        "Wanawake Wajasiriamali 30 Sep:")


def test_optional_facts_are_dropped_before_a_second_segment() -> None:
    text = render("statement", {**MAX, **OTHERS["statement/meeting"]}, "en")
    assert "Box:" in text  # required
    assert segments(text) == 1


def test_arabic_uses_arabic_digits() -> None:
    text = render("receipt", {"group": "الأمل", "currency": "YER", "kind": "social_fund",
                              "amount": 50000, "date": "2024-11-21"}, "ar")
    assert "YER ٥٠٬٠٠٠" in text and "٢١" in text  # the rial has no minor unit in CLDR


def test_unknown_language_falls_back_to_english() -> None:
    assert render("reply", {"command": "help"}, "fr").startswith("Send BAL")


def test_unknown_kind_and_missing_facts_are_render_errors() -> None:
    with pytest.raises(RenderError):
        render("postcard", {}, "en")
    with pytest.raises(RenderError):
        render("grant", {"group": "Umoja", "currency": "KES"}, "en")


def test_gsm_safe_folds_accents_and_replaces_the_rest() -> None:
    assert gsm_safe("Zoë  Ngʼang\u2019a \u4e2d") == "Zoe Ng?ang'a ?"


# -- plurals: the catalogs' forms for each language, never a hand-made "s" -----------------------


def _share_out(shares: int, language: str) -> str:
    return render("share_out", {"group": "Umoja VSLA", "currency": "KES", "shares": shares,
                                "payout": 30000, "date": "2024-11-21"}, language)


def test_one_share_is_a_share_not_shares() -> None:
    assert "share-out: 1 share, KES 300 paid to you." in _share_out(1, "en")
    assert "share-out: 2 shares, KES 300 paid to you." in _share_out(2, "en")
    assert "1 shares" not in _share_out(1, "en")


def test_a_meeting_reply_counts_one_member_and_one_day_in_the_singular() -> None:
    preview = {"command": "meeting_preview", "code": "7KR4", "minutes": 30, "day": "2024-09-30",
               "shares": 3, "buyers": 1, "shares_amount": 30000, "currency": "KES"}
    assert "Shares 3 (1 member) 300." in render("reply", preview, "en")
    assert "Hisa 3 (mwanachama 1) 300." in render("reply", preview, "sw")
    assert "Shares 6 (2 members) 600." in render(
        "reply", {**preview, "shares": 6, "buyers": 2, "shares_amount": 60000}, "en")
    too_old = {"command": "meeting_refused", "reason": "date_too_old", "day": "2024-09-30",
               "days": "1"}
    assert "is more than 1 day ago." in render("reply", too_old, "en")
    assert "is more than 7 days ago." in render("reply", {**too_old, "days": "7"}, "en")
    refused = {"command": "meeting_refused", "reason": "rule", "code": "shares.below_minimum",
               "member_number": 4, "minimum": 1, "currency": "KES"}
    assert render("reply", refused, "en") == "Member 4: at least 1 share. Nothing recorded."


@pytest.mark.parametrize(("shares", "bought"), [
    (1, "اشتريت سهما واحدا بمبلغ KES ٣٠٠."),
    (2, "اشتريت سهمين بمبلغ KES ٣٠٠."),
    (3, "اشتريت أسهما عددها ٣ بمبلغ KES ٣٠٠."),
    (11, "اشتريت أسهما عددها ١١ بمبلغ KES ٣٠٠."),
])
def test_arabic_says_one_and_two_shares_in_words(shares: int, bought: str) -> None:
    payload = {"group": "الأمل", "currency": "KES", "kind": "share_purchase", "shares": shares,
               "amount": 30000, "date": "2024-11-21"}
    assert render("receipt", payload, "ar") == f"الأمل ٢١ نوفمبر: {bought}"


def test_arabic_minutes_take_the_form_of_their_number() -> None:
    def expired(minutes: str) -> str:
        return render("reply", {"command": "meeting_refused", "reason": "expired",
                                "minutes": minutes}, "ar")
    assert "دقيقة واحدة" in expired("1")
    assert "دقيقتين" in expired("2")
    assert "3 دقائق" in expired("3")
    assert "30 دقيقة" in expired("30")

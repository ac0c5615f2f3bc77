"""Every screen in every language fits its USSD page (182 GSM-7 or 80 UCS-2); the catalogs' own
completeness is tests/core/test_catalogs.py."""

from __future__ import annotations

import logging

import pytest

from ussd.texts import COUNTED_REFUSALS, REFUSALS, Texts, fits, page_size, refusal
from vision_ledger import loans, pins, savings
from vision_ledger.errors import DomainError
from vision_ledger.gsm import is_gsm7

from .conftest import LANGS, PIN, set_language

# Paths (after dialling) that between them reach every screen of the menu.
BEFORE_MEETING = [
    (), ("2",), ("3",), ("3", "1"), ("3", "2"), ("3", "3"), ("3", "3", "1"), ("3", "4"), ("3", "6"),
    ("1",), ("1", "1"), ("1", "2", "3", "7"), ("1", "2", "0"), ("1", "3"), ("1", "3", "8"),
    ("1", "3", "2"), ("1", "3", "2", "2", "3"), ("1", "3", "2", "1"),
    ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "0", PIN),
    ("1", "1", PIN), ("1", "1", PIN, "1"), ("8",), ("9", "9"), ("3", "6", "9"),
    ("11", "5"), ("11", "5", PIN), ("11", "5", PIN, "1357"), ("11", "5", PIN, "1357", "1357"),
]
DURING_MEETING = [
    (), ("98",), ("1",), ("1", PIN), ("1", PIN, "3"), ("1", PIN, "0"), ("1", PIN, "9"),
    ("2",), ("2", "4"), ("2", "4", "3"), ("2", "7", "3", PIN), ("2", "2", "5", PIN),
    ("3", "5"), ("3", "5", PIN), ("3", "8", PIN),
    ("4", "2"), ("4", "2", "500"), ("4", "2", "500", PIN), ("4", "3", "500"), ("4", "3", "500", PIN),
    ("5", "3"), ("5", "3", "2600"), ("5", "3", "2600", "98"), ("5", "3", "2600", "1"),
    ("5", "3", "2600", "1", PIN), ("5", "4", "1000", "17", PIN), ("5", "2", "700"),
    ("6", "2"), ("6", "2", "1"), ("6", "2", "1", PIN),
    ("7", "2"), ("7", "2", "50"), ("7", "2", "50", "1"), ("7", "2", "50", "5", PIN),
    ("7", "2", "99999", "1", PIN),
    ("8",), ("9",), ("9", "1"), ("9", "1", "1"), ("9", "1", "1", "4"),
    ("10",), ("11",),
]
AFTER_UNDO = [("8", "{seq}"), ("8", "{seq}", PIN)]
CLOSE = [("9", "{loan}", "{social}"), ("9", "{loan}", "{social}", PIN)]
MEMBER = [("1",), ("5",)]  # a member whose PIN staff set: the gate; and one without a PIN

SCREENS = {
    "treasurer_home", "group_balance", "member_home", "balance", "recent", "statement_ask",
    "statement_sent", "my_loan", "pin_old", "pin_new", "pin_repeat", "pin_changed", "language",
    "open_meeting", "meeting_day", "open_attendance", "absent", "open_confirm", "open_refused",
    "meeting_opened", "treasurer_more",
    "round_pin", "round_member", "pick_member", "shares_count", "shares_confirm", "shares_done",
    "shares_done_refused", "social_confirm", "social_done", "social_done_refused", "repay_amount",
    "repay_confirm", "repay_done", "loan_amount", "loan_purpose", "loan_purpose_more", "loan_confirm",
    "loan_done", "loan_refused",
    "fine_pick", "fine_confirm", "fine_done", "welfare_amount", "welfare_reason", "welfare_confirm",
    "welfare_done", "welfare_done_refused", "undo", "undo_confirm", "undo_done", "count_loan_fund",
    "count_social", "variance_reason", "close_confirm", "meeting_closed", "unknown_phone", "pin_not_set",
    "choose_group",
}


@pytest.mark.parametrize("language", LANGS)
def test_every_screen_in_every_language_fits_its_encoding(world, phone, factory, language, caplog):
    set_language(world, language)
    t = factory.treasurer(world.group)
    # The longest names the books hold (200 characters), every member with the same first name.
    world.group.name = ("Kikundi cha Akiba Umoja wa Wanawake " * 6)[:200]
    for member in world.members:
        member.name = (f"Mwanaisha {member.number:02d} Abdallah Mohamed " * 6)[:200]
    world.session.flush()
    seen: set[str] = set()
    treasurer = phone(world.treasurer.phone)

    def run(paths, **facts):
        for path in paths:
            screen = treasurer.dial(*(p.format(**facts) for p in path))
            seen.add(screen.name)
            for s in treasurer.screens:
                assert fits(s.text), (page_size(s.text), s.text)
                if language == "ar":
                    assert not is_gsm7(s.text), s.text

    with caplog.at_level(logging.WARNING, logger="ussd"):
        run(BEFORE_MEETING)
        world.refresh()
        pins.set_initial_pin(world.treasurer, PIN)
        world.treasurer.pin_must_change = False
        world.session.flush()
        from vision_ledger import meetings
        if meetings.current_meeting(world.session, world.group.id) is not None:
            factory.close(world.group)
        factory.meeting(world.group)
        for n in (2, 3, 4, 5, 6):
            savings.buy_shares(world.session, t, world.group, world.member(n), 5)
            savings.pay_social_fund(world.session, t, world.group, world.member(n))
        loans.disburse_loan(world.session, t, world.group, world.member(2),
                            factory.money(world.group, "1000"))
        world.session.flush()
        run(DURING_MEETING)
        world.refresh()
        from vision_ledger import reversals
        last = reversals.last_reversible_entry(world.session, world.group)
        run(AFTER_UNDO, seq=str(last.seq))
        world.refresh()
        loan, social = meetings.expected_cash(world.session, world.group)
        run(CLOSE, loan=loan.decimal_string(), social=social.decimal_string())
        member = world.member(9)
        pins.set_initial_pin(member, "1212")
        world.session.flush()
        for path in MEMBER:
            seen.add(phone(member.phone).dial(*path).name)
            seen.add(phone(world.member(10).phone).dial(*path).name)
        seen.add(phone("+254711111111").dial().name)
        other = factory.ready(members=10)
        factory.member(other, phone=world.member(10).phone, language=language)
        world.session.flush()
        seen.add(phone(world.member(10).phone).dial().name)
    assert "over its limit" not in caplog.text
    assert not SCREENS - seen, sorted(SCREENS - seen)


@pytest.mark.parametrize("language", LANGS)
def test_every_refusal_fits_a_page_with_large_amounts(language):
    t = Texts(language)
    facts = {"maximum": "1000000.00", "minimum": "1000000.00", "requested": "1000000.00",
             "available": "1000000.00", "owed": "1000000.00", "savings": "1000000.00", "needed": "1.00",
             "present": 10, "active": 20, "already": 5, "multiple": 3, "attempts_left": 2, "minutes": 30,
             "decimal": "1000000,00", "whole": "100000000"}
    for code in REFUSALS:
        text = refusal(t, DomainError(code, "x", **facts))
        assert "?" not in text.replace("؟", ""), (code, text)
        assert fits(text + "\n" + t("0 Back  00 Menu")), (code, page_size(text), text)
    for code, (counted, _) in COUNTED_REFUSALS.items():
        for count in (1, 2, 3, 11, 999):
            text = refusal(t, DomainError(code, "x", **{**facts, counted: count}))
            assert "?" not in text.replace("؟", ""), (code, text)
            assert fits(text + "\n" + t("0 Back  00 Menu")), (code, page_size(text), text)
    assert refusal(t, DomainError("something.new", "x")) == t("Not allowed ({code}).", code="something.new")


def test_arabic_amounts_and_dates_use_arabic_digits():
    from datetime import date

    t = Texts("ar")
    assert t.money(260000) == "KES ٢٬٦٠٠"
    assert "٢٠٢٦" in t.date(date(2026, 3, 5))


def test_refusals_that_count_take_the_languages_plural_form():
    def said(language, code, **facts):
        return refusal(Texts(language), DomainError(code, "x", **facts))

    assert said("en", "pin.wrong", attempts_left=1) == "Wrong PIN. 1 try left."
    assert said("en", "pin.wrong", attempts_left=2) == "Wrong PIN. 2 tries left."
    assert said("en", "shares.below_minimum", minimum=1, requested=0) == "Buy at least 1 share."
    assert said("sw", "loan.term_too_long", maximum=1) == "Mkopo ni wa mwezi 1 zaidi."
    assert said("ar", "pin.wrong", attempts_left=2) == "رمز خاطئ. بقيت محاولتان."
    assert said("ar", "pin.wrong", attempts_left=3) == "رمز خاطئ. بقيت ٣ محاولات."
    assert said("ar", "shares.above_maximum", maximum=11, already=4) == "١١ سهما حدا أقصى (اشترى ٤)."
    # A refusal that lost its count still reads, with "?" where the number goes.
    assert said("en", "pin.locked") == "Too many wrong PINs. Try again in ? minutes."

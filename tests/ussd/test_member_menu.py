"""A member's menu, in every language: balance, last entries, statement, loan, PIN, language."""

from __future__ import annotations

from sqlalchemy import func, select

from ussd.texts import Texts
from vision_ledger import loans, pins, savings
from vision_ledger.models import OutboxMessage

from .conftest import MEMBER_PIN, PIN, Screen, money, read_all, tx


def _buy(world, number: int, shares: int) -> None:
    t = world.factory.treasurer(world.group)
    savings.buy_shares(world.session, t, world.group, world.member(number), shares)
    savings.pay_social_fund(world.session, t, world.group, world.member(number))


def _fund(world) -> None:
    for number in (3, 4, 5):
        _buy(world, number, 5)


def test_my_balance_shows_shares_social_fund_loan_and_next_meeting(world, phone, lang, meeting):
    _buy(world, 2, 4)
    _fund(world)
    loans.disburse_loan(world.session, world.factory.treasurer(world.group), world.group, world.member(2),
                        world.factory.money(world.group, "1000"))
    p = phone(world.member(2).phone)
    screen = p.walk("1")
    assert screen.name == "balance"
    screen = Screen(screen.kind, read_all(p, screen), screen.name)
    shares = tx(lang, "Shares: {shares} = {value}", shares=Texts(lang).digits(4), value=money(lang, "400"))
    assert shares in screen
    assert tx(lang, "Social fund this cycle: {amount}", amount=money(lang, "20")) in screen
    assert money(lang, "1100") in screen.text
    assert tx(lang, "Next meeting: {date}", date="").strip() in screen.text


def test_last_five_entries_newest_first(world, phone, lang, meeting):
    _buy(world, 2, 1)
    screen = phone(world.member(2).phone).walk("2")
    assert screen.name == "recent"
    lines = screen.text.splitlines()
    assert tx(lang, "Social fund") in lines[1]
    assert tx(lang, "Shares") in lines[2]


def test_a_member_without_entries_is_told_so(world, phone, lang):
    screen = phone(world.member(2).phone).walk("2")
    assert tx(lang, "No entries yet.") in screen


def test_the_statement_is_queued_once_even_if_the_hop_is_repeated(world, phone, lang, session):
    member = world.member(2)
    p = phone(member.phone)
    assert p.walk("3").name == "statement_ask"
    first = p.send("1")
    assert first.name == "statement_sent"
    assert p.again().text == first.text
    p.send("00")  # walking past it later queues nothing more
    count = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.member_id == member.id, OutboxMessage.kind == "statement"))
    assert count == 1


def test_my_loan(world, phone, lang, meeting):
    _buy(world, 2, 5)
    _fund(world)
    p = phone(world.member(2).phone)
    assert tx(lang, "You have no loan.") in p.walk("4")
    loans.disburse_loan(world.session, world.factory.treasurer(world.group), world.group, world.member(2),
                        world.factory.money(world.group, "1000"))
    screen = p.walk("4")
    assert tx(lang, "Loan {principal} + charge {charge}", principal=money(lang, "1000"),
              charge=money(lang, "100")) in screen


def test_change_pin(world, phone, lang):
    member = world.member(2)
    p = phone(member.phone)
    assert p.walk("5").name == "pin_old"
    assert p.send(MEMBER_PIN).name == "pin_new"
    assert p.send("2468").text.startswith(tx(lang, "Choose a PIN different from the old one."))
    assert p.send("1357").name == "pin_repeat"
    assert p.send("1111").text.startswith(tx(lang, "The two PINs differ."))
    screen = p.send("1357")
    assert screen.name == "pin_changed"
    assert p.again().name == "pin_changed"  # a repeated hop changes nothing and counts no failure
    world.refresh()
    assert pins._matches("1357", member.pin_hash)
    assert member.pin_failures == 0


def test_change_pin_with_the_wrong_current_pin_is_refused(world, phone, lang):
    p = phone(world.member(2).phone)
    p.walk("5")
    screen = p.send("0000")
    assert screen.name == "pin_old"
    wrong = Texts(lang).n("Wrong PIN. {n} try left.", "Wrong PIN. {n} tries left.", 2)
    assert screen.text.startswith(wrong)


def test_a_member_chooses_their_language(world, phone, lang):
    p = phone(world.member(2).phone)
    screen = p.walk("6")
    assert screen.name == "language"
    screen = p.send("2")
    assert screen.text.startswith("Lugha: Kiswahili")
    world.refresh()
    assert world.member(2).language == "sw"
    assert p.send("00").text.splitlines()[1] == "1 Salio langu"
    p.dial("6", "3")
    world.refresh()
    assert world.member(2).language == "ar"


def test_a_pin_given_by_staff_must_be_changed_before_the_balance(world, phone, lang):
    member = world.member(3)
    pins.set_initial_pin(member, "1212")
    world.session.flush()
    p = phone(member.phone)
    screen = p.walk("1")
    assert screen.name == "pin_old"
    assert tx(lang, "Please choose a new PIN.") in screen
    p.send("1212")
    p.send("3434")
    screen = p.send("3434")
    assert screen.name == "balance"
    # The session goes on: the walk passes the change again without repeating it.
    assert p.send("0").name == "member_home"
    assert p.send("4").name == "my_loan"
    world.refresh()
    assert not member.pin_must_change
    assert pins._matches("3434", member.pin_hash)
    assert p.dial("1").name == "balance"  # a new session: no more gate


def test_a_phone_of_members_of_two_groups_picks_the_group_first(world, phone, factory, lang):
    other = factory.ready(members=10, programme=None)
    other.name = "Tumaini"
    factory.member(other, phone=world.member(2).phone, name="Juma B", language=lang)
    world.session.flush()
    p = phone(world.member(2).phone)
    screen = p.dial()
    assert screen.name == "choose_group"
    assert "1 Tumaini" in screen.text and "2 Umoja VSLA" in screen.text
    assert p.send("2").name == "member_home"
    assert "Umoja" in p.screens[-1].text
    assert p.send("0").name == "choose_group"
    assert p.send("1").text.startswith("Tumaini")


def test_input_the_page_did_not_ask_for_re_asks_with_a_reason(world, phone, lang):
    p = phone(world.member(2).phone)
    screen = p.walk("7")
    assert screen.name == "member_home"
    assert screen.text.startswith(tx(lang, "Choose one of the options."))
    screen = p.send("")
    assert screen.name == "member_home"


def test_a_treasurer_reaches_their_own_account(treasurer, lang):
    assert treasurer.walk("3").name == "member_home"
    assert treasurer.send("1").name == "balance"
    assert treasurer.send("00").name == "treasurer_home"


def test_the_treasurer_pin_is_not_needed_for_reading(treasurer, lang):
    assert PIN not in treasurer.walk("3", "1").text


def test_last_entries_show_the_share_out_payout_and_the_shares_after_it(world, phone, lang, meeting):
    from vision_ledger import shareout

    _buy(world, 2, 3)
    shareout.execute(world.session, world.factory.treasurer(world.group), world.group)
    p = phone(world.member(2).phone)
    screen = p.walk("2")
    screen = Screen(screen.kind, read_all(p, screen), screen.name)
    lines = screen.text.splitlines()
    assert tx(lang, "Share-out") in lines[1] and money(lang, "300") in lines[1]
    assert tx(lang, "Shares: {shares} = {value}", shares=Texts(lang).digits(0),
              value=money(lang, "0")) in screen

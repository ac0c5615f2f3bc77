"""The treasurer's menu, in every language: each piece of meeting business and its refusals."""

from __future__ import annotations

from sqlalchemy import select

from ussd.texts import Texts
from vision_ledger import ledger, loans, meetings, savings
from vision_ledger.models import Entry, Meeting

from .conftest import PIN, money, tx


def _fund(world, *numbers: int) -> None:
    t = world.factory.treasurer(world.group)
    for number in numbers or (2, 3, 4, 5, 6):
        savings.buy_shares(world.session, t, world.group, world.member(number), 5)
        savings.pay_social_fund(world.session, t, world.group, world.member(number))


def _entries(world, kind: str) -> list[Entry]:
    world.refresh()
    return list(world.session.scalars(select(Entry).where(Entry.group_id == world.group.id,
                                                          Entry.kind == kind)))


def test_open_the_meeting_with_everyone_present(treasurer, world, lang):
    assert treasurer.dial().name == "treasurer_home"
    assert treasurer.send("1").name == "open_meeting"
    screen = treasurer.send("1")
    assert screen.name == "open_confirm"
    assert tx(lang, "PIN to confirm:") in screen
    screen = treasurer.send(PIN)
    assert screen.name == "meeting_opened"
    assert treasurer.again().text == screen.text  # a repeated confirmation opens nothing twice
    world.refresh()
    meeting = meetings.current_meeting(world.session, world.group.id)
    assert meeting is not None and meeting.present_count == 15
    assert treasurer.send("00").name == "treasurer_home"
    assert tx(lang, "{group}: meeting open", group="Umoja VSLA") in treasurer.screens[-1]


def test_open_the_meeting_with_members_absent(treasurer, world, lang):
    treasurer.walk("1", "2")
    screen = treasurer.send("3")
    assert screen.name == "absent" and "3" in screen.text
    treasurer.send("7")
    assert treasurer.send("99").text.startswith(tx(lang, "No member number {n}.", n=99))
    screen = treasurer.send("0")
    assert screen.name == "open_confirm"
    assert Texts(lang).digits(13) in screen.text
    treasurer.send(PIN)
    world.refresh()
    meeting = meetings.current_meeting(world.session, world.group.id)
    assert meeting.present_count == 13


def test_no_quorum_is_refused(treasurer, world, lang):
    treasurer.walk("1", "2")
    for number in range(2, 10):
        treasurer.send(str(number))
    treasurer.send("0")
    screen = treasurer.send(PIN)
    assert screen.name == "open_refused"
    assert tx(lang, "No quorum: {present} of {active} present.", present=Texts(lang).digits(7),
              active=Texts(lang).digits(15)) in screen


def test_record_shares_shows_what_will_happen_then_posts_once(treasurer, world, lang, meeting, last_seq):
    screen = treasurer.walk("2")
    assert screen.name == "pick_member"
    assert treasurer.send("4").name == "shares_count"
    assert treasurer.send("9").text.startswith(tx(lang, "Enter {low} to {high}.", low=1, high=5))
    screen = treasurer.send("3")
    assert screen.name == "shares_confirm"
    expected = Texts(lang).n("{name}: {n} share = {amount}.", "{name}: {n} shares = {amount}.", 3,
                             name="4 Otieno", amount=money(lang, "300"))
    assert expected in screen
    before = last_seq()
    done = treasurer.send(PIN)
    assert done.name == "shares_done"
    for _ in range(2):
        assert treasurer.again().text == done.text
    assert last_seq() == before + 1
    assert treasurer.send("1").name == "pick_member"  # 1 = again
    assert last_seq() == before + 1


def test_shares_above_the_maximum_of_a_meeting_are_refused(treasurer, world, lang, meeting):
    _fund(world, 4)
    treasurer.walk("2", "4", "1")
    screen = treasurer.send(PIN)
    assert screen.name == "shares_done_refused"
    assert Texts(lang).n("At most {n} share a meeting ({already} bought).",
                         "At most {n} shares a meeting ({already} bought).", 5,
                         already=Texts(lang).digits(5)) in screen


def test_the_pin_is_asked_once_per_session(treasurer, world, lang, meeting):
    treasurer.walk("2", "4", "1", PIN, "00", "3", "5")
    screen = treasurer.screens[-1]
    assert screen.name == "social_confirm"
    assert tx(lang, "1 Confirm  0 Back") in screen
    assert treasurer.send("1").name == "social_done"
    assert len(_entries(world, "social_fund")) == 1


def test_social_fund_paid_twice_is_refused(treasurer, world, lang, meeting):
    _fund(world, 5)
    screen = treasurer.walk("3", "5", PIN)
    assert screen.name == "social_done_refused"
    assert tx(lang, "Social fund already paid at this meeting.") in screen


def test_a_new_loan_shows_the_charge_and_due_date_then_lends(treasurer, world, lang, meeting):
    _fund(world)
    treasurer.walk("5", "2")
    assert treasurer.screens[-1].name == "loan_amount"
    assert treasurer.send("5000").text.startswith(
        tx(lang, "Loan above the group maximum of {maximum}.", maximum=money(lang, "2600")))
    assert treasurer.send("100").text.startswith(
        tx(lang, "Loan below the group minimum of {minimum}.", minimum=money(lang, "650")))
    assert treasurer.send("1000").name == "loan_purpose"
    screen = treasurer.send("1")
    assert screen.name == "loan_confirm"
    assert money(lang, "100") in screen.text and money(lang, "1100") in screen.text
    done = treasurer.send(PIN)
    assert done.name == "loan_done"
    assert treasurer.again().text == done.text
    assert len(_entries(world, "loan")) == 1


def test_a_loan_above_three_times_savings_is_refused_on_the_confirmation(treasurer, world, lang, meeting):
    _fund(world)
    savings.buy_shares(world.session, world.factory.treasurer(world.group), world.group, world.member(7), 2)
    screen = treasurer.walk("5", "7", "1000", "1")
    assert screen.name == "loan_confirm"
    assert tx(lang, "Loan above {multiple}x savings ({maximum}).", multiple=Texts(lang).digits(3),
              maximum=money(lang, "600")) in screen
    screen = treasurer.send(PIN)
    assert screen.name == "loan_refused"
    assert _entries(world, "loan") == []


def test_a_second_loan_is_refused(treasurer, world, lang, meeting):
    _fund(world)
    treasurer.walk("5", "2", "1000", "1", PIN)
    screen = treasurer.send("1")
    for value in ("2", "700", "1"):
        screen = treasurer.send(value)
    assert tx(lang, "The member must repay the current loan first.") in screen


def test_a_repayment(treasurer, world, lang, meeting):
    _fund(world)
    loans.disburse_loan(world.session, world.factory.treasurer(world.group), world.group, world.member(2),
                        world.factory.money(world.group, "1000"))
    screen = treasurer.walk("4", "2")
    assert screen.name == "repay_amount"
    assert money(lang, "1100") in screen.text
    screen = treasurer.send("2000")
    assert tx(lang, "More than the {owed} owed.", owed=money(lang, "1100")) in screen
    treasurer.send("0")
    assert treasurer.send("abc").text.startswith(tx(lang, "Not an amount."))
    treasurer.send("500")
    done = treasurer.send(PIN)
    assert done.name == "repay_done"
    world.refresh()
    assert loans.active_loan(world.session, world.member(2).id).balance == 60000


def test_a_repayment_without_a_loan_asks_no_amount(treasurer, world, lang, meeting):
    screen = treasurer.walk("4", "3")
    assert screen.name == "repay_no_loan"
    assert tx(lang, "{name} has no loan.", name="3 Wanjiru") in screen
    assert treasurer.send("1").name == "pick_member"


def test_other_input_after_more_than_owed_is_not_read_as_a_pin(treasurer, world, lang, meeting):
    savings.buy_shares(world.session, world.factory.treasurer(world.group), world.group, world.member(2), 5)
    savings.buy_shares(world.session, world.factory.treasurer(world.group), world.group, world.member(3), 5)
    loans.disburse_loan(world.session, world.factory.treasurer(world.group), world.group, world.member(2),
                        world.factory.money(world.group, "700"))
    world.session.flush()
    screen = treasurer.walk("4", "2", "5000")
    assert screen.name == "repay_confirm"
    screen = treasurer.send("12")
    assert tx(lang, "A PIN is 4 digits.") not in screen
    assert screen.text.startswith(tx(lang, "Choose one of the options."))


def test_a_fine(treasurer, world, lang, meeting):
    screen = treasurer.walk("6", "2")
    assert screen.name == "fine_pick"
    screen = treasurer.send("2")
    assert screen.name == "fine_confirm" and "late" in screen.text
    assert treasurer.send(PIN).name == "fine_done"
    assert len(_entries(world, "fine")) == 1


def test_a_welfare_payout(treasurer, world, lang, meeting):
    _fund(world)
    treasurer.walk("7", "2", "50")
    screen = treasurer.send("2")
    assert screen.name == "welfare_confirm"
    assert tx(lang, "Funeral") in screen
    assert treasurer.send(PIN).name == "welfare_done"
    assert _entries(world, "welfare")[0].memo == "Funeral"


def test_welfare_above_the_social_fund_is_refused(treasurer, world, lang, meeting):
    screen = treasurer.walk("7", "2", "5000", "1", PIN)
    assert screen.name == "welfare_done_refused"
    assert tx(lang, "The social fund holds only {available}.", available=money(lang, "0")) in screen


def test_undo_the_last_entry_of_the_meeting(treasurer, world, lang, meeting):
    _fund(world, 2)
    last = _entries(world, "social_fund")[-1]
    screen = treasurer.walk("8")
    assert screen.name == "undo"
    assert f"#{last.seq}" in screen.text
    assert treasurer.send("1").text.startswith(tx(lang, "Type {seq} to undo it:", seq=last.seq))
    assert treasurer.send(str(last.seq)).name == "undo_confirm"
    done = treasurer.send(PIN)
    assert done.name == "undo_done"
    assert treasurer.again().text == done.text  # the retry undoes nothing else
    assert len(_entries(world, "reversal")) == 1
    assert treasurer.send("00").name == "treasurer_home"


def test_nothing_to_undo(treasurer, lang, meeting):
    assert tx(lang, "Nothing to undo.") in treasurer.walk("8")


def test_close_the_meeting_when_the_count_matches(treasurer, world, lang, meeting):
    _fund(world, 2)
    treasurer.walk("98")
    assert treasurer.screens[-1].name == "treasurer_more"
    assert treasurer.send("9").name == "count_loan_fund"
    assert treasurer.send("500").name == "count_social"
    screen = treasurer.send("20")
    assert screen.name == "close_confirm"
    done = treasurer.send(PIN)
    assert done.name == "meeting_closed"
    assert treasurer.again().text == done.text
    world.refresh()
    assert meetings.current_meeting(world.session, world.group.id) is None
    assert treasurer.send("00").name == "treasurer_home"
    assert tx(lang, "Open meeting") in treasurer.screens[-1]


def test_close_the_meeting_with_a_difference_needs_a_reason(treasurer, world, lang, meeting):
    _fund(world, 2)
    screen = treasurer.walk("9", "450", "0")
    assert screen.name == "variance_reason"
    assert money(lang, "-50") in screen.text and money(lang, "-20") in screen.text
    screen = treasurer.send("2")
    assert screen.name == "close_confirm"
    assert treasurer.send(PIN).name == "meeting_closed"
    world.refresh()
    closed = world.session.get(Meeting, meeting.id)
    assert closed.status == "closed" and closed.variance_reason == "Cash missing"
    assert ledger.balance(world.session, world.group, "loan_fund_cash").minor == 45000
    # Later hops of the same session walk past the close as it was.
    assert treasurer.send("00").name == "treasurer_home"


def test_group_balance_any_time(treasurer, world, lang):
    screen = treasurer.walk("2")
    assert screen.name == "group_balance"
    assert tx(lang, "Loan fund cash: {amount}", amount=money(lang, "0")) in screen


def test_business_outside_a_meeting_is_not_offered(treasurer, lang):
    screen = treasurer.walk("5")
    assert screen.name == "treasurer_home"
    assert screen.text.startswith(tx(lang, "Choose one of the options."))


def test_a_member_number_that_does_not_exist(treasurer, lang, meeting):
    screen = treasurer.walk("2", "42")
    assert screen.text.startswith(tx(lang, "No member number {n}.", n=42))
    assert treasurer.send("x").text.startswith(tx(lang, "Enter a member number."))


def test_a_locked_treasurer_cannot_write(treasurer, world, lang, meeting, last_seq):
    before = last_seq()
    treasurer.walk("2", "4", "1")
    for wrong in ("0000", "1111"):
        screen = treasurer.send(wrong)
        assert screen.name == "shares_confirm" and not screen.end
    screen = treasurer.send("2222")
    assert screen.end
    assert Texts(lang).n("Too many wrong PINs. Try again in {n} minute.",
                         "Too many wrong PINs. Try again in {n} minutes.", 30) in screen
    screen = treasurer.walk("2", "4", "1", PIN)  # the right PIN, too late
    assert screen.end
    assert last_seq() == before
    world.refresh()
    assert world.treasurer.pin_locked_until is not None


def test_a_mistyped_count_is_counted_again_before_any_difference_is_recorded(treasurer, world, lang,
                                                                            meeting):
    _fund(world, 2)
    screen = treasurer.walk("9", "450", "0")
    assert screen.name == "variance_reason"
    assert tx(lang, "0 Count again") in screen.text  # the page's way back: to the counts
    assert treasurer.send("0").name == "count_loan_fund"
    assert treasurer.send("500").name == "count_social"
    screen = treasurer.send("20")
    assert screen.name == "close_confirm"  # the counts match the books: no reason asked
    assert treasurer.send(PIN).name == "meeting_closed"
    world.refresh()
    closed = world.session.get(Meeting, meeting.id)
    assert closed.status == "closed" and closed.variance_reason is None
    assert closed.closing_loan_fund == 50000


def test_the_difference_page_takes_only_its_options(treasurer, world, lang, meeting):
    _fund(world, 2)
    treasurer.walk("9", "450", "0")
    for wrong in ("5", "0x", "450"):
        screen = treasurer.send(wrong)
        assert screen.name == "variance_reason"
        assert tx(lang, "Choose one of the options.") in screen.text
    world.refresh()
    assert world.session.get(Meeting, meeting.id).status == "open"


def test_every_input_page_says_its_way_back_and_0_goes_back(treasurer, world, lang, meeting):
    _fund(world, 2)
    screen = treasurer.walk("5", "2")
    assert screen.name == "loan_amount"
    assert screen.text.splitlines()[-1] == tx(lang, "0 Back")
    screen = treasurer.send("0")
    assert screen.name == "pick_member" and screen.text.splitlines()[-1] == tx(lang, "0 Back")
    assert treasurer.send("0").name == "treasurer_home"


def test_where_0_is_an_answer_hash_goes_back(treasurer, world, lang, meeting):
    _fund(world, 2)
    screen = treasurer.walk("9")
    assert screen.name == "count_loan_fund"
    assert screen.text.splitlines()[-1] == tx(lang, "# Back")
    assert treasurer.send("0").name == "count_social"  # 0 is a count: an empty bag
    screen = treasurer.send("#")
    assert screen.name == "count_loan_fund"  # back to the loan fund count, nothing recorded
    assert treasurer.send("500").name == "count_social"
    assert treasurer.send("20").name == "close_confirm"
    assert treasurer.send("#").name == "count_social"
    world.refresh()
    assert world.session.get(Meeting, meeting.id).status == "open"


def test_the_absent_list_goes_back_with_hash(treasurer, world, lang):
    screen = treasurer.walk("1", "2")
    assert screen.name == "absent" and screen.text.splitlines()[-1] == tx(lang, "# Back")
    assert treasurer.send("3").name == "absent"
    assert treasurer.send("#").name == "absent"  # the member just added is taken off again
    assert treasurer.screens[-1].text.splitlines()[0] == tx(lang, "Absent: {numbers}", numbers="-")
    assert treasurer.send("#").name == "open_meeting"

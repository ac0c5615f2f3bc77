"""A meeting recorded by SMS when USSD fails: `M <PIN> ...`, answered with a code; `OK <code>` posts it."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sms import meeting_command
from sms.meeting_command import Refused, parse
from sms.models import SmsInbound, SmsMeetingCommand
from sms.texts import render
from tests.factories import Factory
from tests.sms.conftest import SECRET
from vision_ledger import ledger, loans, meetings, pins, savings
from vision_ledger.db import Database, utcnow
from vision_ledger.models import Account, Entry, Group, Member, OutboxMessage, Posting

PIN = "4321"
_ids = itertools.count(1)


@pytest.fixture
def client(db: Database, make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(db).test_client()


def prepare(factory: Factory, session: Session, members: int = 12, language: str = "en") -> Group:
    """A group whose previous meeting (two weeks ago) lent member 3 KES 1,000."""
    group = factory.ready(members=members)
    people = factory.members(group)
    for person in people:
        person.language = language
    pins.set_initial_pin(people[0], PIN)
    people[0].pin_must_change = False
    factory.meeting(group, on=date.today() - timedelta(days=14))
    for person in people[:10]:
        savings.buy_shares(session, factory.treasurer(group), group, person, 5)
    loans.disburse_loan(session, factory.treasurer(group), group, people[2], factory.money(group, "1000"))
    factory.close(group)
    session.commit()
    return group


def sms(client: FlaskClient, phone: str, text: str) -> None:
    response = client.post(f"/sms/{SECRET}/inbound", data={
        "from": phone, "to": "40404", "text": text, "date": "2024-11-21 10:00:00",
        "id": f"ATin_{next(_ids)}", "networkCode": "63902"})
    assert response.status_code == 200


def last_reply(session: Session, phone: str) -> tuple[dict[str, Any], str]:
    session.expire_all()
    row = session.scalars(select(OutboxMessage).where(OutboxMessage.phone == phone,
                                                      OutboxMessage.kind == "reply")
                          .order_by(OutboxMessage.id.desc())).first()
    assert row is not None
    return row.payload, render(row.kind, row.payload, row.language)


def treasurer_of(factory: Factory, group: Group) -> Member:
    return factory.members(group)[0]


def entries(session: Session, group: Group) -> list[Entry]:
    session.expire_all()
    return list(session.scalars(select(Entry).where(Entry.group_id == group.id).order_by(Entry.seq)))


def expected_close(session: Session, group: Group, shares: int, social: int, repaid: int) -> tuple[int, int]:
    loan_fund = ledger.balance(session, group, "loan_fund_cash").minor + shares * 10000 + repaid
    return loan_fund, ledger.balance(session, group, "social_fund_cash").minor + social * 2000


# -- reading the command ------------------------------------------------------------------------


def test_the_command_reads_positional_and_numbered_values() -> None:
    command = parse("M 1234 12/05 S 3 2 5 0 4 9:1 F * R 3:500 C 12,500 300")
    assert command.pin == "1234" and command.day == (12, 5, None)
    assert command.shares == {1: 3, 2: 2, 3: 5, 4: 0, 5: 4, 9: 1}
    assert command.social_all and command.repay == {3: "500"} and command.close == ["12,500", "300"]


def test_the_command_reads_swahili_and_arabic_words_and_arabic_indic_digits() -> None:
    assert parse("mkutano 1234 hisa 3 2 jamii 1 1 lipa 3:500").shares == {1: 3, 2: 2}
    command = parse("اجتماع ١٢٣٤ أسهم ٣ ٢ صندوق ١ ٠ سداد ٣:٥٠٠ اغلاق ١٢٥٠٠ ٣٠٠")
    assert command.pin == "1234" and command.shares == {1: 3, 2: 2} and command.social == {1: 1, 2: 0}
    assert command.repay == {3: "٥٠٠"} and command.close == ["١٢٥٠٠", "٣٠٠"]


@pytest.mark.parametrize(("text", "reason"), [
    ("M S 3 2", "pin_missing"), ("M 1234", "nothing"), ("M 1234 X 3", "unreadable"),
    ("M 1234 S 3 two", "unreadable"), ("M 1234 S 3 1:2", "member_twice"), ("M 1234 S 3 S 2", "section_twice"),
    ("M 1234 F 2", "social_one"), ("M 1234 C 100", "close_two"), ("M 1234 C 1 2 3", "close_two"),
    ("M 1234 S 0:3", "no_member"),
])
def test_an_unreadable_command_is_refused_with_its_reason(text: str, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        parse(text)
    assert refused.value.reason == reason


def test_the_pin_is_never_stored(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group = prepare(factory, session)
    sms(client, treasurer_of(factory, group).phone, f"M {PIN} S 3 2")
    session.expire_all()
    stored = session.scalars(select(SmsInbound.text).order_by(SmsInbound.id.desc())).first()
    assert stored == "M **** S 3 2"
    plans = [str(row.plan) for row in session.scalars(select(SmsMeetingCommand))]
    assert plans and all(PIN not in plan for plan in plans)


def waiting(client: FlaskClient, session: Session, factory: Factory) -> tuple[Group, str, str]:
    """A group whose treasurer sent a meeting (shares of members 1 and 2): (group, phone, code)."""
    group = prepare(factory, session)
    phone = treasurer_of(factory, group).phone
    sms(client, phone, f"M {PIN} S 3 2")
    return group, phone, last_reply(session, phone)[0]["code"]


# -- preview, OK, idempotency ---------------------------------------------------------------------


def test_a_meeting_by_sms_is_previewed_with_a_code_and_posted_on_ok(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group = prepare(factory, session)
    phone = treasurer_of(factory, group).phone
    before = len(entries(session, group))
    sms(client, phone, f"M {PIN} S 3 2 5 F 1 1 0 R 3:500")
    payload, text = last_reply(session, phone)
    assert payload["command"] == "meeting_preview" and len(payload["code"]) == 4
    assert "(opens) KES: Shares 10 (3 members) 1,000. Social fund 2: 40. Repaid 1: 500." in text
    assert f"Reply OK {payload['code']}" in text
    assert len(entries(session, group)) == before  # nothing posted by the preview
    assert meetings.current_meeting(session, group.id) is None
    sms(client, phone, f"ok {payload['code'].lower()}")
    done, text = last_reply(session, phone)
    assert done["command"] == "meeting_done" and "recorded" in text
    posted = entries(session, group)[before:]
    assert [e.kind for e in posted] == ["share_purchase", "social_fund", "share_purchase", "social_fund",
                                       "share_purchase", "repayment"]
    assert {e.channel for e in posted} == {"sms"}


def test_a_second_ok_changes_nothing(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group, phone, code = waiting(client, session, factory)
    sms(client, phone, f"OK {code}")
    count, messages = len(entries(session, group)), session.scalar(select(Entry.id).order_by(Entry.id.desc()))
    sms(client, phone, f"OK {code}")
    assert last_reply(session, phone)[0]["command"] == "meeting_already"
    assert len(entries(session, group)) == count
    assert session.scalar(select(Entry.id).order_by(Entry.id.desc())) == messages


def test_an_ok_after_30_minutes_is_refused_as_expired(client: FlaskClient, session: Session,
                                                      factory: Factory) -> None:
    group, phone, code = waiting(client, session, factory)
    session.execute(update(SmsMeetingCommand).values(expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()
    before = len(entries(session, group))
    sms(client, phone, f"OK {code}")
    payload, text = last_reply(session, phone)
    assert payload["reason"] == "expired" and "expired after 30 minutes" in text
    assert len(entries(session, group)) == before


def test_an_ok_from_another_phone_posts_nothing(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group, _, code = waiting(client, session, factory)
    other = factory.members(group)[1]
    before = len(entries(session, group))
    sms(client, other.phone, f"OK {code}")
    assert last_reply(session, other.phone)[0]["reason"] == "not_treasurer"
    assert len(entries(session, group)) == before


def test_three_wrong_codes_cancel_the_command(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group, phone, code = waiting(client, session, factory)
    wrong = "".join("A" if ch != "A" else "C" for ch in code)
    for reason in ("code_wrong", "code_wrong", "code_cancelled"):
        sms(client, phone, f"OK {wrong}")
        assert last_reply(session, phone)[0]["reason"] == reason
    sms(client, phone, f"OK {code}")
    assert last_reply(session, phone)[0]["reason"] == "nothing_pending"
    assert meetings.current_meeting(session, group.id) is None


def test_codes_are_four_characters_of_the_unambiguous_alphabet(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group = prepare(factory, session)
    phone = treasurer_of(factory, group).phone
    codes = set()
    for _ in range(6):
        sms(client, phone, f"M {PIN} S 3 2")
        code = last_reply(session, phone)[0]["code"]
        assert len(code) == 4 and set(code) <= set(meeting_command.CODE_ALPHABET)
        codes.add(code)
    assert len(codes) >= 5  # 24^4 codes: six draws almost never repeat
    # A newer command replaces the one waiting: only the last code is pending.
    assert session.scalar(select(SmsMeetingCommand.code).where(SmsMeetingCommand.status == "pending")) == code


# -- refusals: nothing changes, a short reply in the treasurer's language -----------------------


def test_a_wrong_pin_is_refused_and_counted(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group = prepare(factory, session, language="sw")
    treasurer = treasurer_of(factory, group)
    sms(client, treasurer.phone, "M 9999 S 3 2")
    payload, text = last_reply(session, treasurer.phone)
    assert payload["reason"] == "pin_wrong" and text == "PIN si sahihi. Hakuna kilichorekodiwa."
    session.refresh(treasurer)
    assert treasurer.pin_failures == 1
    assert session.scalar(select(SmsMeetingCommand.id)) is None


def test_an_arabic_command_with_arabic_indic_digits_is_previewed_in_arabic(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group = prepare(factory, session, language="ar")
    phone = treasurer_of(factory, group).phone
    sms(client, phone, "اجتماع ٤٣٢١ اسهم ٣ ٢ صندوق * سداد ٣:٥٠٠")
    payload, text = last_reply(session, phone)
    assert payload["command"] == "meeting_preview", payload
    assert text.startswith("اجتماع") and "سداد ١: ٥٠٠." in text
    sms(client, phone, f"موافق {payload['code']}")
    assert last_reply(session, phone)[0]["command"] == "meeting_done"


def test_a_member_who_is_not_the_treasurer_is_refused(client: FlaskClient, session: Session,
                                                      factory: Factory) -> None:
    group = prepare(factory, session)
    member = factory.members(group)[4]
    sms(client, member.phone, f"M {PIN} S 3")
    assert last_reply(session, member.phone)[0]["reason"] == "not_treasurer"


def test_shares_above_the_maximum_are_refused_naming_the_member(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group = prepare(factory, session, language="ar")
    phone = treasurer_of(factory, group).phone
    sms(client, phone, f"M {PIN} S 3 9")
    payload, text = last_reply(session, phone)
    assert payload["code"] == "shares.above_maximum" and payload["member_number"] == 2
    assert text.startswith("العضو ٢: ٥ أسهم") and "لم يسجل شيء" in text
    assert meetings.current_meeting(session, group.id) is None
    assert session.scalar(select(SmsMeetingCommand.id)) is None


def test_a_repayment_without_a_loan_is_refused(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group = prepare(factory, session)
    phone = treasurer_of(factory, group).phone
    sms(client, phone, f"M {PIN} R 4:500")
    assert last_reply(session, phone)[1] == "Member 4 has no loan to repay. Nothing recorded."


def test_closing_counts_that_differ_from_the_books_are_refused_with_the_expected_cash(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group = prepare(factory, session)
    phone = treasurer_of(factory, group).phone
    loan_fund, social = expected_close(session, group, shares=5, social=0, repaid=0)
    sms(client, phone, f"M {PIN} S 3 2 C {loan_fund // 100 - 50} {social // 100}")
    payload, text = last_reply(session, phone)
    assert payload["code"] == "meeting.cash_mismatch"
    assert f"loan fund KES {loan_fund // 100:,}" in text and "Recount" in text


def test_a_date_more_than_a_week_back_is_refused(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group = prepare(factory, session)
    phone = treasurer_of(factory, group).phone
    old = date.today() - timedelta(days=8)
    sms(client, phone, f"M {PIN} {old.day}/{old.month}/{old.year} S 3")
    assert last_reply(session, phone)[0]["reason"] == "date_too_old"


def test_a_meeting_is_opened_for_yesterday_when_the_network_failed(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    group = prepare(factory, session)
    phone = treasurer_of(factory, group).phone
    day = meetings.local_today(group) - timedelta(days=1)
    sms(client, phone, f"M {PIN} {day.day}/{day.month} A 7 S 3 2")
    payload, _ = last_reply(session, phone)
    assert payload["opens"] is True and payload["day"] == day.isoformat()
    sms(client, phone, f"OK {payload['code']}")
    meeting = meetings.current_meeting(session, group.id)
    assert meeting is not None and meeting.date == day and meeting.present_count == 11
    assert all(e.effective_date == day for e in entries(session, group) if e.meeting_id == meeting.id)


def test_an_open_meeting_of_another_date_is_refused(client: FlaskClient, session: Session,
                                                    factory: Factory) -> None:
    group = prepare(factory, session)
    factory.meeting(group)
    session.commit()
    phone = treasurer_of(factory, group).phone
    day = meetings.local_today(group) - timedelta(days=1)
    sms(client, phone, f"M {PIN} {day.day}/{day.month} S 3")
    assert last_reply(session, phone)[0]["reason"] == "other_meeting_open"


def test_replies_fit_their_part_budget() -> None:
    from sms.gsm import segments
    from sms.meeting_words import REASONS, REFUSALS

    # The most one meeting can move: 20 members x 5 shares x the highest share price (USD 20, about
    # KES 2,600) is KES 260,000; every amount here is KES 999,999 (shares are whole amounts).
    big = 99_999_900
    preview = {"command": "meeting_preview", "code": "7KR4", "minutes": 30, "day": "2024-09-30",
               "opens": True, "shares": 100, "buyers": 20, "shares_amount": big, "social": 20,
               "social_amount": big, "repaid": 20, "repaid_amount": big, "close_loan_fund": big,
               "close_social_fund": big, "currency": "KES", "group": "x" * 200}
    for language, budget in (("en", 1), ("sw", 1), ("ar", 2)):
        assert segments(render("reply", preview, language)) <= budget
        for reason in [*REASONS, "already", "rule", *REFUSALS]:
            payload = {"command": "meeting_refused", "reason": reason, "word": "x" * 40, "number": "999",
                       "days": "7", "minutes": "30", "day": "2024-09-30", "last": "2024-09-30",
                       "currency": "KES", "groups": ", ".join(f"G{n} {'x' * 14}" for n in (1, 2, 3, 4))
                       + " +95"}
            if reason == "already":
                payload = {"command": "meeting_already", "code": "7KR4"}
            elif "." in reason or reason == "rule":
                payload = {"command": "meeting_refused", "reason": "rule", "code": reason,
                           "member_number": 20, "maximum": 5, "minimum": 1, "owed": big,
                           "expected_loan_fund": big, "expected_social_fund": big, "present": 10,
                           "active": 20, "currency": "KES"}
            text = render("reply", payload, language)
            assert segments(text) <= budget, (language, reason, text)
            assert "{" not in text, text


# -- the same meeting by USSD and by SMS --------------------------------------------------------


SHARES = [3, 2, 5, 0, 4, 1, 5, 3, 2, 1, 4, 2]
SOCIAL = [1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1]  # member 4 buys nothing (and pays nothing)


def _book(session: Session, group: Group) -> list[tuple[Any, ...]]:
    numbers = {m.id: m.number for m in session.scalars(select(Member).where(Member.group_id == group.id))}
    accounts = {a.id: (a.code, numbers.get(a.member_id)) for a in
                session.scalars(select(Account).where(Account.group_id == group.id))}
    book = []
    for entry in entries(session, group):
        postings = sorted((accounts[p.account_id], p.amount, p.units) for p in session.scalars(
            select(Posting).where(Posting.entry_id == entry.id)))
        book.append((entry.seq, entry.kind, numbers.get(entry.member_id), entry.effective_date,
                     entry.details, postings))
    return book


def _receipts(session: Session, group: Group) -> list[tuple[Any, ...]]:
    numbers = {m.id: m.number for m in session.scalars(select(Member).where(Member.group_id == group.id))}
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.group_id == group.id,
                                                       OutboxMessage.kind != "reply")
                           .order_by(OutboxMessage.id))
    return [(row.kind, numbers.get(row.member_id), render(row.kind, row.payload, row.language))
            for row in rows]


def test_a_meeting_by_sms_gives_the_same_entries_and_receipts_as_by_ussd(
    db: Database, session: Session, factory: Factory, make_app: Callable[..., Flask]
) -> None:
    from tests.ussd.conftest import Phone
    from ussd.web import blueprint as ussd_blueprint

    by_ussd, by_sms = prepare(factory, session), prepare(factory, session)
    app = make_app(db)
    app.config["SETTINGS"] = replace(app.config["SETTINGS"], ussd_secret="s3cret")
    app.register_blueprint(ussd_blueprint)
    client = app.test_client()
    repaid = 50000
    loan_fund, social = expected_close(session, by_ussd, sum(SHARES), sum(
        1 for n, s in zip(SHARES, SOCIAL, strict=True) if n and s), repaid)

    # USSD: open (all present), the savings round, a repayment by member 3, the close.
    phone = Phone(client, treasurer_of(factory, by_ussd).phone)
    phone.walk("1", "1", PIN)
    screen = phone.walk("1", PIN)
    for count, paid in zip(SHARES, SOCIAL, strict=True):
        assert screen.name == "round_member", screen.text
        screen = phone.send("0" if not count else f"{count}" if paid else f"{count}0")
    phone.walk("4", "3", "500", PIN)
    assert phone.walk("9", f"{loan_fund // 100}", f"{social // 100}", PIN).name == "meeting_closed"

    # SMS: the same meeting in one message, then OK.
    sender = treasurer_of(factory, by_sms).phone
    flags = " ".join(str(s if n else 0) for n, s in zip(SHARES, SOCIAL, strict=True))
    sms(client, sender, f"M {PIN} S {' '.join(map(str, SHARES))} F {flags} R 3:500 "
                        f"C {loan_fund // 100} {social // 100}")
    payload, _ = last_reply(session, sender)
    assert payload["command"] == "meeting_preview", payload
    sms(client, sender, f"OK {payload['code']}")
    assert last_reply(session, sender)[0]["command"] == "meeting_done"

    ussd_book, sms_book = _book(session, by_ussd), _book(session, by_sms)
    assert len(ussd_book) == len(sms_book) > 20
    assert ussd_book == sms_book
    assert _receipts(session, by_ussd) == _receipts(session, by_sms)
    assert meetings.current_meeting(session, by_sms.id) is None


# -- a phone that keeps the books of several groups -------------------------------------------------


def two_books(factory: Factory, session: Session) -> tuple[Group, Group, str]:
    """Two groups whose treasurer is the same phone, with a PIN of its own in each (the second's
    is 8765): (the group listed first, the second, the phone)."""
    first, second = prepare(factory, session), prepare(factory, session)
    first.name, second.name = "Amani Women", "Tumaini Youth VSLA of Kisumu"
    phone = treasurer_of(factory, first).phone
    seat = treasurer_of(factory, second)
    seat.phone = phone
    pins.set_initial_pin(seat, "8765")
    seat.pin_must_change = False
    session.commit()
    return first, second, phone


def test_a_phone_keeping_two_groups_books_must_say_which_and_nothing_is_guessed(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    first, second, phone = two_books(factory, session)
    before = len(entries(session, first)), len(entries(session, second))
    sms(client, phone, f"M {PIN} S 3 2")
    payload, text = last_reply(session, phone)
    assert payload["reason"] == "which_group"
    assert text.startswith("Which group? G1 Amani Women, G2 Tumaini Youth. ")
    assert session.scalars(select(SmsMeetingCommand)).first() is None
    sms(client, phone, "M G3 8765 S 3 2")
    assert last_reply(session, phone)[0]["reason"] == "which_group"
    assert (len(entries(session, first)), len(entries(session, second))) == before


def test_g2_records_into_the_second_group_with_its_own_pin_and_ok_follows_the_code(
    client: FlaskClient, session: Session, factory: Factory
) -> None:
    first, second, phone = two_books(factory, session)
    before = len(entries(session, first))
    sms(client, phone, f"M G2 {PIN} S 3 2")  # the first group's PIN is not the second's
    assert last_reply(session, phone)[0]["reason"] == "pin_wrong"
    sms(client, phone, "m g2 8765 S 3 2")
    payload, _ = last_reply(session, phone)
    assert payload["command"] == "meeting_preview"
    pending = session.scalars(select(SmsMeetingCommand).where(SmsMeetingCommand.status == "pending")).one()
    assert pending.group_id == second.id
    sms(client, phone, f"OK {payload['code']}")
    assert last_reply(session, phone)[0]["command"] == "meeting_done"
    assert [e.kind for e in entries(session, second)[-2:]] == ["share_purchase", "share_purchase"]
    assert len(entries(session, first)) == before


def test_g1_is_accepted_from_a_treasurer_of_one_group() -> None:
    command = parse("M G1 1234 S 3")
    assert (command.group, command.pin, command.shares) == (1, "1234", {1: 3})
    assert parse("اجتماع G٢ ١٢٣٤ أسهم ٣").group == 2

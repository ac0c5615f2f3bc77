"""Amounts typed on USSD are read the way the group's locale writes them: "12,50" is EUR 12.50 in a
Kosovo group, "1,250" is KES 1,250 in a Kenyan one, and an amount that reads two ways is asked
again in the member's language, recording nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from vision_ledger import loans, pins, savings
from vision_ledger.models import Entry, Group

from .conftest import LANGS, PIN, Phone, World, set_language, tx


def _count(world: World, group: Group, kind: str | None = None) -> int:
    world.refresh()
    query = select(func.count()).select_from(Entry).where(Entry.group_id == group.id)
    if kind:
        query = query.where(Entry.kind == kind)
    return world.session.scalar(query) or 0


@pytest.fixture
def kosovo(session, factory) -> World:
    """A Kosovo group keeping its books in EUR (locale sq_XK by default), share EUR 1, social fund
    EUR 5, an open meeting where five members paid the social fund (EUR 25 in the bag)."""
    programme = factory.programme("EUR", loan_min=500, loan_max=2000)
    group = factory.group(programme, members=12, country="XK", timezone="Europe/Belgrade")
    factory.cycle(group, share_price="1", social="5", start=date.today() - timedelta(weeks=30),
                  fines={"late": factory.money(group, "0.50")})
    members = factory.members(group)
    pins.set_initial_pin(members[0], PIN)
    members[0].pin_must_change = False
    factory.meeting(group)
    treasurer = factory.treasurer(group)
    for member in members[1:6]:
        savings.pay_social_fund(session, treasurer, group, member)
    session.flush()
    return World(session, factory, group, members)


@pytest.fixture(params=LANGS)
def kosovo_lang(request, kosovo) -> str:
    set_language(kosovo, request.param)
    return request.param


def test_a_kosovo_group_reads_amounts_the_way_kosovo_writes_them(kosovo):
    assert kosovo.group.locale == "sq_XK"


def test_a_treasurer_in_kosovo_typing_12_comma_50_records_12_euros_50(kosovo, kosovo_lang, phone):
    treasurer: Phone = phone(kosovo.treasurer.phone)
    treasurer.walk("7", "2", "12,50")
    screen = treasurer.send("2")
    assert screen.name == "welfare_confirm"
    assert "EUR 12,50" in screen.text or "EUR ١٢٫٥٠" in screen.text
    assert treasurer.send(PIN).name == "welfare_done"
    welfare = kosovo.session.scalars(select(Entry).where(Entry.group_id == kosovo.group.id,
                                                         Entry.kind == "welfare")).one()
    assert max(abs(p.amount) for p in welfare.postings) == 1250


def test_an_ambiguous_amount_in_kosovo_is_asked_again_and_records_nothing(kosovo, kosovo_lang, phone):
    treasurer: Phone = phone(kosovo.treasurer.phone)
    before = _count(kosovo, kosovo.group)
    screen = treasurer.walk("7", "2", "1,250")
    assert screen.name == "welfare_amount"
    assert screen.text.startswith(tx(kosovo_lang, "Unclear amount. Type {decimal} or {whole}.",
                                     decimal="1,25", whole="1250"))
    screen = treasurer.send("1.250")  # the dot reads both ways too
    assert screen.name == "welfare_amount"
    assert _count(kosovo, kosovo.group) == before


def test_kosovo_counts_the_bags_at_close_with_the_decimal_comma(kosovo, phone):
    treasurer: Phone = phone(kosovo.treasurer.phone)
    screen = treasurer.walk("98", "9", "0", "25,00")
    assert screen.name == "close_confirm", screen.text
    assert "EUR 25" in screen.text
    assert treasurer.send(PIN).name == "meeting_closed"


def test_a_kenyan_treasurer_typing_1_comma_250_lends_kes_1250(treasurer, world, lang, meeting):
    t = world.factory.treasurer(world.group)
    for number in (2, 3, 4, 5, 6):
        savings.buy_shares(world.session, t, world.group, world.member(number), 5)
    assert world.group.locale == "en_KE"
    treasurer.walk("5", "2", "1,250", "1")
    screen = treasurer.send(PIN)
    assert screen.name == "loan_done", screen.text
    world.refresh()
    assert loans.active_loan(world.session, world.member(2).id).principal == 125000


def test_12_comma_50_in_a_kenyan_group_is_asked_again_in_the_members_language(treasurer, world, lang,
                                                                              meeting):
    before = _count(world, world.group)
    screen = treasurer.walk("7", "2", "12,50")
    assert screen.name == "welfare_amount"
    assert screen.text.startswith(tx(lang, "Unclear amount. Type {decimal} or {whole}.",
                                     decimal="12.50", whole="1250"))
    assert len(screen.text) <= (80 if lang == "ar" else 160)
    assert _count(world, world.group) == before


def test_a_signed_amount_is_not_an_amount_on_ussd(treasurer, world, lang, meeting):
    screen = treasurer.walk("7", "2", "-50")
    assert screen.name == "welfare_amount"
    assert screen.text.startswith(tx(lang, "Not an amount."))


def test_arabic_digits_typed_on_ussd_are_read(treasurer, world, lang, meeting):
    t = world.factory.treasurer(world.group)
    for number in (2, 3, 4, 5, 6):
        savings.buy_shares(world.session, t, world.group, world.member(number), 5)
        savings.pay_social_fund(world.session, t, world.group, world.member(number))
    treasurer.walk("7", "2", "٥٠", "2")
    assert treasurer.send(PIN).name == "welfare_done"
    assert _count(world, world.group, "welfare") == 1

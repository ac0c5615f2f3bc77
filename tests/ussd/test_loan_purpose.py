"""A loan's purpose on USSD: one keypress, at most one hop more than a loan took before purposes,
in English, Swahili and Arabic; the list pages with "98 More" where a page cannot hold it."""

from __future__ import annotations

from sqlalchemy import select

from vision_ledger import purposes, savings
from vision_ledger.models import Loan, OutboxMessage

from .conftest import PIN, tx

# Before purposes a loan took: dial, "5" New loan, the member's number, the amount, the PIN.
HOPS_BEFORE_PURPOSES = 5


def _fund(world) -> None:
    t = world.factory.treasurer(world.group)
    for number in range(2, 16):
        savings.buy_shares(world.session, t, world.group, world.member(number), 5)


def _loan(world, member_number: int) -> Loan:
    world.refresh()
    return world.session.scalars(select(Loan).where(Loan.member_id == world.member(member_number).id)).one()


def test_any_purpose_is_one_keypress_and_one_hop_more_in_every_language(treasurer, phone, world, lang,
                                                                         meeting):
    _fund(world)
    for choice in range(1, len(purposes.DEFAULTS) + 1):
        walker = phone(world.treasurer.phone)
        screen = walker.walk("5", "2", "1000")
        assert screen.name == "loan_purpose"
        assert screen.text.splitlines()[0] == tx(lang, "Purpose of the loan:")
        screen = walker.send(str(choice))  # typed on the first page, wherever the list shows it
        assert screen.name == "loan_confirm"
        assert walker.hops == HOPS_BEFORE_PURPOSES  # the PIN still to come
    screen = treasurer.walk("5", "2", "1000", "17", PIN)
    assert screen.name == "loan_done"
    assert treasurer.hops == HOPS_BEFORE_PURPOSES + 1
    assert _loan(world, 2).purpose == purposes.DEFAULTS[16].code


def test_the_list_is_paged_and_every_purpose_is_shown_in_the_members_language(treasurer, world, lang,
                                                                             meeting):
    _fund(world)
    screen = treasurer.walk("5", "2", "1000")
    pages = [screen.text]
    while f"98 {tx(lang, 'More')}" in screen.text.splitlines():
        screen = treasurer.send("98")
        assert screen.name == "loan_purpose_more"
        pages.append(screen.text)
    shown = "\n".join(pages)
    for number, purpose in enumerate(purposes.DEFAULTS, 1):
        assert f"{number} {purpose.title(lang)}" in shown
    if lang == "ar":  # 17 purposes never fit Arabic's 80 characters
        assert len(pages) > 1
    screen = treasurer.send("3")  # a number of the first page works on the last
    assert screen.name == "loan_confirm"


def test_the_confirmation_names_the_purpose_where_it_fits_and_the_receipt_always(treasurer, world, lang,
                                                                                meeting):
    _fund(world)
    screen = treasurer.walk("5", "2", "1000", "13")  # school fees
    title = purposes.DEFAULTS[12].title(lang)
    if lang != "ar":
        assert tx(lang, "For: {purpose}", purpose=title) in screen
    treasurer.send(PIN)
    world.refresh()
    receipt = world.session.scalars(select(OutboxMessage).where(
        OutboxMessage.member_id == world.member(2).id, OutboxMessage.kind == "receipt")
        .order_by(OutboxMessage.id.desc())).first()
    assert receipt.payload["kind"] == "loan" and receipt.payload["purpose"] == title


def test_a_number_off_the_list_is_asked_again_and_lends_nothing(treasurer, world, lang, meeting):
    _fund(world)
    treasurer.walk("5", "2", "1000")
    for wrong in ("18", "99", "abc"):
        screen = treasurer.send(wrong)
        assert screen.name == "loan_purpose"
        assert tx(lang, "Choose one of the options.") in screen
    assert treasurer.send("0").name == "loan_amount"  # 0 goes back to the amount
    world.refresh()
    assert world.session.scalars(select(Loan)).all() == []


def test_a_programme_list_replaces_the_defaults_on_the_menu(treasurer, world, lang, meeting):
    _fund(world)
    programme = world.group.programme
    purposes.set_purposes(world.session, world.factory.admin(programme.id), programme, [
        {"code": "boda", "titles": {"en": "Motorbike", "sw": "Pikipiki", "ar": "دراجة"}, "business": True},
        {"code": "shop", "titles": {"en": "Shop", "sw": "Duka", "ar": "دكان"}, "business": True}])
    screen = treasurer.walk("5", "2", "1000")
    assert "1 " + {"en": "Motorbike", "sw": "Pikipiki", "ar": "دراجة"}[lang] in screen
    assert "98" not in screen.text
    treasurer.send("2")
    treasurer.send(PIN)
    assert _loan(world, 2).purpose == "shop"

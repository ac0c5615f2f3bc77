"""Members hear of every money movement: a grant, a share-out and an exit reach every member
concerned, each within its part budget (tests/sms/test_parts.py), in the member's language."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from sms.gsm import segments
from sms.texts import MAX_SEGMENTS, render
from tests.factories import Factory
from vision_ledger import grants, savings, shareout
from vision_ledger.models import Group, Member, OutboxMessage


def _messages(session: Session, group: Group, kind: str) -> dict[int, OutboxMessage]:
    session.flush()
    return {row.member_id: row for row in session.scalars(select(OutboxMessage).where(
        OutboxMessage.group_id == group.id, OutboxMessage.kind == kind))}


def _within_budget(rows: dict[int, OutboxMessage]) -> None:
    for row in rows.values():
        text = render(row.kind, row.payload, row.language)
        assert segments(text) <= MAX_SEGMENTS[row.language], text


@pytest.fixture
def group(factory: Factory, session: Session) -> Group:
    group = factory.ready(members=12)
    for person, language in zip(factory.members(group), ["en", "sw", "ar"] * 4, strict=True):
        person.language = language
    factory.meeting(group)
    for person in factory.members(group)[:9]:
        savings.buy_shares(session, factory.treasurer(group), group, person, 2)
    return group


def test_a_grant_is_told_to_every_active_member(factory: Factory, session: Session, group: Group) -> None:
    grants.record_grant(session, factory.admin(group.programme_id), group, factory.money(group, "5000"))
    rows = _messages(session, group, "grant")
    assert set(rows) == {m.id for m in factory.members(group)}
    _within_budget(rows)


def test_a_share_out_is_told_to_every_shareholder(factory: Factory, session: Session, group: Group) -> None:
    holders = {m.id for m in factory.members(group)[:9]}
    shareout.execute(session, factory.treasurer(group), group)
    rows = _messages(session, group, "share_out")
    assert set(rows) == holders
    _within_budget(rows)


def test_an_exit_is_told_to_the_member_who_leaves(factory: Factory, session: Session, group: Group) -> None:
    leaver: Member = factory.members(group)[2]
    shareout.exit_member(session, factory.treasurer(group), group, leaver)
    rows = {member_id: row for member_id, row in _messages(session, group, "receipt").items()
            if row.payload.get("kind") == "member_exit"}
    assert set(rows) == {leaver.id}
    assert "KES 200" in render("receipt", rows[leaver.id].payload, "en")
    _within_budget(rows)


def test_amounts_in_texts_are_written_the_groups_way(factory: Factory, session: Session) -> None:
    """A Kosovo group writes EUR 1 250,50 (sq_XK) to every reader, as its USSD pages do; an Arabic
    reader keeps Arabic's own digits and separators. Through both kinds of message: a receipt
    queued by ledger.post (its SQL path on each database) and a grant queued outside a meeting."""
    programme = factory.programme("EUR", loan_min=500, loan_max=2000)
    group = factory.group(programme, members=10, country="XK", timezone="Europe/Belgrade")
    assert group.locale == "sq_XK"
    factory.cycle(group, share_price="6.25", social="5",
                  fines={"late": factory.money(group, "0.50")})
    english, swahili, arabic = factory.members(group)[:3]
    english.language, swahili.language, arabic.language = "en", "sw", "ar"
    factory.meeting(group)
    for person in (english, swahili, arabic):
        savings.buy_shares(session, factory.treasurer(group), group, person, 2)
    grants.record_grant(session, factory.admin(programme.id), group, factory.money(group, "1250.50"))
    for kind, written, in_arabic in (("receipt", "EUR 12,50", "EUR ١٢٫٥٠"),
                                     ("grant", "EUR 1 250,50", "EUR ١٬٢٥٠٫٥٠")):
        rows = _messages(session, group, kind)
        assert written in render(kind, rows[english.id].payload, "en")
        assert written in render(kind, rows[swahili.id].payload, "sw")
        assert in_arabic in render(kind, rows[arabic.id].payload, "ar")


def test_a_text_queued_before_the_locale_was_carried_keeps_the_languages_way() -> None:
    payload = {"group": "Bashkimi", "currency": "EUR", "member": "Arta", "member_number": 1,
               "kind": "grant", "amount": 125050, "date": "2026-12-01"}
    assert "EUR 1,250.50" in render("grant", payload, "en")

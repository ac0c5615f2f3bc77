"""The savings round: one input per present member, resumable across sessions."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ussd.models import Skip
from ussd.texts import Texts
from vision_ledger import savings
from vision_ledger.models import Entry

from .conftest import PIN, SERVICE_CODE, tx

SECONDS_PER_HOP = 10  # reading the page and typing one or two digits
SESSION_SECONDS = 180  # AT ends a session after 180 s


def _entries(world, kind):
    world.refresh()
    return list(world.session.scalars(select(Entry).where(Entry.group_id == world.group.id,
                                                          Entry.kind == kind)))


def test_a_20_member_meeting_is_recorded_in_two_sessions_and_few_hops(session, factory, phone, capsys):
    from vision_ledger import pins

    group = factory.ready(members=20)
    members = factory.members(group)
    pins.set_initial_pin(members[0], PIN)
    members[0].pin_must_change = False
    session.flush()
    p = phone(members[0].phone)
    hops_per_session = SESSION_SECONDS // SECONDS_PER_HOP
    sessions = 0
    # The first session opens the meeting (all present) and starts the round.
    screen = p.dial()
    sessions += 1
    for value in ("1", "1", PIN, "1"):
        screen = p.send(value)
    assert screen.name == "round_member"
    recorded = 0
    while screen.name == "round_member" and "[" in screen.text:
        if p.hops - (sessions - 1) * hops_per_session >= hops_per_session:
            # The session times out: a new one resumes at the first member not yet recorded.
            screen = p.dial("1")
            sessions += 1
            screen = p.send(PIN)
            continue
        screen = p.send("3" if recorded % 4 else "30")
        recorded += 1
    assert recorded == 20
    shares = _entries_for(session, group, "share_purchase")
    social = _entries_for(session, group, "social_fund")
    assert len(shares) == 20 and len(social) == 15
    assert sessions <= 3 and p.hops <= 60
    print(f"\n20-member savings round: {sessions} sessions, {p.hops} hops, {p.keystrokes} keystrokes "
          f"(dialling {SERVICE_CODE} counted)")


@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_20_member_savings_round_takes_one_session_and_at_most_30_hops(session, factory, phone,
                                                                        language):
    from vision_ledger import pins

    group = factory.ready(members=20)
    members = factory.members(group)
    for member in members:
        member.language = language
    pins.set_initial_pin(members[0], PIN)
    members[0].pin_must_change = False
    session.flush()
    p = phone(members[0].phone)
    screen = p.dial()  # the one session: every later hop continues it
    sid = p.sid
    # Open the meeting (all present), confirm with the PIN, start the round: one hop each.
    for value in ("1", "1", PIN, "1"):
        screen = p.send(value)
    assert screen.name == "round_member"
    recorded = 0
    while screen.name == "round_member" and recorded < 25:
        if tx(language, "Savings round done: all {n} present recorded.", n=Texts(language).digits(20)) \
                in screen.text:
            break
        screen = p.send("3" if recorded % 4 else "30")  # every fourth member pays no social fund
        recorded += 1
    assert recorded == 20
    assert not screen.end and p.sid == sid
    assert len(_entries_for(session, group, "share_purchase")) == 20
    assert len(_entries_for(session, group, "social_fund")) == 15
    assert p.hops <= 30, p.hops


def _entries_for(session, group, kind):
    session.expire_all()
    return list(session.scalars(select(Entry).where(Entry.group_id == group.id, Entry.kind == kind)))


def test_a_dropped_session_resumes_at_the_first_member_not_recorded(treasurer, world, meeting):
    treasurer.walk("1", PIN, "2", "3")
    screen = treasurer.dial("1", PIN)
    assert "3 Wanjiru" in screen.text
    world.refresh()
    savings.buy_shares(world.session, world.factory.treasurer(world.group), world.group, world.member(3), 1)
    world.session.flush()
    screen = treasurer.dial("1", PIN)
    assert "4 Otieno" in screen.text  # recorded through another door: not proposed again


def test_zero_means_none_and_is_remembered(treasurer, world, meeting):
    treasurer.walk("1", PIN, "0")
    screen = treasurer.dial("1", PIN)
    assert "2 Juma" in screen.text
    assert _entries(world, "share_purchase") == []


def test_a_retried_round_hop_records_nothing_twice(treasurer, world, meeting):
    first = treasurer.walk("1", PIN, "2")
    assert treasurer.again().text == first.text
    assert len(_entries(world, "share_purchase")) == 1
    assert len(_entries(world, "social_fund")) == 1


def test_an_answer_that_is_not_shares_re_asks_the_same_member(treasurer, world, meeting):
    screen = treasurer.walk("1", PIN, "9")
    assert screen.text.startswith("Enter 1 to 5, or 0.")
    assert "1 Asha" in screen.text


def test_undone_entries_put_the_member_back_in_the_round(treasurer, world, meeting):
    treasurer.walk("1", PIN, "20")  # Asha: 2 shares, no social fund
    last = _entries(world, "share_purchase")[-1]
    treasurer.dial("8", str(last.seq), PIN)
    screen = treasurer.dial("1", PIN)
    assert "1 Asha" in screen.text


def test_a_refused_member_is_asked_again_with_the_reason(treasurer, world, meeting):
    savings.pay_social_fund(world.session, world.factory.treasurer(world.group), world.group,
                            world.member(1))
    world.session.flush()
    screen = treasurer.walk("1", PIN)
    assert "2 Juma" in screen.text  # already paid: counted as recorded


def test_the_round_ends_when_everyone_present_is_recorded(treasurer, world, factory, phone):
    absent = [m.id for m in world.members[2:]]
    factory.meeting(world.group, absent=tuple(absent[:6]))
    screen = treasurer.walk("1", PIN)
    assert "[1/9]" in screen.text
    for _ in range(9):
        screen = treasurer.send("1")
    assert screen.text.splitlines()[1].startswith("Savings round done")


def test_hash_leaves_the_round_where_0_means_no_shares(treasurer, world, meeting):
    screen = treasurer.walk("1", PIN)
    assert screen.name == "round_member"
    screen = treasurer.send("#")
    assert screen.name == "round_pin"  # the page before the round
    assert _entries(world, "share_purchase") == []
    world.refresh()
    assert world.session.query(Skip).count() == 0  # nothing recorded for the member asked

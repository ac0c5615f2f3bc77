"""A meeting opened for an earlier day: at most 7 days back, not before the group's last meeting,
its date shown on the page the treasurer confirms with the PIN."""

from __future__ import annotations

from datetime import timedelta

from ussd.texts import Texts
from vision_ledger import meetings
from vision_ledger.models import Meeting

from .conftest import PIN, tx


def _today(world):
    return meetings.local_today(world.group)


def test_a_meeting_can_be_opened_for_an_earlier_day_and_the_date_is_confirmed(treasurer, world, lang):
    day = _today(world) - timedelta(days=2)
    screen = treasurer.walk("1", "3")
    assert screen.name == "meeting_day"
    screen = treasurer.send("2")
    assert screen.name == "open_attendance"
    assert tx(lang, "Meeting of {date}.", date=Texts(lang).date(day)) in screen.text
    screen = treasurer.send("1")
    assert screen.name == "open_confirm"
    assert Texts(lang).date(day) in screen.text
    assert treasurer.send(PIN).name == "meeting_opened"
    world.refresh()
    meeting = meetings.current_meeting(world.session, world.group.id)
    assert meeting is not None and meeting.date == day


def test_an_earlier_day_with_absent_members_keeps_its_date(treasurer, world, lang):
    day = _today(world) - timedelta(days=7)
    treasurer.walk("1", "3", "7", "2", "3", "0", PIN)
    world.refresh()
    meeting = meetings.current_meeting(world.session, world.group.id)
    assert meeting is not None and meeting.date == day and meeting.present_count == len(world.members) - 1


def test_more_than_seven_days_back_is_refused(treasurer, world, lang):
    for value in ("8", "0x", "30"):
        screen = treasurer.walk("1", "3", value)
        assert screen.name == "meeting_day"
        assert screen.text.startswith(tx(lang, "Enter 1 to {high}.", high=7))
    world.refresh()
    assert meetings.current_meeting(world.session, world.group.id) is None


def test_a_day_before_the_last_meeting_is_refused(treasurer, world, factory, lang):
    factory.meeting(world.group, on=_today(world) - timedelta(days=3))
    factory.close(world.group)
    screen = treasurer.walk("1", "3", "5")
    assert screen.name == "meeting_day"
    assert screen.text.startswith(tx(lang, "A meeting cannot be dated before the last one."))
    assert treasurer.send("3").name == "open_attendance"  # the last meeting's own day: allowed
    assert treasurer.send("1").name == "open_confirm"
    assert treasurer.send(PIN).name == "meeting_opened"
    world.refresh()
    assert world.session.query(Meeting).filter_by(group_id=world.group.id,
                                                  date=_today(world) - timedelta(days=3)).count() == 2

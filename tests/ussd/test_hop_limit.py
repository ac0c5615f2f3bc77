"""USSD hops per phone are limited (VISION_USSD_HOP_LIMIT): past the limit a hop ends with a short
"too many tries" in the member's language and writes nothing; other phones are not affected."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import update

from vision_ledger.db import utcnow
from vision_ledger.models import RateLimit
from vision_ledger.ratelimits import Limit
from vision_ledger.settings import Settings, SettingsError

from .conftest import LANGS, PIN, set_language, tx

TOO_MANY = "Too many tries. Please dial again later."


@pytest.fixture
def limited(app):
    app.config["SETTINGS"] = replace(app.config["SETTINGS"], ussd_hop_limit=Limit(4, 60))


def test_a_hop_past_the_limit_ends_with_too_many_tries_and_writes_nothing(
        limited, treasurer, world, meeting, last_seq):
    before = last_seq()
    screen = treasurer.walk("2", "5", "2", PIN)  # the fifth hop would confirm a write
    assert screen.end and screen.name == "too_many_hops"
    assert screen.text == TOO_MANY
    assert last_seq() == before
    assert [s.end for s in treasurer.screens[:4]] == [False] * 4


def test_a_wrong_pin_past_the_hop_limit_is_not_checked(limited, treasurer, world, meeting):
    screen = treasurer.walk("2", "4", "1", "9999")
    assert screen.name == "too_many_hops"
    world.refresh()
    assert world.treasurer.pin_failures == 0


@pytest.mark.parametrize("language", LANGS)
def test_the_too_many_tries_page_is_in_the_members_language(language, limited, treasurer, world, meeting):
    set_language(world, language, world.treasurer)
    world.session.commit()
    for _ in range(4):
        treasurer.dial()
    screen = treasurer.dial()  # Phone.post asserts the page fits one USSD page
    assert (screen.end, screen.text) == (True, tx(language, TOO_MANY))
    if language != "en":  # from the catalog, not the msgid
        assert screen.text != TOO_MANY


def test_the_hop_limit_is_per_phone_and_ends_with_its_window(limited, treasurer, world, meeting, phone):
    for _ in range(5):
        last = treasurer.dial()
    assert last.name == "too_many_hops"
    other = phone(world.member(2).phone)
    assert not other.dial().end  # another phone dials as usual
    world.session.execute(update(RateLimit).where(RateLimit.key == f"ussd:hop:{world.treasurer.phone}")
                          .values(window_start=utcnow() - timedelta(seconds=61)))
    world.session.commit()
    assert not treasurer.dial().end


def test_the_default_hop_limit_allows_a_person_and_stops_a_script(app, treasurer, world, meeting):
    limit = Settings().ussd_hop_limit
    app.config["SETTINGS"] = replace(app.config["SETTINGS"], ussd_hop_limit=limit)  # the fixture's is raised
    assert (limit.count, limit.seconds) == (30, 60)
    screens = [treasurer.dial() for _ in range(limit.count + 1)]
    assert not any(s.end for s in screens[:limit.count])
    assert screens[-1].name == "too_many_hops"


def test_a_malformed_hop_limit_setting_is_refused_by_name():
    with pytest.raises(SettingsError, match="VISION_USSD_HOP_LIMIT must be COUNT/SECONDS"):
        Settings.from_env({"VISION_USSD_HOP_LIMIT": "lots"})

"""PINs on USSD: once per session, counted once, locked after three wrong ones."""

from __future__ import annotations

from vision_ledger import pins

from .conftest import PIN


def test_the_slow_pin_check_runs_once_per_session(treasurer, world, meeting, monkeypatch):
    calls = []
    real = pins._matches
    monkeypatch.setattr(pins, "_matches", lambda pin, stored: calls.append(pin) or real(pin, stored))
    treasurer.walk("1", PIN)
    for _ in range(6):
        treasurer.send("2")
    assert len(calls) == 1
    treasurer.dial("1", PIN)  # a new session proves the PIN again
    assert len(calls) == 2


def test_a_wrong_pin_is_counted_once_even_when_the_hop_is_repeated(treasurer, world, meeting):
    treasurer.walk("2", "4", "1", "0000")
    treasurer.again()
    treasurer.again()
    world.refresh()
    assert world.treasurer.pin_failures == 1
    treasurer.send(PIN)  # a later hop walks past the wrong PIN without counting it
    world.refresh()
    assert world.treasurer.pin_failures == 0


def test_a_wrong_pin_is_committed_while_nothing_else_is_written(treasurer, world, meeting, last_seq):
    before = last_seq()
    treasurer.walk("2", "4", "1", "9999")
    world.refresh()
    assert world.treasurer.pin_failures == 1
    assert last_seq() == before


def test_a_pin_proved_in_one_session_does_not_serve_another(treasurer, world, meeting, last_seq):
    before = last_seq()
    treasurer.walk("1", PIN, "3")
    screen = treasurer.post("1*0000*3", sid="ATUid_" + "0" * 32)
    assert screen.name == "round_pin"
    assert last_seq() == before + 2


def test_replayed_confirmation_hops_post_once(treasurer, world, meeting, last_seq):
    before = last_seq()
    treasurer.walk("2", "5", "2", PIN)
    for _ in range(3):
        treasurer.again()
    assert last_seq() == before + 1


def test_a_locked_pin_refuses_writes_even_inside_a_proved_session(treasurer, world, meeting, last_seq):
    from datetime import timedelta

    from vision_ledger.db import utcnow

    treasurer.walk("1", PIN, "3")
    before = last_seq()
    world.refresh()
    world.treasurer.pin_locked_until = utcnow() + timedelta(minutes=30)
    world.session.flush()
    screen = treasurer.send("3")
    assert screen.end
    assert last_seq() == before
    screen = treasurer.dial("2", "4", "1", PIN)
    assert screen.end
    assert last_seq() == before


def test_the_slow_pin_check_runs_before_the_hop_asks_for_the_write_lock(treasurer, world, meeting,
                                                                        monkeypatch):
    """On SQLite one writer at a time: scrypt (tens of ms) must not run while holding the lock."""
    import inspect

    import ussd.pin_auth

    writable_during_check = []
    real = pins.pin_matches

    def watched(pin, stored):
        writable_during_check.append(inspect.currentframe().f_back.f_locals["ctx"].writable)
        return real(pin, stored)

    monkeypatch.setattr(ussd.pin_auth.pins, "pin_matches", watched)
    treasurer.walk("1", PIN)
    sqlite = world.session.get_bind().dialect.name == "sqlite"
    assert writable_during_check == ([False] if sqlite else [True])

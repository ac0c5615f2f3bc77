"""A hop that cannot be served before its deadline ends with a short "busy, dial again" in the
member's language and writes nothing: past the deadline during the walk (rolled back before
commit), or refused at the write gate. Clocks are injected; nothing here sleeps."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from dataclasses import replace

import pytest
from sqlalchemy import select

from ussd import admission, web
from ussd.admission import Busy, Gate, Timing
from vision_ledger.models import RateLimit
from vision_ledger.settings import Settings, SettingsError, settings_of

from .conftest import LANGS, PIN, set_language, tx


class FrozenClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock()
    monkeypatch.setattr(admission, "clock", frozen)
    return frozen


def hits(world, phone: str) -> int:
    world.session.expire_all()
    return world.session.scalar(select(RateLimit.hits).where(RateLimit.key == f"ussd:hop:{phone}")) or 0


@pytest.mark.parametrize("language", LANGS)
def test_a_hop_past_its_deadline_is_rolled_back_and_answers_busy(
        language, clock, monkeypatch, treasurer, world, meeting, last_seq):
    set_language(world, language, world.treasurer)
    world.session.commit()
    treasurer.walk("2", "5", "2")  # the next input, the PIN, confirms a purchase of 2 shares
    before, counted = last_seq(), hits(world, world.treasurer.phone)
    walk = web.hop

    def slow(ctx):  # the walk does everything (the entry is flushed), then the deadline passes
        reply = walk(ctx)
        clock.now += 60
        return reply

    monkeypatch.setattr(web, "hop", slow)
    screen = treasurer.send(PIN)  # Phone.post asserts the page fits
    assert (screen.end, screen.name) == (True, "busy")
    assert screen.text == tx(language, "Busy now. Please dial again.")
    if language != "en":
        assert screen.text != "Busy now. Please dial again."  # translated, not the msgid
    assert last_seq() == before
    assert hits(world, world.treasurer.phone) == counted  # not even the hop is counted
    monkeypatch.setattr(web, "hop", walk)
    screen = treasurer.again()  # in time again: the same hop acts once
    assert screen.name != "busy" and last_seq() > before


def test_a_hop_refused_at_the_write_gate_answers_busy_and_writes_nothing(
        app, clock, treasurer, world, meeting, last_seq, db):
    treasurer.walk("2", "5", "2")
    before, counted = last_seq(), hits(world, world.treasurer.phone)
    # the clock stands still: waits 1 ms in line
    app.config["SETTINGS"] = replace(settings_of(app.config), ussd_hop_deadline=0.001)
    writers = admission.gate_for(db.engine, writing=True)
    assert writers is not None
    with ExitStack() as others:  # other hops hold every slot (SQLite: the one writer's)
        for _ in range(writers.slots):
            others.enter_context(writers.enter(Timing(clock(), clock() + 60)))
        screen = treasurer.send(PIN)
    assert (screen.end, screen.name) == (True, "busy")
    assert last_seq() == before
    assert hits(world, world.treasurer.phone) == counted


def test_the_gate_serves_in_arrival_order_and_refuses_a_wait_past_the_deadline(clock):
    gate = Gate(1)
    order: list[str] = []
    holder = gate.enter(Timing(clock(), clock() + 60))
    holder.__enter__()
    # Nothing left of its deadline: refused at once, no slot taken.
    with pytest.raises(Busy), gate.enter(Timing(clock(), clock())):
        order.append("late")

    def hop(name: str) -> None:
        with gate.enter(Timing(clock(), clock() + 60)):
            order.append(name)

    first = threading.Thread(target=hop, args=("first",))
    first.start()
    while len(gate._line) < 1:  # wait until it is in line
        threading.Event().wait(0)
    second = threading.Thread(target=hop, args=("second",))
    second.start()
    while len(gate._line) < 2:
        threading.Event().wait(0)
    holder.__exit__(None, None, None)
    first.join(5)
    second.join(5)
    assert order == ["first", "second"]
    assert gate._held == 0 and not gate._line


def test_a_timing_splits_a_hop_into_python_database_lock_and_queue(clock):
    timing = Timing(clock(), clock() + 3.5)
    timing.db, timing.lock, timing.queue = 0.004, 0.010, 0.002
    assert timing.header(0.020) == "py;dur=4.0, db;dur=4.0, lock;dur=10.0, queue;dur=2.0"


def test_on_sqlite_walks_wait_their_turn_apart_from_writers(clock, db):
    """The walks' own gate (a few at a time, counted as queue), the writers' (one, counted as lock)."""
    walks, writers = admission.gate_for(db.engine, writing=False), admission.gate_for(db.engine, writing=True)
    if db.dialect != "sqlite":
        assert walks is writers and walks.slots == admission.GATE_SLOTS_PG
        return
    assert (walks.slots, writers.slots) == (admission.WALK_SLOTS_SQLITE, 1) and walks is not writers
    timing = Timing(clock(), clock() + 60)
    with ExitStack() as held:
        for _ in range(walks.slots):
            held.enter_context(walks.enter(Timing(clock(), clock() + 60)))
        with writers.enter(timing):  # a full walk gate does not stop a writer
            pass

        def release_later() -> None:
            clock.now += 0.5
            held.close()

        threading.Timer(0.05, release_later).start()
        with walks.enter(timing):
            pass
    assert timing.queue >= 0.5 and timing.lock == 0


@pytest.mark.parametrize("value", ["0", "-1", "soon", "31"])
def test_a_malformed_deadline_setting_is_refused_by_name(value):
    with pytest.raises(SettingsError, match="VISION_USSD_HOP_DEADLINE"):
        Settings.from_env({"VISION_USSD_HOP_DEADLINE": value})



def test_a_walk_steps_aside_while_its_process_holds_the_write_lock(clock):
    writing = admission.Writing()
    timing = Timing(clock(), clock() + 60)
    writing.step_aside(timing)  # no writer: goes on at once
    done = threading.Event()
    with writing.held():
        walker = threading.Thread(target=lambda: (writing.step_aside(timing), done.set()))
        walker.start()
        assert not done.wait(0.1)  # waits while the lock is held
        clock.now += 0.25
    walker.join(5)
    assert done.is_set() and timing.queue == 0.25

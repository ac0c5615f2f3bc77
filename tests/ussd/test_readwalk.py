"""A hop walks its inputs without the write lock and takes it only for its action; what changed
between the walk and the lock is found, and the hop then answers as the full walk under the lock
does (ussd/readwalk.py). Real commits on a database of the suite's kind, no shared connection."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import fresh_database_url, is_postgres
from tests.factories import Factory
from ussd import router, web
from ussd.web import blueprint
from vision_ledger.db import Database
from vision_ledger.models import Entry, Group
from vision_ledger.ratelimits import Limit
from vision_ledger.settings import Settings

from .conftest import PIN, SECRET, SERVICE_CODE, group_with_pins

# From the treasurer's home: the meeting's shares, member 5, 2 shares, then the PIN confirms.
BUY = ["2", "5", "2", PIN]


class Books:
    """A group with an open meeting on a database of its own, and the USSD door in front of it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = Database(url)
        with self.db.unit_of_work() as s:
            factory = Factory(s)
            group, (treasurer, *_) = group_with_pins(factory, PIN)
            factory.meeting(group)
            self.group_id, self.phone = group.id, treasurer.phone
        app = Flask(__name__)
        app.config.update(DATABASE=self.db, TESTING=True,
                          SETTINGS=Settings(ussd_secret=SECRET, ussd_hop_limit=Limit(100000, 60),
                                            ussd_hop_deadline=30.0))
        app.register_blueprint(blueprint)
        self.app = app

    def hop(self, sid: str, inputs: list[str]) -> str:
        body = urlencode({"sessionId": sid, "serviceCode": SERVICE_CODE, "phoneNumber": self.phone,
                          "networkCode": "63902", "text": "*".join(inputs)})
        response = self.app.test_client().post(
            f"/ussd/{SECRET}", data=body, content_type="application/x-www-form-urlencoded; charset=UTF-8")
        assert response.status_code == 200
        return response.get_data(as_text=True)

    def walk(self, sid: str, inputs: list[str]) -> str:
        """Every hop of a session up to `inputs` but the last; returns the last page."""
        page = ""
        for n in range(len(inputs)):
            page = self.hop(sid, inputs[:n])
        return page

    def at_the_pin(self) -> tuple[str, int]:
        """A new session walked up to the PIN that buys (BUY), and the group's entries then."""
        sid = "ATUid_" + uuid.uuid4().hex
        self.walk(sid, BUY)
        return sid, self.entries()

    def entries(self) -> int:
        with self.db.unit_of_work(write=False) as s:
            return len(s.scalars(select(Entry.id).where(Entry.group_id == self.group_id)).all())

    def writer_waits(self) -> bool:
        """Whether a writer of this group on another connection would have to wait now."""
        raw = self.db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if is_postgres():
                try:
                    cursor.execute("SELECT id FROM groups WHERE id = %s FOR UPDATE NOWAIT", (self.group_id,))
                    return False
                except Exception:
                    return True
                finally:
                    raw.rollback()
            cursor.execute("PRAGMA busy_timeout=0")
            try:
                cursor.execute("BEGIN IMMEDIATE")
                cursor.execute("ROLLBACK")
                return False
            except Exception as error:
                assert "locked" in str(error)
                return True
            finally:
                cursor.execute("PRAGMA busy_timeout=30000")
        finally:
            raw.close()


@pytest.fixture
def books(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Books]:
    found = Books(fresh_database_url(tmp_path_factory, "readwalk"))
    yield found
    found.db.engine.dispose()


def test_no_writer_waits_while_a_writing_hop_walks_its_inputs(books, monkeypatch):
    sid, before = books.at_the_pin()
    waits: list[bool] = []
    first_page = router.root

    def probing(ctx):  # the walk's first page: every input of the text is still to be walked
        node = first_page(ctx)
        waits.append(books.writer_waits())
        return node

    monkeypatch.setattr(router, "root", probing)
    page = books.hop(sid, BUY)  # the PIN confirms: this hop writes
    assert "Saved" in page, page
    assert books.entries() == before + 1
    assert waits and not any(waits), waits  # before: the walk ran (again) holding the lock


sqlite_only = pytest.mark.skipif(
    is_postgres(), reason="PostgreSQL hops write from the start: their walk takes no lock to shorten")


def _between_walk_and_lock(monkeypatch, change) -> list[int]:
    """Run `change` once, after the walk's reads were digested and before the write lock."""
    digests = web._digest
    calls: list[int] = []

    def digest(session, reads, timing):
        found = digests(session, reads, timing)
        calls.append(len(reads))
        if len(calls) == 1:
            change()
        return found

    monkeypatch.setattr(web, "_digest", digest)
    return calls


@sqlite_only
def test_a_meeting_closed_while_the_hop_walked_answers_as_the_walk_under_the_lock(books, monkeypatch):
    sid, before = books.at_the_pin()

    def close() -> None:
        with books.db.unit_of_work() as s:
            Factory(s).close(s.get_one(Group, books.group_id))

    calls = _between_walk_and_lock(monkeypatch, close)
    page = books.hop(sid, BUY)
    assert len(calls) == 2  # checked in the read snapshot, then under the lock: they differed
    monkeypatch.undo()
    assert books.entries() == before  # no shares were bought into a closed meeting
    assert page == books.hop(sid, BUY), "not the answer of the full walk of the same text"
    assert books.entries() == before


@sqlite_only
def test_a_duplicate_hop_acting_while_the_hop_walked_is_replayed_once(books, monkeypatch):
    sid, before = books.at_the_pin()
    duplicate: list[str] = []

    def twin() -> None:  # the gateway's duplicate of the same hop, served by another thread
        thread = threading.Thread(target=lambda: duplicate.append(books.hop(sid, BUY)))
        thread.start()
        thread.join()

    _between_walk_and_lock(monkeypatch, twin)
    page = books.hop(sid, BUY)
    assert duplicate and "Saved" in duplicate[0], duplicate
    assert page == duplicate[0]
    assert books.entries() == before + 1


@sqlite_only
def test_a_hop_whose_reads_did_not_change_acts_without_walking_again(books, monkeypatch):
    sid, before = books.at_the_pin()
    walks: list[int] = []
    first_page = router.root
    monkeypatch.setattr(router, "root", lambda ctx: walks.append(1) or first_page(ctx))
    calls = _between_walk_and_lock(monkeypatch, lambda: None)
    assert "Saved" in books.hop(sid, BUY)
    assert books.entries() == before + 1
    assert len(walks) == 1 and len(calls) == 2 and calls[0] > 5


@sqlite_only
def test_only_a_read_only_hops_own_count_commits_without_waiting_for_the_disk(books, monkeypatch):
    """The counter of a hop that wrote nothing else is committed with synchronous=NORMAL (one
    fewer fsync under the write lock); every other transaction keeps FULL (2)."""
    from vision_ledger import ratelimits

    seen: list[tuple[str, int]] = []
    hit = ratelimits.hit

    def counting(session, key, limit, now=None):
        sync = session.connection().exec_driver_sql("PRAGMA synchronous").scalar()
        seen.append(("count", sync))
        return hit(session, key, limit, now)

    monkeypatch.setattr(ratelimits, "hit", counting)
    sid = "ATUid_" + uuid.uuid4().hex
    for n in range(len(BUY) + 1):  # menus (read-only), then the PIN that buys (writes)
        books.hop(sid, BUY[:n])
        with books.db.unit_of_work() as s:  # any other writer on the pool's connections
            seen.append(("other", s.connection().exec_driver_sql("PRAGMA synchronous").scalar()))
    counts = [sync for what, sync in seen if what == "count"]
    assert counts == [1] * len(BUY) + [2], seen  # the buying hop counts in its own (synced) commit
    assert {sync for what, sync in seen if what == "other"} == {2}, seen
    assert books.entries() == 1


@sqlite_only
def test_a_writing_hop_queues_with_the_other_processes_writers_and_gives_up_in_time(books, monkeypatch):
    """The writers' file lock beside the database (the API's writers hold it too) is asked for
    until the hop's time to wait runs out; then busy, nothing written, not even the hop counted."""
    import fcntl
    from dataclasses import replace

    from ussd import admission
    from vision_ledger.models import RateLimit
    from vision_ledger.settings import settings_of

    def hits() -> int:
        with books.db.unit_of_work(write=False) as s:
            return s.scalar(select(RateLimit.hits).where(RateLimit.key == f"ussd:hop:{books.phone}")) or 0

    sid, before = books.at_the_pin()
    counted = hits()
    ticks = iter(range(10**6))
    monkeypatch.setattr(admission, "clock", lambda: next(ticks) * 0.01)  # time moves as it is read
    monkeypatch.setattr(admission, "QUEUE_POLL_SECONDS", 0)
    books.app.config["SETTINGS"] = replace(settings_of(books.app.config), ussd_hop_deadline=2.0)
    path = books.db.lock_path(".writers")
    assert path is not None
    with open(path, "a+b") as other:  # another process's writer holds the queue
        fcntl.flock(other.fileno(), fcntl.LOCK_EX)
        page = books.hop(sid, BUY)
        fcntl.flock(other.fileno(), fcntl.LOCK_UN)
    assert page.startswith("END ") and "Busy" in page, page
    assert (books.entries(), hits()) == (before, counted)
    assert "Saved" in books.hop(sid, BUY)  # the queue is free: the same hop acts
    assert books.entries() == before + 1

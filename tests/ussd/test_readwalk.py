"""A hop walks its inputs without the write lock and takes it only for its action; what changed
between the walk and the lock is found, and the hop then answers as the full walk under the lock
does (ussd/readwalk.py). Real commits on a database of the suite's kind, no shared connection."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import fresh_database_url, is_postgres
from tests.factories import Factory
from ussd import router, web
from ussd.web import blueprint
from vision_ledger import pins
from vision_ledger.db import Database
from vision_ledger.models import Entry, Group
from vision_ledger.ratelimits import Limit
from vision_ledger.settings import Settings

from .conftest import PIN, SECRET, SERVICE_CODE

# From the treasurer's home: the meeting's shares, member 5, 2 shares, then the PIN confirms.
BUY = ["2", "5", "2", PIN]


class Books:
    """A group with an open meeting on a database of its own, and the USSD door in front of it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = Database(url)
        with self.db.unit_of_work() as s:
            factory = Factory(s)
            group = factory.ready(members=15, start=date.today() - timedelta(weeks=30))
            treasurer = factory.members(group)[0]
            pins.set_initial_pin(treasurer, PIN)
            treasurer.pin_must_change = False
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
    sid = "ATUid_" + uuid.uuid4().hex
    books.walk(sid, BUY)
    before = books.entries()
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
    sid = "ATUid_" + uuid.uuid4().hex
    books.walk(sid, BUY)
    before = books.entries()

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
    sid = "ATUid_" + uuid.uuid4().hex
    books.walk(sid, BUY)
    before = books.entries()
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
    sid = "ATUid_" + uuid.uuid4().hex
    books.walk(sid, BUY)
    before = books.entries()
    walks: list[int] = []
    first_page = router.root
    monkeypatch.setattr(router, "root", lambda ctx: walks.append(1) or first_page(ctx))
    calls = _between_walk_and_lock(monkeypatch, lambda: None)
    assert "Saved" in books.hop(sid, BUY)
    assert books.entries() == before + 1
    assert len(walks) == 1 and len(calls) == 2 and calls[0] > 5

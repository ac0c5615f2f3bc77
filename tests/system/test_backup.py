"""`vision-ledger backup` while writers run, and `restore` into an empty database: every entry
acknowledged before the backup began is restored, the chains verify, and a backup whose books do
not verify is refused."""

from __future__ import annotations

import threading
import uuid
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select, text, update

from api.cli import main
from vision_ledger import grants, meetings
from vision_ledger.db import Database, make_engine
from vision_ledger.models import Account, Entry, Group
from vision_ledger.money import Money

from ..conftest import TEST_URL, fresh_database_url, is_postgres
from ..factories import Factory


def empty_database_url(tmp_path: Path) -> str:
    """A database with nothing in it (not migrated): what a restore goes into."""
    if not is_postgres():
        return f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    admin = make_engine(TEST_URL, isolation_level="AUTOCOMMIT")
    name = f"vt_restore_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{TEST_URL.rsplit('/', 1)[0]}/{name}"


def a_group_with_an_open_meeting(url: str) -> int:
    db = Database(url)
    start = date.today() - timedelta(weeks=4)
    with db.unit_of_work() as s:
        f = Factory(s)
        group = f.ready(members=10, start=start)
        meetings.open_meeting(s, f.treasurer(group), group, meeting_date=start)
        gid = group.id
    db.engine.dispose()
    return gid


def test_a_backup_taken_while_writers_run_restores_every_acknowledged_entry(tmp_path_factory, tmp_path):
    url = fresh_database_url(tmp_path_factory, "backup")
    gid = a_group_with_an_open_meeting(url)
    acked: list[tuple[int, str]] = []  # (seq, hash) of every committed grant
    lock, stop, failures = threading.Lock(), threading.Event(), []

    def writer() -> None:
        db = Database(url)
        try:
            while not stop.is_set():
                with db.unit_of_work() as s:
                    group = s.get(Group, gid)
                    admin = Factory(s).admin(group.programme_id)
                    entry = grants.record_grant(s, admin, group, Money(10_000, "KES"))
                    seq, digest = entry.seq, entry.hash
                with lock:  # acknowledged: the unit of work committed
                    acked.append((seq, digest))
        except Exception as exc:  # the test fails on it below
            failures.append(exc)
        finally:
            db.engine.dispose()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(acked) < 25 and thread.is_alive():
            stop.wait(0.02)
        with lock:
            before = list(acked)
        assert main(["--database", url, "backup", str(tmp_path / "books.backup")]) == 0
        with lock:
            during = len(acked) - len(before)
    finally:
        stop.set()
        thread.join()
    assert not failures, failures
    assert len(before) >= 25

    target = empty_database_url(tmp_path)
    assert main(["--database", target, "restore", str(tmp_path / "books.backup")]) == 0
    restored_db = Database(target)
    with restored_db.unit_of_work(write=False) as s:
        restored = dict(s.execute(select(Entry.seq, Entry.hash).where(Entry.group_id == gid)).all())
    restored_db.engine.dispose()
    missing = [seq for seq, digest in before if restored.get(seq) != digest]
    assert not missing, f"acknowledged before the backup but not restored: {missing}"
    assert len(restored) >= len(before) and during >= 0


def test_a_restore_whose_books_do_not_verify_is_refused(tmp_path_factory, tmp_path, capsys):
    url = fresh_database_url(tmp_path_factory, "tampered")
    gid = a_group_with_an_open_meeting(url)
    db = Database(url)
    with db.unit_of_work() as s:
        group = s.get(Group, gid)
        grants.record_grant(s, Factory(s).admin(group.programme_id), group, Money(50_000, "KES"))
    with db.unit_of_work() as s:  # someone edits a stored balance behind the ledger's back
        s.execute(update(Account).where(Account.group_id == gid, Account.key == "loan_fund_cash")
                  .values(balance=Account.balance + 1))
    db.engine.dispose()
    assert main(["--database", url, "backup", str(tmp_path / "bad.backup")]) == 0
    capsys.readouterr()
    assert main(["--database", empty_database_url(tmp_path), "restore", str(tmp_path / "bad.backup")]) == 1
    out = capsys.readouterr()
    assert "do not verify" in out.err and f"group {gid}" in out.out and "FAILED" in out.out


def test_a_restore_into_a_database_that_has_tables_is_refused(tmp_path_factory, tmp_path, capsys):
    url = fresh_database_url(tmp_path_factory, "full")
    assert main(["--database", url, "backup", str(tmp_path / "one.backup")]) == 0
    assert main(["--database", url, "restore", str(tmp_path / "one.backup")]) == 2
    assert "empty database" in capsys.readouterr().err


def test_a_backup_never_overwrites_a_file(tmp_path_factory, tmp_path, capsys):
    url = fresh_database_url(tmp_path_factory, "keep")
    (tmp_path / "old.backup").write_bytes(b"yesterday's")
    assert main(["--database", url, "backup", str(tmp_path / "old.backup")]) == 2
    assert (tmp_path / "old.backup").read_bytes() == b"yesterday's"
    assert "never overwrites" in capsys.readouterr().err


def test_a_file_that_is_not_a_backup_of_the_targets_kind_is_refused(tmp_path, capsys):
    other = b"SQLite format 3\x00" if is_postgres() else b"PGDMP"
    for content in (b"not a backup at all", other):
        (tmp_path / "x.backup").write_bytes(content)
        target = empty_database_url(tmp_path)
        assert main(["--database", target, "restore", str(tmp_path / "x.backup")]) == 2
        assert "is not a" in capsys.readouterr().err

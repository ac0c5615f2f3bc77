"""Each entry keeps the canonical bytes its hash covers (`Entry.canonical`). Verification proves the
bytes against the hash and against the columns and postings, on SQLite in Python and on PostgreSQL
in one server-side pass; whatever was changed behind the core's back is named the same way on both.
"""

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from alembic import command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import bindparam, inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.types import JSON

from migrations import alembic_config, upgrade
from tests.api.conftest import build_side
from tests.factories import Factory
from vision_ledger import audit, journals, ledger, loans, reversals, savings
from vision_ledger.actors import Actor
from vision_ledger.db import Database
from vision_ledger.ledger.journal import GENESIS, chain_hash, entry_body
from vision_ledger.ledger.verify import journal_sql
from vision_ledger.models import Entry, Posting

from ..conftest import fresh_database_url, is_postgres
from .helpers import ago, save
from .test_ledger_and_permissions import _without_guards


@pytest.fixture
def group(session, factory):
    g = factory.ready()
    factory.meeting(g, on=ago(3))
    save(session, factory, g, 3)  # 15 entries
    session.flush()
    return g


def _entries(session, group):
    return session.scalars(select(Entry).where(Entry.group_id == group.id).order_by(Entry.seq)).all()


def _problems(session, group, seq):
    """What ledger.verify and verify_many each name at entry `seq`, and whether they agree."""
    one = ledger.verify(session, group)
    many = audit.verify_many(session, Actor.system(), group_ids=[group.id])
    assert not one.ok and not many.ok and many.failures[0].problems == one.problems
    return [p["problem"] for p in one.problems if p.get("seq") == seq], one


def test_post_stores_the_bytes_its_hash_covers(session, group):
    keys = dict(session.execute(text("SELECT id, key FROM accounts WHERE group_id = :g"),
                                {"g": group.id}).all())
    for entry in _entries(session, group):
        lines = [(keys[p.account_id], p.amount, p.units) for p in entry.postings]
        assert entry.canonical == entry_body(entry, lines).encode()
        assert hashlib.sha256(entry.prev_hash.encode() + entry.canonical).hexdigest() == entry.hash
    assert ledger.verify(session, group).ok


def test_bytes_changed_and_rechained_are_caught_by_the_columns(session, connection, group):
    """Whoever rewrites an entry's bytes and every hash after it (and the head) leaves a chain
    that holds: only the comparison of the bytes with the columns finds the entry."""
    _without_guards(connection)
    journal = _entries(session, group)
    target = journal[6]
    forged = target.canonical.replace(b'"memo":null', b'"memo":"paid twice"')
    assert forged != target.canonical
    prev = target.prev_hash
    for entry in journal[6:]:
        body = forged if entry.id == target.id else entry.canonical
        new_hash = chain_hash(prev, body)
        connection.execute(text("UPDATE entries SET canonical = :b, prev_hash = :p, hash = :h WHERE id = :e"),
                           {"b": body, "p": prev, "h": new_hash, "e": entry.id})
        prev = new_hash
    connection.execute(text("UPDATE groups SET last_hash = :h WHERE id = :g"), {"h": prev, "g": group.id})
    session.expire_all()
    names, report = _problems(session, group, 7)
    assert names == ["hash_mismatch", "canonical_mismatch"]
    assert report.problem["seq"] == 7 and len(report.problems) == 2  # nothing else is wrong


@pytest.mark.parametrize("change", ["UPDATE entries SET memo = 'altered' WHERE id = :e",
                                    "UPDATE postings SET amount = amount * 2 WHERE entry_id = :e"])
def test_columns_or_postings_changed_with_the_bytes_left_are_named(session, connection, group, change):
    _without_guards(connection)
    target = _entries(session, group)[4]
    connection.execute(text(change), {"e": target.id})
    session.expire_all()
    names, report = _problems(session, group, 5)
    assert names == ["hash_mismatch", "canonical_mismatch"] and report.problem["seq"] == 5


def test_bytes_changed_alone_are_named(session, connection, group):
    _without_guards(connection)
    target = _entries(session, group)[2]
    connection.execute(text("UPDATE entries SET canonical = :b WHERE id = :e"),
                       {"b": target.canonical.replace(b'"memo":null', b'"memo":"x"'), "e": target.id})
    session.expire_all()
    names, report = _problems(session, group, 3)
    assert names == ["canonical_mismatch"] and len(report.problems) == 1


@pytest.mark.parametrize("body", [b"\xff\xfe not UTF-8", b"{not json", None])
def test_bytes_that_are_not_json_or_missing_are_named(session, connection, group, body):
    """On PostgreSQL such bytes stop the server's pass (they cannot be read as JSON); Python then
    names them, and the other groups of the batch are still checked."""
    _without_guards(connection)
    target = _entries(session, group)[10]
    connection.execute(text("UPDATE entries SET canonical = :b WHERE id = :e"), {"b": body, "e": target.id})
    session.expire_all()
    names, _ = _problems(session, group, 11)
    assert names == ["canonical_mismatch"]


# --- the server's pass reads the bytes as Python wrote them ---------------------------------------

# Text PostgreSQL holds: UTF-8 (no lone surrogate, which post could not encode either), no NUL
pg_chars = st.characters(codec="utf-8", exclude_characters="\x00")
no_nul = st.text(pg_chars, max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | no_nul,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(no_nul, inner, max_size=3), max_leaves=5)
entries = st.fixed_dictionaries({
    "kind": st.text(pg_chars, max_size=30),
    "actor": no_nul, "channel": st.text(pg_chars, max_size=10),
    "key": no_nul, "memo": st.none() | no_nul, "loan_id": st.none() | st.integers(1, 2**62),
    "details": st.none() | st.dictionaries(no_nul, json_values, max_size=4),
    "effective_date": st.dates(date(1900, 1, 1), date(2200, 1, 1)),
    "recorded_at": st.datetimes(datetime(1901, 1, 1), datetime(2199, 1, 1),
                                timezones=st.sampled_from([UTC, timezone(timedelta(hours=3))])),
    "accounts": st.lists(st.text(pg_chars, min_size=1, max_size=20),
                         min_size=2, max_size=4, unique=True),
    "amount": st.integers(1, 10**12),
})


@pytest.mark.skipif(not is_postgres(), reason="the server-side pass is PostgreSQL's")
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(entry=entries)
def test_the_server_finds_an_honest_entry_clean_whatever_it_says(session, connection, group, entry):
    """The server's pass must find nothing in an honest journal (else every group falls back to
    Python): any text, details, date, moment and account keys, written as `post` writes them."""
    nested = connection.begin_nested()
    try:
        head = connection.execute(text("SELECT last_seq, last_hash FROM groups WHERE id = :g"),
                                  {"g": group.id}).one()
        accounts = [connection.execute(text(
            "INSERT INTO accounts (group_id, key, code, type, member_id, balance, units) "
            "VALUES (:g, :k, 'fine_income', 'income', NULL, 0, 0) RETURNING id"),
            {"g": group.id, "k": f"t:{key}"}).scalar() for key in entry["accounts"]]
        amounts = [entry["amount"]] * (len(accounts) - 1) + [-entry["amount"] * (len(accounts) - 1)]
        lines = [(f"t:{k}", a, 0) for k, a in zip(entry["accounts"], amounts, strict=True)]
        values = dict(group_id=group.id, seq=head.last_seq + 1, kind=entry["kind"], member_id=None,
                      meeting_id=None, cycle_id=None, loan_id=entry["loan_id"],
                      effective_date=entry["effective_date"], recorded_at=entry["recorded_at"],
                      actor=entry["actor"], channel=entry["channel"], idempotency_key=f"h:{entry['key']}",
                      fingerprint="f" * 64, reverses_id=None, memo=entry["memo"], details=entry["details"],
                      prev_hash=head.last_hash)
        body = entry_body(type("Row", (), values), lines).encode()
        entry_id = connection.execute(text(
            "INSERT INTO entries (group_id, seq, kind, member_id, meeting_id, cycle_id, loan_id,"
            " effective_date, recorded_at, actor, channel, idempotency_key, fingerprint, reverses_id,"
            " memo, details, prev_hash, hash, canonical) VALUES (:group_id, :seq, :kind, :member_id,"
            " :meeting_id, :cycle_id, :loan_id, :effective_date, :recorded_at, :actor, :channel,"
            " :idempotency_key, :fingerprint, :reverses_id, :memo, :details, :prev_hash, :hash,"
            " :canonical) RETURNING id").bindparams(bindparam("details", type_=JSON)),
            {**values, "hash": chain_hash(head.last_hash, body), "canonical": body}).scalar()
        for account_id, amount in zip(accounts, amounts, strict=True):
            connection.execute(text("INSERT INTO postings (group_id, entry_id, account_id, amount, units)"
                                    " VALUES (:g, :e, :a, :m, 0)"),
                               {"g": group.id, "e": entry_id, "a": account_id, "m": amount})
        connection.execute(text("UPDATE groups SET last_seq = :s, last_hash = :h WHERE id = :g"),
                           {"s": head.last_seq + 1, "h": chain_hash(head.last_hash, body), "g": group.id})
        [row] = connection.execute(journal_sql(), {"groups": [group.id], "genesis": GENESIS}).all()
        assert (row.entries, row.bad, row.head_ok) == (head.last_seq + 1, 0, True)
    finally:
        nested.rollback()


@pytest.mark.skipif(not is_postgres(), reason="the server-side pass is PostgreSQL's")
def test_the_server_finds_what_python_would(session, connection, group):
    """Each kind of change makes the server's pass count the group as failing."""
    _without_guards(connection)
    journal = _entries(session, group)

    def found():
        [row] = connection.execute(journal_sql(), {"groups": [group.id], "genesis": GENESIS}).all()
        return row

    def bad() -> int:
        return found().bad

    def head_ok() -> bool:
        return found().head_ok

    assert bad() == 0
    for change, params in [
        ("UPDATE entries SET memo = 'x' WHERE id = :e", {"e": journal[1].id}),
        ("UPDATE postings SET amount = amount + 1 WHERE entry_id = :e", {"e": journal[2].id}),
        ("UPDATE entries SET hash = :h WHERE id = :e", {"e": journal[3].id, "h": "a" * 64}),
        ("UPDATE entries SET canonical = :b WHERE id = :e",
         {"e": journal[5].id, "b": journal[5].canonical.replace(b'"memo":null', b'"memo":"y"')}),
        ("DELETE FROM postings WHERE id = (SELECT max(id) FROM postings WHERE entry_id = :e)",
         {"e": journal[6].id}),
        ("DELETE FROM outbox WHERE entry_id = :e; DELETE FROM postings WHERE entry_id = :e;"
         " DELETE FROM entries WHERE id = :e", {"e": journal[9].id}),
        ("UPDATE groups SET last_hash = :h WHERE id = :g", {"g": group.id, "h": "b" * 64}),
    ]:
        before = bad(), head_ok()
        for statement in change.split(";"):
            connection.execute(text(statement), params)
        assert bad() > before[0] or (before[1] and not head_ok()), change
    assert session.scalar(select(Posting.id).where(Posting.entry_id == journal[0].id)) is not None


# --- revision 0015_ledger -------------------------------------------------------------------------


def test_the_migration_backfills_the_bytes_post_writes_and_keeps_the_guard(tmp_path_factory):
    url = fresh_database_url(tmp_path_factory, "backfill")
    db = Database(url)
    try:
        with db.session() as s:
            factory = Factory(s)
            g = factory.ready(members=10)
            factory.meeting(g, on=ago(3))
            save(s, factory, g, 2)
            s.commit()
            gid = g.id
        with db.engine.connect() as c:
            written = dict(c.execute(text("SELECT id, canonical FROM entries")).all())
        assert len(written) == 10 and all(written.values())
        command.downgrade(alembic_config(url), "0014_period_totals")
        with db.engine.connect() as c:
            assert "canonical" not in {col["name"] for col in inspect(c).get_columns("entries")}
        upgrade(url)
        with db.engine.connect() as c:
            assert dict(c.execute(text("SELECT id, canonical FROM entries")).all()) == written
        with db.session() as s:
            assert audit.verify_many(s, Actor.system(), group_ids=[gid]).ok
            with pytest.raises(DBAPIError, match="refused"):
                s.execute(text("UPDATE entries SET canonical = NULL"))
    finally:
        db.engine.dispose()


# --- verify_many on PostgreSQL: the server's pass, Python only for what it finds -------------------


def _world(session, factory):
    """Share purchases, social fund, a loan and its repayment, a reversal with its reason."""
    side = build_side(session, factory)
    treasurer = factory.treasurer(side.group)
    loans.repay_loan(session, treasurer, side.group, side.members[2], factory.money(side.group, "300"))
    posted = savings.buy_shares(session, treasurer, side.group, side.members[3], 2)
    reversals.reverse_entry(session, treasurer, side.group, session.get(Entry, posted.id),
                            "typed 2 for 1, \u00e9crit \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \"quoted\"")
    session.flush()
    return side.group


@pytest.mark.skipif(not is_postgres(), reason="the server-side pass is PostgreSQL's")
def test_an_honest_journal_is_never_read_into_python(session, factory, monkeypatch):
    group = _world(session, factory)

    def refuse(*args, **kwargs):
        raise AssertionError("the server's pass found a problem in an honest journal")

    empty = factory.ready(programme=group.programme)  # no entry yet: its head is the genesis
    session.flush()
    monkeypatch.setattr(journals, "stream_journal", refuse)
    report = audit.verify_many(session, Actor.system(), group_ids=[group.id, empty.id])
    assert report.ok and report.entries_checked == group.last_seq > 30


@pytest.mark.skipif(not is_postgres(), reason="threads share the work only on PostgreSQL")
def test_verify_many_in_threads_names_the_same_problems(tmp_path_factory, monkeypatch):
    """Each thread verifies its batches on a connection of its own; the reports come back in group
    order, the tampered group's the same as one connection gives."""
    monkeypatch.setattr(journals, "GROUPS_PER_BATCH", 1)
    db = Database(fresh_database_url(tmp_path_factory, "threads"))
    try:
        with db.session() as s:
            factory = Factory(s)
            groups = []
            for _ in range(3):
                g = factory.ready()
                factory.meeting(g, on=ago(3))
                save(s, factory, g, 1)
                groups.append(g.id)
            s.commit()
            s.execute(text("SET session_replication_role = replica"))
            s.execute(text("UPDATE entries SET memo = 'altered' WHERE group_id = :g AND seq = 4"),
                      {"g": groups[1]})
            s.commit()
        with db.session() as s:
            one = audit.verify_many(s, Actor.system(), group_ids=groups, workers=1)
            two = audit.verify_many(s, Actor.system(), group_ids=groups, workers=2)
        assert [f.group_id for f in two.failures] == [groups[1]] and two.entries_checked == 45
        assert [f.problems for f in two.failures] == [f.problems for f in one.failures]
        assert [p["problem"] for p in two.failures[0].problems] == ["hash_mismatch", "canonical_mismatch"]
    finally:
        db.engine.dispose()

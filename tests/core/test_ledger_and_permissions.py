"""The ledger's guarantees (balanced, one currency, gapless, chained, append-only, verifiable),
who may do what, and the outbox written in the same transaction as the change it reports."""

import itertools
import json
import logging
import time

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError

from vision_ledger import faults, grants, groups, ledger, loans, reversals, savings, shareout, statements
from vision_ledger.actors import Actor
from vision_ledger.db import make_engine
from vision_ledger.errors import DomainError, LedgerFault, NotFound, PermissionDenied
from vision_ledger.ledger import credit, debit
from vision_ledger.models import Entry, Posting
from vision_ledger.money import Money

from ..conftest import TEST_URL, is_postgres
from .helpers import ago, cash, outbox, refused, save


@pytest.fixture
def group(session, factory):
    g = factory.ready()
    factory.meeting(g, on=ago(3))
    save(session, factory, g, 3)  # 15 entries, KES 4,500 in the bag
    return g


def raw_post(session, group, lines, key="raw"):
    ledger.lock_group(session, group.id)
    return ledger.post(session, group, Actor.system(), kind="test", lines=lines, request={"k": key},
                       effective_date=ago(0), idempotency_key=key)


# --- post -------------------------------------------------------------------------------------


def test_unbalanced_entry_is_a_fault_not_a_refusal(session, group):
    with refused("ledger.unbalanced", LedgerFault):
        raw_post(session, group, [debit("loan_fund_cash", Money(100, "KES")),
                                  credit("fine_income", Money(99, "KES"))])
    with refused("ledger.too_few_postings", LedgerFault):
        raw_post(session, group, [debit("loan_fund_cash", Money(0, "KES"))])
    assert not issubclass(LedgerFault, DomainError)


def test_entry_in_another_currency_is_a_fault_not_a_refusal(session, group):
    with refused("ledger.currency_mismatch", LedgerFault):
        raw_post(session, group, [debit("loan_fund_cash", Money(100, "USD")),
                                  credit("fine_income", Money(100, "USD"))])


def test_a_fault_is_counted_and_logged_with_the_entrys_facts(session, group, caplog):
    before = faults.counts().get("ledger.unbalanced", 0)
    with caplog.at_level(logging.ERROR, logger="vision_ledger.faults"), \
            pytest.raises(LedgerFault) as info:
        raw_post(session, group, [debit("loan_fund_cash", Money(100, "KES")),
                                  credit("fine_income", Money(99, "KES"))], key="broken")
    assert faults.counts()["ledger.unbalanced"] == before + 1
    assert info.value.facts["group_id"] == group.id and info.value.facts["kind"] == "test"
    assert info.value.facts["lines"] == [["loan_fund_cash", 100, "KES", 0], ["fine_income", -99, "KES", 0]]
    [record] = [r for r in caplog.records if r.name == "vision_ledger.faults"]
    assert "ledger.unbalanced" in record.getMessage() and "faults_total=" in record.getMessage()
    assert "fine_income" in record.getMessage()


def test_cash_never_goes_negative(session, group):
    with refused("ledger.cash_short"):
        raw_post(session, group, [credit("loan_fund_cash", Money(450001, "KES")),
                                  debit("loan_write_offs", Money(450001, "KES"))])
    assert cash(session, group) == 450000


def test_post_needs_the_group_locked(session, factory):
    g = factory.ready()
    session.commit()
    with pytest.raises(RuntimeError):
        ledger.post(session, g, Actor.system(), kind="test", request={},
                    lines=[debit("loan_fund_cash", Money(1, "KES")), credit("fine_income", Money(1, "KES"))],
                    effective_date=ago(0))


def test_sequence_is_gapless_and_each_entry_chains_the_previous(session, group):
    rows = session.scalars(select(Entry).where(Entry.group_id == group.id).order_by(Entry.seq)).all()
    assert [e.seq for e in rows] == list(range(1, 16))
    assert rows[0].prev_hash == "0" * 64
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    assert group.last_seq == 15 and group.last_hash == rows[-1].hash


def test_stored_balances_equal_the_postings_and_the_trial_balance_is_zero(session, group, factory):
    loans.disburse_loan(session, factory.treasurer(group), group, factory.members(group)[1],
                        Money.parse("650", "KES"))
    tb = ledger.trial_balance(session, group)
    assert tb["balanced"]
    report = ledger.verify(session, group)
    assert report.ok and report.entries_checked == 16


def test_an_idempotent_replay_returns_the_original_entry_and_writes_nothing(session, group):
    lines = [debit("loan_fund_cash", Money(700, "KES")), credit("fine_income", Money(700, "KES"))]
    first = raw_post(session, group, lines, key="k1")
    session.commit()
    before = (group.last_seq, group.last_hash, cash(session, group), outbox(session, group))
    again = raw_post(session, group, lines, key="k1")
    assert (again.id, again.seq, again.hash) == (first.id, first.seq, first.hash)
    assert [(p.id, p.amount) for p in again.postings] == [(p.id, p.amount) for p in first.postings]
    group = ledger.lock_group(session, group.id)
    assert (group.last_seq, group.last_hash, cash(session, group), outbox(session, group)) == before


def test_a_replay_is_answered_before_the_checks_that_would_now_refuse_it(session, group):
    everything = [credit("loan_fund_cash", Money(450000, "KES")),
                  debit("loan_write_offs", Money(450000, "KES"))]
    first = raw_post(session, group, everything, key="all")
    assert cash(session, group) == 0
    # The same request again: the cash is gone, but it is answered with what it did.
    assert raw_post(session, group, everything, key="all").id == first.id
    # Even with lines that no longer make sense: the key and the request decide.
    assert raw_post(session, group, [debit("loan_fund_cash", Money(1, "KES"))], key="all").id == first.id
    assert group.last_seq == 16


def test_an_idempotency_key_reused_for_another_request_is_refused(session, group):
    lines = [debit("loan_fund_cash", Money(5, "KES")), credit("fine_income", Money(5, "KES"))]
    first = raw_post(session, group, lines, key="k2")
    ledger.lock_group(session, group.id)
    with refused("idempotency.key_reused"):
        ledger.post(session, group, Actor.system(), kind="test", lines=lines, request={"k": "other"},
                    effective_date=ago(0), idempotency_key="k2")
    with refused("idempotency.key_reused"):  # also when the other request's lines are refused
        ledger.post(session, group, Actor.system(), kind="test", lines=lines[:1],
                    request={"k": "other"}, effective_date=ago(0), idempotency_key="k2")
    assert group.last_seq == first.seq


def test_cash_short_names_what_is_available_and_needed(session, group):
    with pytest.raises(DomainError) as caught:
        raw_post(session, group, [credit("loan_fund_cash", Money(450001, "KES")),
                                  debit("cash_variance", Money(450001, "KES"))])
    assert caught.value.code == "ledger.cash_short"
    assert caught.value.facts == {"account": "loan_fund_cash", "available": "4500.00", "needed": "4500.01"}
    # The session carries on: nothing was written.
    assert raw_post(session, group, [debit("loan_fund_cash", Money(3, "KES")),
                                     credit("fine_income", Money(3, "KES"))], key="after").seq == 16


def test_the_returned_entry_is_what_the_database_holds(session, group, factory):
    m = factory.members(group)[2]
    lines = [debit("loan_fund_cash", Money(100, "KES")), credit("fine_income", Money(60, "KES")),
             credit("member_shares", Money(40, "KES"), m.id, 2),
             debit("fine_income", Money(10, "KES")),  # two postings to each of two accounts
             credit("loan_fund_cash", Money(10, "KES"))]
    before = (ledger.balance(session, group, "fine_income"), ledger.units(session, group, m.id))
    entry = raw_post(session, group, lines, key="many")
    assert [(p.account_id, p.amount, p.units) for p in entry.postings] == [
        (p.account_id, p.amount, p.units) for p in session.execute(
            select(Posting.account_id, Posting.amount, Posting.units).where(Posting.entry_id == entry.id)
            .order_by(Posting.id))]
    assert [p.amount for p in entry.postings] == [100, -60, -40, 10, -10]
    stored = session.execute(text("SELECT seq, hash, prev_hash, idempotency_key FROM entries WHERE id = :e"),
                             {"e": entry.id}).one()
    assert tuple(stored) == (entry.seq, entry.hash, entry.prev_hash, "many")
    assert ledger.balance(session, group, "fine_income") == before[0] + Money(50, "KES")
    assert ledger.units(session, group, m.id) == before[1] + 2
    assert cash(session, group) == 450090
    report = ledger.verify(session, group)
    assert report.ok, report.problem


def test_the_receipt_carries_the_group_the_member_and_the_entry(session, factory, group):
    m = factory.members(group)[1]
    ledger.lock_group(session, group.id)
    entry = ledger.post(session, group, Actor.system(), kind="test", member_id=m.id,
                        lines=[debit("loan_fund_cash", Money(5, "KES")),
                               credit("fine_income", Money(5, "KES"))],
                        request={"r": 1}, effective_date=ago(0), idempotency_key="rcpt",
                        receipt={"amount": 5, "member_number": "the caller's says"})
    row = session.execute(text("SELECT phone, language, kind, status, payload, member_id FROM outbox "
                               "WHERE entry_id = :e"), {"e": entry.id}).one()
    payload = row.payload if isinstance(row.payload, dict) else json.loads(row.payload)
    assert (row.phone, row.language, row.kind, row.status, row.member_id) == (
        m.phone, m.language, "receipt", "pending", m.id)
    assert payload == {"group": group.name, "currency": "KES", "locale": group.locale, "member": m.name,
                       "member_number": "the caller's says", "seq": entry.seq, "kind": "test",
                       "date": ago(0).isoformat(), "amount": 5}


def test_a_member_account_missing_is_opened_by_post(session, connection, factory, group):
    m = factory.member(group)  # a newcomer: no postings yet
    session.flush()
    # (member_shares: a receivable without a loan is what verify's loan register check names)
    connection.execute(text("DELETE FROM accounts WHERE member_id = :m AND key LIKE 'member_shares%'"),
                       {"m": m.id})
    entry = raw_post(session, group, [debit("loan_fund_cash", Money(100, "KES")),
                                      credit("member_shares", Money(100, "KES"), m.id)], key="open")
    assert ledger.balance(session, group, "member_shares", m.id) == Money(100, "KES")
    assert len(entry.postings) == 2 and ledger.verify(session, group).ok


def test_a_database_error_in_post_is_sqlalchemys(session, group):
    ledger.lock_group(session, group.id)
    nested = session.begin_nested()
    with pytest.raises(IntegrityError):
        ledger.post(session, group, Actor.system(), kind="test", meeting_id=987654321,
                    lines=[debit("loan_fund_cash", Money(5, "KES")), credit("fine_income", Money(5, "KES"))],
                    request={"m": 1}, effective_date=ago(0))
    nested.rollback()


# --- the database's own guards ----------------------------------------------------------------


def test_database_refuses_update_and_delete_of_postings_and_entries(session, connection, group):
    session.flush()
    for statement in ("UPDATE postings SET amount = amount + 1", "DELETE FROM postings",
                      "UPDATE entries SET memo = 'edited'", "DELETE FROM entries"):
        nested = connection.begin_nested()
        with pytest.raises(Exception, match="refused"):
            connection.execute(text(statement))
        nested.rollback()


@pytest.mark.skipif(not is_postgres(), reason="the deferred balance trigger is PostgreSQL's")
def test_database_refuses_an_unbalanced_entry(session, connection, group):
    session.flush()
    account = session.execute(text("SELECT id FROM accounts WHERE group_id = :g AND key = 'fine_income'"),
                              {"g": group.id}).scalar()
    nested = connection.begin_nested()
    with pytest.raises(Exception, match="unbalanced"):
        entry_id = connection.execute(text(
            "INSERT INTO entries (group_id, seq, kind, effective_date, recorded_at, actor, channel, "
            "idempotency_key, fingerprint, details, prev_hash, hash) VALUES (:g, 999, 'forged', "
            "CURRENT_DATE, now(), 'x', 'cli', 'forged', 'f', '{}', 'p', 'h') RETURNING id"),
            {"g": group.id}).scalar()
        connection.execute(text("INSERT INTO postings (group_id, entry_id, account_id, amount, units) "
                                "VALUES (:g, :e, :a, 500, 0)"), {"g": group.id, "e": entry_id, "a": account})
        connection.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
    nested.rollback()


def test_verify_names_the_first_entry_where_postings_were_tampered_with(session, connection, group):
    session.flush()
    _without_guards(connection)
    target = session.scalars(select(Entry).where(Entry.group_id == group.id, Entry.seq == 7)).one()
    posting = session.scalars(select(Posting).where(Posting.entry_id == target.id)).first()
    connection.execute(text("UPDATE postings SET amount = amount * 2 WHERE id = :p"), {"p": posting.id})
    connection.execute(text("UPDATE postings SET amount = amount * 2 WHERE entry_id = :e AND id <> :p"),
                       {"e": target.id, "p": posting.id})
    report = ledger.verify(session, group)
    assert not report.ok
    assert report.problem["seq"] == 7 and report.problem["problem"] == "hash_mismatch"
    assert any(p["problem"] == "balance_mismatch" for p in report.problems)


def test_verify_names_a_broken_chain(session, connection, group):
    session.flush()
    _without_guards(connection)
    connection.execute(text("UPDATE entries SET prev_hash = :h WHERE group_id = :g AND seq = 12"),
                       {"h": "f" * 64, "g": group.id})
    report = ledger.verify(session, group)
    assert report.problem["seq"] == 12 and report.problem["problem"] == "chain_broken"


def test_verify_names_a_stored_balance_that_differs(session, connection, group):
    session.flush()
    connection.execute(text("UPDATE accounts SET balance = balance + 1 WHERE group_id = :g "
                            "AND key = 'loan_fund_cash'"), {"g": group.id})
    report = ledger.verify(session, group)
    assert report.problem == {"problem": "balance_mismatch", "account": "loan_fund_cash",
                              "expected": 450000, "found": 450001, "expected_units": 0, "found_units": 0}


def test_verify_names_a_deleted_entry_as_a_gap(session, connection, group):
    session.flush()
    _without_guards(connection)
    target = session.scalars(select(Entry).where(Entry.group_id == group.id, Entry.seq == 5)).one()
    connection.execute(text("DELETE FROM outbox WHERE entry_id = :e"), {"e": target.id})
    connection.execute(text("DELETE FROM postings WHERE entry_id = :e"), {"e": target.id})
    connection.execute(text("DELETE FROM entries WHERE id = :e"), {"e": target.id})
    report = ledger.verify(session, group)
    assert report.problem == {"seq": 5, "problem": "sequence_gap", "found": 6}


def test_verify_names_an_entry_left_without_its_postings(session, connection, group):
    session.flush()
    _without_guards(connection)
    target = session.scalars(select(Entry).where(Entry.group_id == group.id, Entry.seq == 9)).one()
    connection.execute(text("DELETE FROM postings WHERE entry_id = :e"), {"e": target.id})
    report = ledger.verify(session, group)
    assert {"seq": 9, "entry_id": target.id, "problem": "too_few_postings", "found": 0} in report.problems
    assert report.problem["seq"] == 9


def _without_guards(connection):
    """Drop the append-only triggers inside the test's transaction (rolled back afterwards)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # run the pending balance checks
        connection.execute(text("ALTER TABLE postings DISABLE TRIGGER USER"))
        connection.execute(text("ALTER TABLE entries DISABLE TRIGGER USER"))
    else:
        for table in ("entries", "postings"):
            for op in ("update", "delete"):
                connection.execute(text(f"DROP TRIGGER {table}_no_{op}"))


# --- storage ----------------------------------------------------------------------------------


@pytest.mark.skipif(not is_postgres(), reason="pooled server connections are PostgreSQL's")
@pytest.mark.parametrize("ping_after", [0.05, 3600])
def test_a_pooled_connection_idle_past_the_ping_delay_is_checked_before_use(ping_after):
    engine = make_engine(TEST_URL, ping_after=ping_after, pool_size=1, max_overflow=0)
    admin = make_engine(TEST_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with admin.connect() as conn:  # the server drops it while it sits in the pool
            conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        time.sleep(0.2)
        if ping_after < 0.2:
            with engine.connect() as conn:  # pinged, found dead, replaced
                assert conn.execute(text("SELECT pg_backend_pid()")).scalar() != pid
        else:
            with pytest.raises(OperationalError), engine.connect() as conn:  # not yet pinged
                conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()
        admin.dispose()


# --- permissions ------------------------------------------------------------------------------


def test_auditor_never_writes(session, factory, group):
    auditor = factory.auditor(group.programme_id)
    m = factory.members(group)[1]
    calls = [
        lambda: savings.buy_shares(session, auditor, group, m, 1),
        lambda: loans.disburse_loan(session, auditor, group, m, Money.parse("650", "KES")),
        lambda: grants.record_grant(session, auditor, group, Money.parse("10", "KES")),
        lambda: shareout.execute(session, auditor, group),
        lambda: groups.add_member(session, auditor, group, name="X", phone="0712345678"),
        lambda: groups.update_group(session, auditor, group, name="X"),
        lambda: reversals.reverse_entry(session, auditor, group,
                                        session.scalars(select(Entry).limit(1)).one(), "x"),
    ]
    seq = group.last_seq
    for call in calls:
        with pytest.raises(PermissionDenied):
            call()
    assert group.last_seq == seq
    # ...and reads everything in the programme
    assert groups.get_group(session, auditor, group.id) is group
    assert shareout.preview(session, auditor, group).total_shares == 45


def test_treasurer_of_group_a_cannot_touch_group_b(session, factory):
    programme = factory.programme()
    a, b = factory.ready(programme=programme), factory.ready(programme=programme)
    factory.meeting(b, on=ago(1))
    ta, mb = factory.treasurer(a), factory.members(b)[1]
    for call in (
        lambda: savings.buy_shares(session, ta, b, mb, 1),
        lambda: groups.get_group(session, ta, b.id),
        lambda: shareout.preview(session, ta, b),
        lambda: groups.update_member(session, ta, a, mb, name="X"),
        lambda: statements.member_statement(session, ta, b, mb),
    ):
        with pytest.raises(NotFound):
            call()
    assert b.last_seq == 0


def test_admin_of_another_programme_sees_nothing(session, factory):
    g = factory.ready()
    other = factory.programme()
    with pytest.raises(NotFound):
        groups.get_group(session, factory.admin(other), g.id)
    with pytest.raises(NotFound):
        grants.record_grant(session, factory.admin(other), g, Money.parse("1", "KES"))


def test_member_reads_only_own_records(session, factory, group):
    a, b = factory.members(group)[1:3]
    me = factory.member_actor(a)
    statement = statements.member_statement(session, me, group, a)
    assert statement["position"].shares == 3 and len(statement["entries"]) == 1
    with refused("member.not_found", NotFound):
        statements.member_statement(session, me, group, b)
    with refused("member.not_found", NotFound):
        groups.get_member(session, me, group, b.id)
    with refused("group.not_found", NotFound):
        shareout.preview(session, me, group)
    with pytest.raises(PermissionDenied):
        savings.buy_shares(session, me, group, a, 1)


def test_staff_do_not_record_meeting_business(session, factory, group):
    with refused("permission.treasurer_only", PermissionDenied):
        savings.buy_shares(session, factory.admin(group.programme_id), group, factory.members(group)[1], 1)


def test_programmes_are_created_by_operators_only(session, factory):
    p = factory.programme()
    with refused("permission.operator_only", PermissionDenied):
        groups.create_programme(session, factory.admin(p), name="x", country="KE", currency="USD")


def test_actor_needs_its_scope():
    for kwargs in ({"role": "admin"}, {"role": "treasurer"}, {"role": "member", "group_id": 1},
                   {"role": "boss"}, {"role": "system", "channel": "fax"}):
        with pytest.raises(ValueError):
            Actor(**kwargs)


# --- outbox -----------------------------------------------------------------------------------


def test_every_entry_about_a_member_queues_a_receipt(session, factory, group):
    t = factory.treasurer(group)
    m = factory.members(group)[1]
    before = outbox(session, group, "receipt")
    savings.pay_social_fund(session, t, group, m)
    savings.charge_fine(session, t, group, m, "late")
    loan = loans.disburse_loan(session, t, group, m, Money.parse("650", "KES"))
    e = loans.repay_loan(session, t, group, m, Money.parse("100", "KES"))
    reversals.reverse_entry(session, t, group, e, "")
    loans.write_off_loan(session, t, group, loan, "gone")
    assert outbox(session, group, "receipt") == before + 6


def test_meeting_close_queues_a_statement_for_every_member(session, factory, group):
    factory.close(group)
    assert outbox(session, group, "statement") == 15


def test_grant_is_announced_to_every_member(session, factory, group):
    grants.record_grant(session, factory.admin(group.programme_id), group, Money.parse("10", "KES"))
    assert outbox(session, group, "grant") == 15


def test_share_out_tells_every_member_their_payout(session, factory, group):
    shareout.execute(session, factory.treasurer(group), group)
    assert outbox(session, group, "share_out") == 15


def test_a_rolled_back_change_leaves_no_outbox_row(session, factory, group):
    session.commit()
    before = (outbox(session, group), group.last_seq)
    nested = session.begin_nested()
    savings.pay_social_fund(session, factory.treasurer(group), group, factory.members(group)[1])
    assert outbox(session, group) == before[0] + 1
    nested.rollback()
    assert (outbox(session, group), ledger.lock_group(session, group.id).last_seq) == before


def test_a_refused_change_leaves_no_outbox_row(session, factory, group):
    session.commit()
    before = outbox(session, group)
    nested = session.begin_nested()
    with pytest.raises(DomainError):
        loans.disburse_loan(session, factory.treasurer(group), group, factory.members(group)[1],
                            Money.parse("901", "KES"))
    nested.rollback()
    assert outbox(session, group) == before

"""Exports for auditors: the journal and member statements as CSV and JSON, streamed in constant
memory."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from vision_ledger import exports, ledger, loans, savings, shareout
from vision_ledger.errors import DomainError, NotFound, PermissionDenied
from vision_ledger.models import Account, Entry, Posting

TODAY = date.today()
S = TODAY - timedelta(weeks=30)


@pytest.fixture
def group(session, factory):
    group = factory.ready(members=10, start=S)
    t = factory.treasurer(group)
    ms = factory.members(group)
    factory.meeting(group, on=S)
    for m in ms:
        savings.buy_shares(session, t, group, m, 5)
        savings.pay_social_fund(session, t, group, m)
    loans.disburse_loan(session, t, group, ms[1], factory.money(group, "1000"))
    factory.close(group)
    factory.meeting(group, on=S + timedelta(weeks=2))
    loans.repay_loan(session, t, group, ms[1], factory.money(group, "1100"))
    shareout.execute(session, t, group)
    factory.close(group)
    return group


def read_csv(chunks):
    return list(csv.DictReader(io.StringIO("".join(chunks))))


def test_the_journal_csv_has_a_line_per_posting_and_every_entry_balances(session, factory, group):
    rows = read_csv(exports.journal(session, factory.auditor(group.programme_id), group_ids=[group.id]))
    postings = session.scalar(select(func.count()).select_from(Posting).where(Posting.group_id == group.id))
    assert len(rows) == postings
    assert list(rows[0]) == list(exports.JOURNAL_COLUMNS)
    totals = Counter()
    for r in rows:
        totals[r["seq"]] += int(r["amount"].replace(".", ""))
    assert set(totals.values()) == {0}
    assert len(totals) == group.last_seq
    assert rows[-1]["hash"] == group.last_hash
    assert {r["currency"] for r in rows} == {"KES"}


def test_the_journal_json_nests_postings_with_money_objects(session, factory, group):
    doc = json.loads("".join(exports.journal(session, factory.admin(group.programme_id),
                                             programme_id=group.programme_id, fmt="json")))
    entries = doc["entries"]
    assert [e["seq"] for e in entries] == list(range(1, group.last_seq + 1))
    loan = next(e for e in entries if e["kind"] == "loan")
    assert {"account": "loan_fund_cash", "amount": {"amount": "-1000.00", "currency": "KES"},
            "units": 0} in loan["postings"]
    assert entries[-1]["hash"] == group.last_hash


def test_member_statements_run_the_balances_of_each_member(session, factory, group):
    ms = factory.members(group)
    rows = read_csv(exports.statements(session, factory.auditor(group.programme_id), group.id))
    borrower = [r for r in rows if int(r["member_id"]) == ms[1].id]
    assert [r["kind"] for r in borrower] == ["share_purchase", "social_fund", "loan", "repayment",
                                             "share_out"]
    assert [r["loan_balance"] for r in borrower] == ["0.00", "0.00", "1100.00", "0.00", "0.00"]
    assert [r["savings_balance"] for r in borrower] == ["500.00", "500.00", "500.00", "500.00", "0.00"]
    assert borrower[0]["cash"] == "500.00" and borrower[2]["cash"] == "-1000.00"
    # 50 shares share 5,100 (5,000 saved + 100 charge): 102 a share, 510 for five.
    assert borrower[-1]["cash"] == "-510.00" and borrower[-1]["shares"] == "-5"
    doc = json.loads("".join(exports.statements(session, factory.auditor(group.programme_id), group.id,
                                                fmt="json")))
    assert len(doc["members"]) == 10
    member = next(m for m in doc["members"] if m["member_id"] == ms[1].id)
    assert member["closing"] == {"savings": {"amount": "0.00", "currency": "KES"},
                                 "loan": {"amount": "0.00", "currency": "KES"}}
    assert member["lines"][2]["loan_balance"] == {"amount": "1100.00", "currency": "KES"}


def test_exports_are_for_programme_staff_of_the_group(session, factory, group):
    with pytest.raises(PermissionDenied):
        exports.statements(session, factory.treasurer(group), group.id)
    with pytest.raises(NotFound):
        exports.journal(session, factory.auditor(factory.programme()), programme_id=group.programme_id)
    with pytest.raises(DomainError):
        exports.journal(session, factory.auditor(group.programme_id), group_ids=[group.id], fmt="xml")


def bulk_entries(session, group, n):
    """n share purchases written straight into the tables (fast; hashes are not the point here)."""
    cash, shares = (session.scalar(select(Account.id).where(Account.group_id == group.id,
                                                             Account.key == key))
                    for key in ("loan_fund_cash", f"member_shares:{group_member(session, group)}"))
    start = session.scalar(select(func.max(Entry.seq)).where(Entry.group_id == group.id)) or 0
    now = datetime.now(UTC)
    rows = [dict(group_id=group.id, seq=start + i + 1, kind="share_purchase", effective_date=S,
                 recorded_at=now, actor="treasurer:bulk", channel="api",
                 idempotency_key=f"bulk:{start + i}", fingerprint="f" * 64, details={"shares": 1},
                 prev_hash="0" * 64, hash=f"{start + i:064d}") for i in range(n)]
    ids = session.scalars(insert(Entry).returning(Entry.id, sort_by_parameter_order=True), rows).all()
    session.execute(insert(Posting), [
        dict(group_id=group.id, entry_id=eid, account_id=acc, amount=amount, units=units)
        for eid in ids for acc, amount, units in ((cash, 10000, 0), (shares, -10000, 1))])


def group_member(session, group):
    from vision_ledger.groups import active_members

    return active_members(session, group.id)[0].id


def export_peak(session, auditor, group, fmt):
    tracemalloc.start()
    size = 0
    for chunk in exports.journal(session, auditor, group_ids=[group.id], fmt=fmt):
        size += len(chunk)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return size, peak


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_journal_export_holds_a_batch_not_the_journal(session, factory, fmt):
    n = 1000
    small = factory.ready(members=10, start=S)
    large = factory.ready(members=10, start=S, programme=small.programme)
    auditor = factory.auditor(small.programme_id)
    bulk_entries(session, small, n)
    bulk_entries(session, large, 4 * n)
    session.expire_all()
    export_peak(session, auditor, small, fmt)  # warm the statement caches
    size_n, peak_n = export_peak(session, auditor, small, fmt)
    size_4n, peak_4n = export_peak(session, auditor, large, fmt)
    assert size_4n > 3.5 * size_n
    # Four times the entries, the same peak (a batch of rows and a chunk of text): holding the
    # rows or the output would add megabytes.
    assert peak_4n < 1.15 * peak_n + 128 * 1024, (peak_n, peak_4n, size_4n)


def test_ledger_of_the_fixture_still_verifies(session, group):
    assert ledger.verify(session, group).ok

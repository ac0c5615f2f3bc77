"""Posting throughput and balance-read latency of the core, beside a raw-SQL baseline.

    python -m benchmarks.core_bench                 # SQLite (temp file) and, if given, PostgreSQL
    VISION_BENCH_PG_URL=$(bash scripts/pg.sh start | tail -1) python -m benchmarks.core_bench

One entry per durable commit, one process. The baseline does the cheapest honest durable
equivalent: insert the entry and its two postings, update two balance rows, commit (on PostgreSQL
in one statement with data-modifying CTEs, and also as five statements).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta

from sqlalchemy import text

from migrations import upgrade
from vision_ledger import groups, ledger, savings
from vision_ledger.actors import Actor
from vision_ledger.cycles import start_cycle
from vision_ledger.db import Database, make_engine
from vision_ledger.ledger import credit, debit
from vision_ledger.meetings import open_meeting
from vision_ledger.money import Money

RAW_SCHEMA = [
    "CREATE TABLE raw_accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL)",
    "CREATE TABLE raw_entries (id {pk}, seq BIGINT NOT NULL, kind VARCHAR(30) NOT NULL)",
    "CREATE TABLE raw_postings (id {pk}, entry_id BIGINT NOT NULL, account_id INTEGER NOT NULL,"
    " amount BIGINT NOT NULL)",
    "INSERT INTO raw_accounts (id, balance) VALUES (1, 0), (2, 0)",
]


def _fresh(url_kind: str, pg_url: str | None) -> str:
    if url_kind == "sqlite":
        path = os.path.join(tempfile.mkdtemp(prefix="vlbench"), "bench.sqlite3")
        return f"sqlite:///{path}"
    assert pg_url
    admin = make_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_url.rsplit("/", 1)[0] + "/" + name


def raw_baseline(url: str, n: int) -> dict[str, float]:
    engine = make_engine(url)
    pg = engine.dialect.name == "postgresql"
    pk = "BIGSERIAL PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    with engine.begin() as conn:
        for ddl in RAW_SCHEMA:
            conn.execute(text(ddl.format(pk=pk)))
    results: dict[str, float] = {}
    raw = engine.raw_connection()
    cur = raw.cursor()
    if pg:
        one = (
            "WITH e AS (INSERT INTO raw_entries (seq, kind) VALUES (%s, 'share_purchase') RETURNING id),"
            " p AS (INSERT INTO raw_postings (entry_id, account_id, amount)"
            "  SELECT e.id, v.a, v.m FROM e, (VALUES (1, %s::bigint), (2, -%s::bigint)) v(a, m)),"
            " u1 AS (UPDATE raw_accounts SET balance = balance + %s WHERE id = 1)"
            " UPDATE raw_accounts SET balance = balance - %s WHERE id = 2"
        )
        start = time.perf_counter()
        for i in range(n):
            cur.execute(one, (i + 1, 100, 100, 100, 100))
            raw.commit()
        results["raw_one_statement"] = n / (time.perf_counter() - start)
    start = time.perf_counter()
    ph = "%s" if pg else "?"
    for i in range(n):
        if pg:
            cur.execute(f"INSERT INTO raw_entries (seq, kind) VALUES ({ph}, 'x') RETURNING id", (i,))
            entry_id = cur.fetchone()[0]
        else:
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO raw_entries (seq, kind) VALUES ({ph}, 'x')", (i,))
            entry_id = cur.lastrowid
        cur.execute(f"INSERT INTO raw_postings (entry_id, account_id, amount) VALUES ({ph}, 1, 100)",
                    (entry_id,))
        cur.execute(f"INSERT INTO raw_postings (entry_id, account_id, amount) VALUES ({ph}, 2, -100)",
                    (entry_id,))
        cur.execute("UPDATE raw_accounts SET balance = balance + 100 WHERE id = 1")
        cur.execute("UPDATE raw_accounts SET balance = balance - 100 WHERE id = 2")
        raw.commit()
    results["raw_five_statements"] = n / (time.perf_counter() - start)
    raw.close()
    engine.dispose()
    return results


def _setup_group(db: Database) -> tuple[int, list[int]]:
    system = Actor.system("bench")
    with db.unit_of_work() as s:
        prog = groups.create_programme(s, system, name="Bench", country="KE", currency="KES",
                                       policy={"loan_min": 65000, "loan_max": 260000,
                                               "shares_max": 1_000_000_000})
        group = groups.create_group(s, Actor(role="admin", programme_id=prog.id), prog, name="Bench",
                                    schedule="FREQ=WEEKLY;BYDAY=TH", timezone="Africa/Nairobi")
        members = [groups.add_member(s, system, group, name=f"M{i}", phone=f"+2547100{i:05d}").id
                   for i in range(20)]
        start_cycle(s, system, group, share_price=Money(10000, "KES"),
                    social_fund_contribution=Money(2000, "KES"),
                    start_date=date.today() - timedelta(weeks=10))
        open_meeting(s, Actor(role="treasurer", group_id=group.id), group)
        return group.id, members


def core_post_rate(db: Database, group_id: int, members: list[int], n: int) -> float:
    """ledger.post: lock, idempotency check, balance checks, sequence, hash chain, outbox receipt."""
    actor = Actor(role="treasurer", group_id=group_id, channel="api")
    amount = Money(10000, "KES")
    start = time.perf_counter()
    for i in range(n):
        with db.unit_of_work() as s:
            group = ledger.lock_group(s, group_id)
            m = members[i % len(members)]
            ledger.post(s, group, actor, kind="share_purchase", member_id=m,
                        lines=[debit("loan_fund_cash", amount), credit("member_shares", amount, m, 1)],
                        request={"op": "bench", "i": i}, idempotency_key=f"bench:{i}",
                        effective_date=date.today(), receipt={"amount": amount.minor})
    return n / (time.perf_counter() - start)


def core_purchase_rate(db: Database, group_id: int, members: list[int], n: int) -> float:
    """savings.buy_shares end to end: permissions, meeting, policy, per-meeting share limit, post."""
    actor = Actor(role="treasurer", group_id=group_id, channel="api")
    start = time.perf_counter()
    for i in range(n):
        with db.unit_of_work() as s:
            group = s.get(groups.Group, group_id)
            member = s.get(groups.Member, members[i % len(members)])
            savings.buy_shares(s, actor, group, member, 1, idempotency_key=f"buy:{uuid.uuid4().hex}")
    return n / (time.perf_counter() - start)


def balance_read_us(db: Database, group_id: int, member_id: int, reads: int = 2000) -> float:
    with db.unit_of_work(write=False) as s:
        group = s.get(groups.Group, group_id)
        times = []
        for _ in range(reads):
            t = time.perf_counter()
            ledger.balance(s, group, "member_shares", member_id)
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e6


def grow_history(db: Database, group_id: int, members: list[int], total: int) -> None:
    """Add postings quickly (many entries per transaction) until the group has `total` entries."""
    actor = Actor(role="treasurer", group_id=group_id, channel="api")
    amount = Money(100, "KES")
    while True:
        with db.unit_of_work() as s:
            group = ledger.lock_group(s, group_id)
            if group.last_seq >= total:
                return
            for _ in range(min(2000, total - group.last_seq)):
                m = members[group.last_seq % len(members)]
                ledger.post(s, group, actor, kind="share_purchase", member_id=m,
                            lines=[debit("loan_fund_cash", amount), credit("member_shares", amount, m, 1)],
                            request={"op": "grow", "i": group.last_seq}, effective_date=date.today())


def run(kind: str, pg_url: str | None, n: int, history: int) -> dict[str, float]:
    results = raw_baseline(_fresh(kind, pg_url), n)
    url = _fresh(kind, pg_url)
    upgrade(url)
    db = Database(url)
    group_id, members = _setup_group(db)
    results["core_post"] = core_post_rate(db, group_id, members, n)
    results["core_buy_shares"] = core_purchase_rate(db, group_id, members, max(n // 2, 1))
    with db.unit_of_work() as s:
        seq = s.get(groups.Group, group_id).last_seq
    results[f"balance_read_us_at_{seq}"] = balance_read_us(db, group_id, members[0])
    grow_history(db, group_id, members, history)
    results[f"balance_read_us_at_{history}"] = balance_read_us(db, group_id, members[0])
    db.engine.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=2000, help="entries per timed run")
    parser.add_argument("--history", type=int, default=1_000_000,
                        help="postings in the group's history for the second balance read")
    parser.add_argument("--pg", default=os.environ.get("VISION_BENCH_PG_URL"))
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores; n={args.n}; history={args.history}")
    kinds = ["sqlite"] + (["postgresql"] if args.pg else [])
    for kind in kinds:
        r = run(kind, args.pg, args.n, args.history)
        base = r.get("raw_one_statement", r["raw_five_statements"])
        print(f"\n== {kind}")
        for key, value in r.items():
            print(f"  {key:32s} {value:10.1f}")
        print(f"  core_post / baseline           {r['core_post'] / base:10.2%}")


if __name__ == "__main__":
    main()

"""Posting throughput and balance-read latency of the core, beside a raw-SQL baseline.

    python -m benchmarks.core_bench                     # SQLite (a temp file)
    python -m benchmarks.core_bench --pg URL            # SQLite, then PostgreSQL at URL
    python -m benchmarks.core_bench --pg URL --only postgresql
    python -m benchmarks.core_bench --profile buy_shares -n 300   # cProfile, SQLite

One entry per durable commit, one process. The baseline does the cheapest honest durable
equivalent: insert the entry and its two postings, update two balance rows, commit (on PostgreSQL
both as five statements and as one statement with data-modifying CTEs in autocommit: one round
trip, the cheapest honest entry). The core's `post` does
more per entry: the group's row lock, the idempotency check, the cash check, the next sequence
number and SHA-256 chain hash, the journal's head, and the member's receipt in the outbox.

Durability. SQLite runs with the engine settings the service uses (WAL, synchronous=FULL: one
fsync of the WAL per commit). On PostgreSQL every connection sets synchronous_commit=on, and the
bench refuses a server running with fsync=off (scripts/pg.sh starts its test servers that way)
unless --allow-no-fsync is given, in which case the figures are labelled non-durable. A durable
throwaway server:

    initdb -D /tmp/pgb/data -A trust -U postgres
    pg_ctl -D /tmp/pgb/data -l /tmp/pgb/log -o "-p 54501 -k /tmp/pgb" start
    python -m benchmarks.core_bench --pg postgresql://postgres@127.0.0.1:54501/postgres

The machine is shared, so throughput is measured in alternating rounds (raw, core, raw, core...)
and each figure is the median over the rounds; the ratio is of those medians. Balance reads are
timed on the busiest account (loan-fund cash, posted by every entry) once the group's history
holds 1,000 postings and again at --history postings (default 1,000,000), grown through `post`
itself, many entries per transaction; the throughput rounds run at both sizes too.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, text

from migrations import upgrade
from vision_ledger import groups, ledger, savings
from vision_ledger.actors import Actor
from vision_ledger.business import _BUSINESS
from vision_ledger.cycles import start_cycle
from vision_ledger.db import Database, make_engine
from vision_ledger.ledger import credit, debit
from vision_ledger.ledger.driver import read_one
from vision_ledger.meetings import open_meeting
from vision_ledger.models import Meeting
from vision_ledger.money import Money
from vision_ledger.savings import _PURCHASE

RAW_SCHEMA = [
    "CREATE TABLE raw_accounts (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL)",
    "CREATE TABLE raw_entries (id {pk}, seq BIGINT NOT NULL, kind VARCHAR(30) NOT NULL)",
    "CREATE TABLE raw_postings (id {pk}, entry_id BIGINT NOT NULL, account_id INTEGER NOT NULL,"
    " amount BIGINT NOT NULL)",
    "INSERT INTO raw_accounts (id, balance) VALUES (1, 0), (2, 0)",
]
RAW_ONE_STATEMENT = (
    "WITH e AS (INSERT INTO raw_entries (seq, kind) VALUES (%s, 'share_purchase') RETURNING id),"
    " p AS (INSERT INTO raw_postings (entry_id, account_id, amount)"
    "  SELECT e.id, v.a, v.m FROM e, (VALUES (1, %s::bigint), (2, -%s::bigint)) v(a, m)),"
    " u1 AS (UPDATE raw_accounts SET balance = balance + %s WHERE id = 1)"
    " UPDATE raw_accounts SET balance = balance - %s WHERE id = 2"
)
PG_DURABLE = {"options": "-c synchronous_commit=on"}


def _engine(url: str, **kwargs: Any) -> Any:
    if not url.startswith("sqlite"):
        kwargs.setdefault("connect_args", dict(PG_DURABLE))
    return make_engine(url, **kwargs)


def _fresh(kind: str, pg_url: str | None) -> str:
    if kind == "sqlite":
        path = os.path.join(tempfile.mkdtemp(prefix="vlbench"), "bench.sqlite3")
        return f"sqlite:///{path}"
    assert pg_url
    admin = make_engine(pg_url, isolation_level="AUTOCOMMIT")
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_url.rsplit("/", 1)[0] + "/" + name


def durability(engine: Any) -> dict[str, str]:
    """The settings that decide whether a commit is durable, as the bench's connections see them."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = ["journal_mode", "synchronous"]
            return {n: str(conn.exec_driver_sql(f"PRAGMA {n}").scalar()) for n in names}
        names = ["fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "server_version"]
        return {n: str(conn.exec_driver_sql(f"SHOW {n}").scalar()) for n in names}


class Raw:
    """The baseline: plain driver calls on one connection, one durable commit per entry."""

    def __init__(self, url: str):
        self.engine = _engine(url)
        self.pg = self.engine.dialect.name == "postgresql"
        pk = "BIGSERIAL PRIMARY KEY" if self.pg else "INTEGER PRIMARY KEY"
        with self.engine.begin() as conn:
            for ddl in RAW_SCHEMA:
                conn.execute(text(ddl.format(pk=pk)))
        self.conn = self.engine.raw_connection()
        # The cheapest honest entry on PostgreSQL: one statement in autocommit, one round trip
        # (an explicit COMMIT on a non-autocommit connection would be a second one).
        self.auto = self.engine.raw_connection() if self.pg else None
        if self.auto is not None:
            self.auto.driver_connection.autocommit = True
        self.seq = 0

    def one_statement(self, n: int) -> float:
        assert self.auto is not None
        cur = self.auto.cursor()
        start = time.perf_counter()
        for _ in range(n):
            self.seq += 1
            cur.execute(RAW_ONE_STATEMENT, (self.seq, 100, 100, 100, 100))
        return n / (time.perf_counter() - start)

    def five_statements(self, n: int) -> float:
        raw, cur, pg = self.conn, self.conn.cursor(), self.pg
        ph = "%s" if pg else "?"
        start = time.perf_counter()
        for _ in range(n):
            self.seq += 1
            if pg:
                cur.execute(f"INSERT INTO raw_entries (seq, kind) VALUES ({ph}, 'x') RETURNING id",
                            (self.seq,))
                entry_id = cur.fetchone()[0]
            else:
                cur.execute("BEGIN")
                cur.execute(f"INSERT INTO raw_entries (seq, kind) VALUES ({ph}, 'x')", (self.seq,))
                entry_id = cur.lastrowid
            cur.execute(f"INSERT INTO raw_postings (entry_id, account_id, amount) VALUES ({ph}, 1, 100)",
                        (entry_id,))
            cur.execute(f"INSERT INTO raw_postings (entry_id, account_id, amount) VALUES ({ph}, 2, -100)",
                        (entry_id,))
            cur.execute("UPDATE raw_accounts SET balance = balance + 100 WHERE id = 1")
            cur.execute("UPDATE raw_accounts SET balance = balance - 100 WHERE id = 2")
            raw.commit()
        return n / (time.perf_counter() - start)

    def close(self) -> None:
        self.conn.close()
        if self.auto is not None:
            self.auto.close()
        self.engine.dispose()


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


class Core:
    def __init__(self, url: str):
        upgrade(url)
        self.db = Database(engine=_engine(url))
        self.group_id, self.members = _setup_group(self.db)
        self.actor = Actor(role="treasurer", group_id=self.group_id, channel="api")
        self.i = 0

    def post_rate(self, n: int) -> float:
        """ledger.post: lock, idempotency check, cash check, sequence, hash chain, outbox receipt."""
        db, gid, actor, members = self.db, self.group_id, self.actor, self.members
        amount = Money(10000, "KES")
        start = time.perf_counter()
        for _ in range(n):
            self.i += 1
            i = self.i
            with db.unit_of_work() as s:
                group = ledger.lock_group(s, gid)
                m = members[i % len(members)]
                ledger.post(s, group, actor, kind="share_purchase", member_id=m,
                            lines=[debit("loan_fund_cash", amount), credit("member_shares", amount, m, 1)],
                            request={"op": "bench", "i": i}, idempotency_key=f"bench:{i}",
                            effective_date=date.today(), receipt={"amount": amount.minor})
        return n / (time.perf_counter() - start)

    def purchase_rate(self, n: int) -> float:
        """savings.buy_shares end to end: permissions, meeting, policy, per-meeting share limit, post."""
        db, gid, actor, members = self.db, self.group_id, self.actor, self.members
        start = time.perf_counter()
        for _ in range(n):
            self.i += 1
            with db.unit_of_work() as s:
                group = s.get(groups.Group, gid)
                member = s.get(groups.Member, members[self.i % len(members)])
                savings.buy_shares(s, actor, group, member, 1, idempotency_key=f"buy:{uuid.uuid4().hex}")
        return n / (time.perf_counter() - start)

    def postings(self) -> int:
        with self.db.unit_of_work(write=False) as s:
            return s.execute(text("SELECT count(*) FROM postings WHERE group_id = :g"),
                             {"g": self.group_id}).scalar_one()

    def balance_read_us(self, reads: int = 3000) -> float:
        """Median time of ledger.balance on the busiest account, in microseconds."""
        with self.db.unit_of_work(write=False) as s:
            group = s.get(groups.Group, self.group_id)
            for _ in range(200):  # warm the statement cache and the page cache
                ledger.balance(s, group, "loan_fund_cash")
            times = []
            for _ in range(reads):
                t = time.perf_counter()
                ledger.balance(s, group, "loan_fund_cash")
                times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e6

    def grow_history(self, postings: int, per_transaction: int = 2000) -> None:
        """Post entries of two postings, many per transaction, until the group has `postings`."""
        actor, members = self.actor, self.members
        amount = Money(100, "KES")
        have = self.postings()
        last_report = time.perf_counter()
        while have < postings:
            with self.db.unit_of_work() as s:
                group = ledger.lock_group(s, self.group_id)
                for _ in range(min(per_transaction, (postings - have + 1) // 2)):
                    m = members[group.last_seq % len(members)]
                    ledger.post(s, group, actor, kind="share_purchase", member_id=m,
                                lines=[debit("loan_fund_cash", amount),
                                       credit("member_shares", amount, m, 1)],
                                request={"op": "grow", "i": group.last_seq}, effective_date=date.today())
                    have += 2
            if time.perf_counter() - last_report > 30:
                print(f"    ... {have:,} postings", flush=True)
                last_report = time.perf_counter()

    def close(self) -> None:
        self.db.engine.dispose()


def _rounds(raw: Raw, core: Core, n: int, rounds: int) -> dict[str, Any]:
    """Alternating rounds of the baselines and the core; the medians, and each round's figures."""
    series: dict[str, list[float]] = {}
    for r in range(rounds):
        measured = {}
        if raw.pg:
            measured["raw_one_statement"] = raw.one_statement(n)
        measured["raw_five_statements"] = raw.five_statements(n)
        measured["core_post"] = core.post_rate(n)
        measured["core_buy_shares"] = core.purchase_rate(max(n // 4, 1))
        load = os.getloadavg()[0]
        print(f"  round {r + 1} at {core.postings():,} postings: "
              + ", ".join(f"{k} {v:,.0f}/s" for k, v in measured.items()) + f"; load {load:.2f}",
              flush=True)
        for k, v in measured.items():
            series.setdefault(k, []).append(v)
        series.setdefault("load", []).append(load)
    out: dict[str, Any] = {k: statistics.median(v) for k, v in series.items()}
    out["rounds"] = series
    return out


def run(kind: str, pg_url: str | None, n: int, rounds: int, history: int,
        allow_no_fsync: bool) -> dict[str, Any]:
    raw = Raw(_fresh(kind, pg_url))
    settings = durability(raw.engine)
    if kind == "postgresql" and settings["fsync"] != "on" and not allow_no_fsync:
        raw.close()
        raise SystemExit(f"PostgreSQL runs with fsync={settings['fsync']}: commits are not durable; "
                         "start a server with fsync=on (see --help) or pass --allow-no-fsync")
    core = Core(_fresh(kind, pg_url))
    out: dict[str, Any] = {"settings": settings}
    print(f"\n== {kind}: {settings}", flush=True)

    core.grow_history(1000)
    out["postings_small"] = core.postings()
    out["balance_read_us_small"] = core.balance_read_us()
    print(f"  balance read at {out['postings_small']:,} postings: {out['balance_read_us_small']:.1f} us",
          flush=True)

    out["small"] = _rounds(raw, core, n, rounds)
    start = time.perf_counter()
    core.grow_history(history)
    out["grow_seconds"] = time.perf_counter() - start
    out["postings_large"] = core.postings()
    out["balance_read_us_large"] = core.balance_read_us()
    print(f"  balance read at {out['postings_large']:,} postings: {out['balance_read_us_large']:.1f} us",
          flush=True)
    out["large"] = _rounds(raw, core, n, rounds)
    raw.close()
    core.close()
    return out


def report(kind: str, r: dict[str, Any]) -> None:
    durable = r["settings"].get("fsync", "on") == "on"
    print(f"\n== {kind}" + ("" if durable else "  NOT DURABLE: the server runs with fsync=off"))
    print(f"  settings: {r['settings']}")
    for size, postings in (("small", r["postings_small"]), ("large", r["postings_large"])):
        m = r[size]
        print(f"  -- at {postings:,} postings in the group (medians of {len(m['rounds']['core_post'])}"
              f" rounds; load {m['load']:.2f})")
        for key in ("raw_one_statement", "raw_five_statements", "core_post", "core_buy_shares"):
            if key in m:
                print(f"  {key:30s} {m[key]:10,.0f} entries/s  ({1e6 / m[key]:8,.0f} us an entry)")
        base_key = "raw_one_statement" if "raw_one_statement" in m else "raw_five_statements"
        print(f"  core_post / {base_key:18s} {m['core_post'] / m[base_key]:10.1%}")
        print(f"  core_buy_shares / {base_key:18s} {m['core_buy_shares'] / m[base_key]:4.1%}")
        extra = 1e6 / m["core_post"] - 1e6 / m["raw_five_statements"]
        print(f"  core_post over raw_five_statements  {extra:8,.0f} us an entry")
    print(f"  balance read at {r['postings_small']:>9,} postings {r['balance_read_us_small']:8.1f} us")
    print(f"  balance read at {r['postings_large']:>9,} postings {r['balance_read_us_large']:8.1f} us"
          f"  (history grown in {r['grow_seconds']:.0f} s)")


def profile(what: str, n: int, top: int = 30) -> None:
    """cProfile of n `ledger.post` or `savings.buy_shares` transactions on SQLite (after a warm-up
    of 50), sorted by cumulative time: where the time of one operation goes."""
    core = Core(_fresh("sqlite", None))
    core.grow_history(1000)
    rate = core.post_rate if what == "post" else core.purchase_rate
    rate(50)
    unprofiled = rate(n)
    profiler = cProfile.Profile()
    profiler.enable()
    rate(n)
    profiler.disable()
    core.close()
    print(f"{what}: {unprofiled:,.0f}/s unprofiled ({1e6 / unprofiled:,.0f} us each); "
          f"load {os.getloadavg()[0]:.2f}; profile of {n} calls (cumulative seconds):")
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)


def reads(rounds: int = 7, n: int = 2000) -> None:
    """A purchase's two reads on SQLite, through `Connection.execute` (as before `read_one`) and
    through `read_one` (the driver), alternated in one process: the ratio survives the load."""
    core = Core(_fresh("sqlite", None))
    core.grow_history(1000)
    with core.db.unit_of_work() as s:
        group = ledger.lock_group(s, core.group_id)
        conn, member = s.connection(), core.members[0]
        meeting_id = s.scalar(select(Meeting.id).where(Meeting.group_id == group.id))
        cases = {"business": (_BUSINESS, {"gid": group.id, "key": "bench:none"}),
                 "purchase": (_PURCHASE, {"key": ledger.account_key("member_shares", member),
                                          "meeting_id": meeting_id, "gid": group.id,
                                          "member_id": member})}
        for name, (statement, params) in cases.items():
            if tuple(conn.execute(statement, params).one()) != read_one(conn, statement, params):
                raise SystemExit(f"{name}: read_one reads other values than Connection.execute")
            via_core, via_driver = [], []
            for _ in range(rounds):
                t = time.perf_counter()
                for _ in range(n):
                    conn.execute(statement, params).one()
                via_core.append((time.perf_counter() - t) / n * 1e6)
                t = time.perf_counter()
                for _ in range(n):
                    read_one(conn, statement, params)
                via_driver.append((time.perf_counter() - t) / n * 1e6)
            print(f"{name} read: Connection.execute {statistics.median(via_core):7.1f} us, "
                  f"read_one {statistics.median(via_driver):7.1f} us (medians of {rounds} x {n}, "
                  f"alternated); load {os.getloadavg()[0]:.2f}")
    core.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=1000, help="entries per timed round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of raw and core")
    parser.add_argument("--history", type=int, default=1_000_000,
                        help="postings in the group's history for the second balance read")
    parser.add_argument("--pg", default=os.environ.get("VISION_BENCH_PG_URL"))
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--allow-no-fsync", action="store_true",
                        help="measure a PostgreSQL server running with fsync=off (not durable)")
    parser.add_argument("--profile", choices=["post", "buy_shares"],
                        help="instead of the rounds: cProfile of -n calls on SQLite")
    parser.add_argument("--reads", action="store_true",
                        help="instead of the rounds: a purchase's two reads, Core vs driver, SQLite")
    args = parser.parse_args()
    if args.reads:
        reads()
        return
    if args.profile:
        profile(args.profile, args.n)
        return
    print(f"machine: {os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}; n={args.n}; "
          f"rounds={args.rounds}; history={args.history:,} postings")
    kinds = ["sqlite"] + (["postgresql"] if args.pg else [])
    if args.only:
        kinds = [args.only]
    for kind in kinds:
        report(kind, run(kind, args.pg, args.n, args.rounds, args.history, args.allow_no_fsync))


if __name__ == "__main__":
    main()

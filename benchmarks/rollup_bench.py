"""Programme roll-up and a group's measures read from the per-period totals, at two sizes each.

One command:

    .venv/bin/python benchmarks/rollup_bench.py --pg postgresql://postgres@127.0.0.1:55400 [--sqlite]

Into a new database (PostgreSQL: one created on the server and dropped afterwards; SQLite: a new
file, WAL, synchronous=FULL) it loads, in bulk through the real schema, the programmes of
`benchmarks/audit_bench.py`: groups of 20 members with a year of weekly meetings (shares and
social fund from every member, loans, repayments, fines, attendance), journals hashed with
`ledger.entry_hash` and stored balances equal to their postings (so `verify` holds):

- programme 1: 1,000 groups (about 2.3 million entries), programme 2: 100 groups;
- programme 3: one group with about 1,000 entries and one with about 100,000 (44 years of
  weekly meetings).

Bulk SQL rather than the posting path: 2.4 million entries through `savings.buy_shares` at the
60-170 entries/s the README measures would take 4 to 11 hours. Then it times the first
`metrics.refresh` of every group (one transaction), a refresh with nothing new, the roll-up
(`metrics.programme_measures`, the 52 weeks to today) of each programme, and the measures of the
two programme-3 groups (`metrics.group_measures` over the last 52 weeks and over their whole
history), best of several runs; and checks the totals of programme 3 with `verify_totals`.

It refuses a database that does not make commits durable (PostgreSQL with fsync,
synchronous_commit or full_page_writes off) unless given --allow-non-durable.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy import delete, select, text  # noqa: E402

from benchmarks import durability  # noqa: E402
from benchmarks.audit_bench import COLUMNS, Ids, build_group  # noqa: E402
from migrations import upgrade  # noqa: E402
from vision_ledger import metrics  # noqa: E402
from vision_ledger.actors import Actor  # noqa: E402
from vision_ledger.db import Database, make_engine  # noqa: E402
from vision_ledger.models import Group  # noqa: E402
from vision_ledger.policy import programme_policy  # noqa: E402

PROGRAMMES = {1: [52] * 1000, 2: [52] * 100, 3: [22, 2200]}  # weeks of history, one per group
SYSTEM = Actor.system("bench")


class Sink:
    """Writes batches of rows into one database: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pg = url.startswith("postgresql")
        if self.pg:
            self.conn: Any = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"))
            self.conn.execute("SET session_replication_role = replica")  # the core's write triggers
        else:
            self.conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("BEGIN")

    def programme(self, pid: int) -> None:
        policy = json.dumps(programme_policy("KES", {"loan_min": 65000, "loan_max": 260000}).as_dict())
        sql = ("INSERT INTO programmes (id, name, country, currency, policy, languages, created_at) "
               "VALUES ({p}, {p}, 'KE', 'KES', {p}, '[\"en\"]', {p})")
        args = (pid, f"Benchmark programme {pid}", policy, self._value(datetime.now(UTC)))
        self.conn.execute(sql.format(p="%s" if self.pg else "?"), args)

    def write(self, batch: dict[str, list[tuple[Any, ...]]]) -> None:
        if self.pg:
            with self.conn.cursor() as cur:
                for table, columns in COLUMNS.items():
                    with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                        for row in batch[table]:
                            copy.write_row(row)
            self.conn.commit()
            return
        for table, columns in COLUMNS.items():
            marks = ", ".join("?" * len(columns.split(",")))
            self.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                                  [tuple(self._value(v) for v in row) for row in batch[table]])
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")

    @staticmethod
    def _value(v: Any) -> Any:
        if isinstance(v, datetime):  # as SQLAlchemy's SQLite DateTime stores it
            return v.astimezone(UTC).replace(tzinfo=None).isoformat(" ")
        if isinstance(v, date):
            return v.isoformat()
        return v

    def finish(self) -> None:
        if self.pg:
            for table in COLUMNS:
                self.conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT max(id) FROM {table}))")
            self.conn.commit()
            self.conn.autocommit = True
            self.conn.execute("VACUUM ANALYZE")
        else:
            self.conn.execute("COMMIT")
            self.conn.execute("ANALYZE")
        self.conn.close()


def load(sinks: list[Sink]) -> int:
    """Build every programme once and write it into every sink; returns the entries loaded."""
    ids, today, entries, started = Ids(), date.today(), 0, time.perf_counter()
    for sink in sinks:
        for pid in PROGRAMMES:
            sink.programme(pid)
    batch: dict[str, list[tuple[Any, ...]]] = {k: [] for k in COLUMNS}
    groups = [(pid, i, weeks) for pid, ws in PROGRAMMES.items() for i, weeks in enumerate(ws)]
    for n, (pid, index, weeks) in enumerate(groups):
        for table, rows in build_group(ids, pid, index, weeks, today).items():
            batch[table].extend(rows)
        if len(batch["entries"]) > 200_000 or n == len(groups) - 1:
            entries += len(batch["entries"])
            for sink in sinks:
                sink.write(batch)
            batch = {k: [] for k in COLUMNS}
            print(f"  loaded {n + 1} groups, {entries:,} entries "
                  f"({entries / (time.perf_counter() - started):,.0f} entries/s)", flush=True)
    for sink in sinks:
        sink.finish()
    return entries


def best(label: str, fn: Any, repeat: int) -> tuple[Any, float]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    median = sorted(times)[len(times) // 2]
    print(f"  {label}: best {min(times) * 1000:,.1f} ms, median {median * 1000:,.1f} ms of {repeat}",
          flush=True)
    return result, min(times)


def measure(db: Database, *, first_refresh: bool = True, compare: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"settings": durability.settings(db)}
    if first_refresh:
        with db.unit_of_work() as s:  # from empty totals, so a kept database measures the same again
            for table in (*metrics.tables.TOTALS, metrics.TotalsMark):
                s.execute(delete(table))
        with db.unit_of_work() as s:
            t0 = time.perf_counter()
            out["groups_refreshed"] = metrics.refresh(s)
        out["first_refresh_s"] = round(time.perf_counter() - t0, 1)
        print(f"  first refresh of every group: {out['first_refresh_s']} s", flush=True)
    with db.unit_of_work() as s:
        _, t = best("refresh with nothing new", lambda: metrics.refresh(s), 3)
        out["refresh_nothing_new_ms"] = round(t * 1000, 1)
    with db.unit_of_work(write=False) as s:
        counts = {pid: s.scalar(text(f"SELECT count(*) FROM entries e JOIN groups g ON g.id = e.group_id "
                                     f"WHERE g.programme_id = {pid}")) for pid in PROGRAMMES}
        out["entries"] = counts
        for pid, label in ((2, "100 groups"), (1, "1,000 groups")):
            pm, t = best(f"roll-up of {label} ({counts[pid]:,} entries)",
                         lambda pid=pid: metrics.programme_measures(s, SYSTEM, pid), 3)
            d = pm.measures.as_dict()
            print(f"    members {d['members']}, savings {d['savings']}, repayment {d['repayment_rate']}, "
                  f"attendance {d['attendance_rate']}, PAR30 {d['portfolio_at_risk_30']}", flush=True)
            out[f"rollup_{pm.groups}_groups_ms"] = round(t * 1000, 1)
            if compare:  # the computation over every posting the totals replaced, in the same run
                from tests.core import reference_measures

                scope = select(Group.id).where(Group.programme_id == pid)
                _, t = best(f"  from every posting (before the totals), {label}",
                            lambda scope=scope: reference_measures.compute(
                                s, scope, date.today() - timedelta(weeks=52) + timedelta(days=1),
                                date.today(), 29), 1)
                out[f"from_postings_{pm.groups}_groups_ms"] = round(t * 1000, 1)
        heavy = list(s.scalars(select(Group.id).where(Group.programme_id == 3).order_by(Group.last_seq)))
        today = date.today()
        for gid in heavy:
            n = s.get(Group, gid).last_seq
            for name, start in (("52 weeks", today - timedelta(weeks=52) + timedelta(days=1)),
                                ("whole history", today - timedelta(weeks=2300))):
                _, t = best(f"group of {n:,} entries, {name}",
                            lambda gid=gid, start=start: metrics.group_measures(s, SYSTEM, gid, start=start,
                                                                               end=today), 5)
                out[f"group_{n}_{name.replace(' ', '_')}_ms"] = round(t * 1000, 2)
        out["verify_totals_differences"] = len(metrics.verify_totals(s, heavy))
        print(f"  verify_totals of programme 3: {out['verify_totals_differences']} differences", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", help="a PostgreSQL server URL (a database is created on it and dropped)")
    parser.add_argument("--sqlite", action="store_true", help="also measure a new SQLite file")
    durability.add_flag(parser)
    parser.add_argument("--groups", type=int, default=1000, help="programme 1's groups (2: a tenth)")
    parser.add_argument("--heavy-weeks", type=int, default=2200, help="weeks of the heaviest group's history")
    parser.add_argument("--reuse", nargs="+", metavar="URL",
                        help="measure databases a --keep run loaded (skips the load)")
    parser.add_argument("--keep-totals", action="store_true",
                        help="with --reuse: measure the totals already folded (no first refresh)")
    parser.add_argument("--compare", action="store_true",
                        help="also time the from-scratch computation the totals replaced, once")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args()
    if args.reuse:
        for url in args.reuse:
            db = Database(url)
            print(f"{db.dialect}:")
            print(json.dumps(measure(db, first_refresh=not args.keep_totals, compare=args.compare),
                             default=str))
            db.dispose()
        return
    if not args.pg and not args.sqlite:
        parser.error("give --pg URL and/or --sqlite")
    PROGRAMMES.update({1: [52] * args.groups, 2: [52] * max(1, args.groups // 10), 3: [22, args.heavy_weeks]})
    urls, name, admin = [], None, None
    if args.pg:
        base = args.pg.rstrip("/")
        base = base.rsplit("/", 1)[0] if base.count("/") > 2 else base
        name = f"rollup_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        urls.append(f"{base}/{name}")
    if args.sqlite:
        urls.append(f"sqlite:///{tempfile.mkdtemp(prefix='rollup_bench.')}/ledger.sqlite3")
    results = {}
    try:
        dbs = []
        for url in urls:
            upgrade(url)
            db = Database(url)
            durability.require(db, args.allow_non_durable)
            dbs.append(db)
        print(f"loading {sum(len(v) for v in PROGRAMMES.values())} groups into {len(urls)} database(s)")
        t0 = time.perf_counter()
        entries = load([Sink(u) for u in urls])
        print(f"  load: {time.perf_counter() - t0:.0f} s for {entries:,} entries")
        for db in dbs:
            print(f"{db.dialect}:")
            results[db.dialect] = measure(db, compare=args.compare)
            if not durability.is_durable(results[db.dialect]["settings"]):
                print("  NOT DURABLE: " + json.dumps(results[db.dialect]["settings"]))
            db.dispose()
    finally:
        if name and admin is not None and not args.keep:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(json.dumps(results, default=str))
    if args.keep:
        print("kept: " + " ".join(urls))


if __name__ == "__main__":
    main()

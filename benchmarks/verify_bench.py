"""Verification of a programme's journals on PostgreSQL, at two sizes (issue 12.3).

One command (the shared server, or any PostgreSQL whose URL ends in a database name the bench may
replace with fresh ones):

    .venv/bin/python benchmarks/verify_bench.py --pg postgresql://postgres@127.0.0.1:55400/postgres \
        [--sizes 100 1000] [--weeks 52] [--allow-no-fsync] [--keep]

For each size it creates a fresh database, upgrades it through the real migrations and bulk-loads a
programme of that many groups (20 members, a year of weekly meetings, about 2,500 entries a group)
with COPY, each journal hashed in order by the real `ledger.entry_hash` (audit_bench's loader).
Then it verifies the whole programme with `audit.verify_many` in a child process, once in one
process and once in one process per core, and prints entries/s and the peak RSS of the verifying
processes (target: at least 100,000 entries/s, memory flat between the sizes). On a machine
shared with other work the wall-clock rate says more about the others than about us, so the bench
also prints entries per CPU second of the verifying processes (what one idle core would do, less
the database's own share).

A server with fsync=off is refused unless --allow-no-fsync is given (and then labelled): the
figures must come from the database as production would run it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from benchmarks.audit_bench import load  # noqa: E402
from migrations import upgrade  # noqa: E402
from vision_ledger import audit  # noqa: E402
from vision_ledger.actors import Actor  # noqa: E402
from vision_ledger.db import Database, make_engine  # noqa: E402


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the pool's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(url: str, workers: int) -> None:
    """In a child process: verify programme 1, print seconds, entries and peak RSS as JSON."""
    db = Database(url)
    with db.unit_of_work(write=False) as s:
        started, cpu = time.perf_counter(), _cpu()
        report = audit.verify_many(s, Actor.system(), programme_id=1, workers=workers)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    pool = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest worker
    print(json.dumps({"ok": report.ok, "groups": report.groups_checked, "entries": report.entries_checked,
                      "seconds": seconds, "cpu_seconds": cpu, "peak_rss_kb": own,
                      "worker_peak_rss_kb": pool}))


def run_child(url: str, workers: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", url, str(workers)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default=os.environ.get("VISION_BENCH_PG_URL"),
                        help="a PostgreSQL URL; its database name is replaced by fresh ones")
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000], help="groups in each programme")
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--allow-no-fsync", action="store_true",
                        help="measure a server running with fsync=off (figures labelled non-durable)")
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure[0], int(args.measure[1]))
        return
    if not args.pg:
        parser.error("--pg (or VISION_BENCH_PG_URL) is required")
    base = args.pg if "+psycopg" in args.pg else args.pg.replace("postgresql://", "postgresql+psycopg://", 1)
    admin = make_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        fsync = conn.exec_driver_sql("SHOW fsync").scalar()
        if fsync != "on" and not args.allow_no_fsync:
            raise SystemExit(f"PostgreSQL runs with fsync={fsync}: not durable; pass --allow-no-fsync "
                             "to measure it anyway")
    durable = "" if fsync == "on" else "  NOT DURABLE (fsync=off)"
    cores = os.cpu_count() or 1
    print(f"load: {os.getloadavg()}, cores: {cores}{durable}", flush=True)
    results = []
    for size in args.sizes:
        name = f"verify_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.rsplit("/", 1)[0] + f"/{name}"
        try:
            upgrade(url)
            print(f"\n== {size} groups ({name})", flush=True)
            started = time.perf_counter()
            _, entries = load(url, size, args.weeks)
            print(f"  built and loaded {entries:,} entries in {time.perf_counter() - started:.0f} s",
                  flush=True)
            for workers in sorted({1, cores}):
                r = run_child(url, workers)
                assert r["ok"] and r["entries"] == entries, r
                rate = r["entries"] / r["seconds"]
                print(f"  verify, {workers} process(es): {r['seconds']:.2f} s, {rate:,.0f} entries/s, "
                      f"{r['entries'] / r['cpu_seconds']:,.0f} entries per CPU second (Python side), "
                      f"peak RSS {r['peak_rss_kb'] / 1024:.0f} MiB (largest worker "
                      f"{r['worker_peak_rss_kb'] / 1024:.0f} MiB), load {os.getloadavg()[0]:.1f}", flush=True)
                results.append({"groups": size, "entries": entries, "workers": workers,
                                "entries_per_s": round(rate),
                                "entries_per_cpu_s": round(r["entries"] / r["cpu_seconds"]),
                                "peak_rss_mib": round(r["peak_rss_kb"] / 1024),
                                "worker_peak_rss_mib": round(r["worker_peak_rss_kb"] / 1024)})
        finally:
            if not args.keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    print(json.dumps(results))


if __name__ == "__main__":
    main()

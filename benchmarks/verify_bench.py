"""Verification of a programme's journals on PostgreSQL, at two sizes (issue 12.3).

One command (the shared server, or any PostgreSQL whose URL ends in a database name the bench may
replace with fresh ones):

    .venv/bin/python benchmarks/verify_bench.py --pg postgresql://postgres@127.0.0.1:55400/postgres \
        [--sizes 100 1000] [--weeks 52] [--allow-no-fsync] [--keep] [--compare /work/main]

For each size it creates a fresh database, upgrades it through the real migrations and bulk-loads a
programme of that many groups (20 members, a year of weekly meetings, about 2,300 entries a group)
with COPY, each journal hashed in order with its canonical bytes stored (`ledger.journal.sealed`,
audit_bench's loader). Then it verifies the whole programme with `audit.verify_many` in a child
process, with one connection and with one per core, and prints entries/s, the peak RSS of the
verifying process, and the CPU seconds spent: the process's own (Python) and the server's (its
backends serving this database, read from /proc when the server runs on this machine). Target: at
least 100,000 entries/s, memory flat between the sizes. On a machine shared with other work the
wall-clock rate says more about the others than about us; entries per CPU second (Python and
server together) says what idle cores would do.

`--compare DIR` runs the same measurement, in the same window, with the code of another checkout
(e.g. main's, before the stored bytes: it reads the same database and ignores the new column),
alternating with this one, so that the ratio holds under whatever load there is.

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
# The code measured: this checkout's, or (--compare) another's, put first on the path.
sys.path.insert(0, os.environ.get("VERIFY_BENCH_CODE", str(ROOT)))

from sqlalchemy import text  # noqa: E402

from vision_ledger import audit  # noqa: E402
from vision_ledger.actors import Actor  # noqa: E402
from vision_ledger.db import Database, make_engine  # noqa: E402


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the pool's workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _server_cpu(db: Database) -> float | None:
    """CPU seconds of the server's backends connected to this database (all of them this
    process's: the bench's databases are its own), from /proc; None if the server is elsewhere."""
    with db.engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"))
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        try:
            for (pid,) in pids:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        except OSError:
            return None
    return total


def _peak_rss_kb() -> int:
    """This process's own peak RSS (VmHWM). Not getrusage's ru_maxrss: Linux carries that across
    exec, so a child started by the bench would report the bench's own peak (its loader's rows)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(url: str, workers: int) -> None:
    """In a child process: verify programme 1, print seconds, entries, CPU and peak RSS as JSON."""
    db = Database(url)
    with db.unit_of_work(write=False) as s:
        started, cpu = time.perf_counter(), _cpu()
        report = audit.verify_many(s, Actor.system(), programme_id=1, workers=workers)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    server = _server_cpu(db)  # the backends started with this process: their whole CPU time
    own = _peak_rss_kb()
    pool = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest worker
    print(json.dumps({"ok": report.ok, "groups": report.groups_checked, "entries": report.entries_checked,
                      "seconds": seconds, "cpu_seconds": cpu, "server_cpu_seconds": server,
                      "peak_rss_kb": own, "worker_peak_rss_kb": pool}))


def run_child(url: str, workers: int, code: str | None = None) -> dict:
    env = {**os.environ, "VERIFY_BENCH_CODE": code} if code else None
    out = subprocess.run([sys.executable, __file__, "--measure", url, str(workers)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report_line(label: str, r: dict) -> str:
    rate = r["entries"] / r["seconds"]
    server = r["server_cpu_seconds"]
    cpu = r["cpu_seconds"] + (server or 0)
    return (f"  {label}: {r['seconds']:.2f} s, {rate:,.0f} entries/s; CPU: Python {r['cpu_seconds']:.1f} s"
            f" + server {'?' if server is None else f'{server:.1f}'} s = "
            f"{r['entries'] / cpu:,.0f} entries per CPU second; peak RSS {r['peak_rss_kb'] / 1024:.0f} MiB"
            f" (largest worker process {r['worker_peak_rss_kb'] / 1024:.0f} MiB), "
            f"load {os.getloadavg()[0]:.1f}")


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
    parser.add_argument("--compare", metavar="DIR",
                        help="also measure another checkout's code (e.g. /work/main), alternating")
    parser.add_argument("--rounds", type=int, default=1, help="measurements of each code and width")
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
            from benchmarks.audit_bench import load  # this checkout's loader, schema and hashes
            from migrations import upgrade

            upgrade(url)
            print(f"\n== {size} groups ({name})", flush=True)
            started = time.perf_counter()
            _, entries = load(url, size, args.weeks)
            print(f"  built and loaded {entries:,} entries in {time.perf_counter() - started:.0f} s",
                  flush=True)
            codes = [("this", None)] + ([("compare", args.compare)] if args.compare else [])
            for _ in range(args.rounds):
                for workers in sorted({1, cores}):
                    for label, code in codes:
                        r = run_child(url, workers, code)
                        assert r["ok"] and r["entries"] == entries, r
                        print(report_line(f"{label} code, {workers} connection(s)/process(es)", r),
                              flush=True)
                        server = r["server_cpu_seconds"]
                        results.append({
                            "code": label, "groups": size, "entries": entries, "workers": workers,
                            "seconds": round(r["seconds"], 2),
                            "entries_per_s": round(r["entries"] / r["seconds"]),
                            "python_cpu_s": round(r["cpu_seconds"], 1),
                            "server_cpu_s": None if server is None else round(server, 1),
                            "peak_rss_mib": round(r["peak_rss_kb"] / 1024),
                            "worker_peak_rss_mib": round(r["worker_peak_rss_kb"] / 1024),
                            "load": round(os.getloadavg()[0], 1)})
        finally:
            if not args.keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    print(json.dumps(results))


if __name__ == "__main__":
    main()

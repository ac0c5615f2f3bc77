"""Share purchases over HTTP (gunicorn, as `vision-ledger serve` runs it) against the core's own
posting rate, on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/api_bench.py [--requests 2000] [--clients 20] [--workers 4]
                                             [--pg URL | --no-pg] [--allow-no-fsync]

Two runs per database: the clients writing to as many different groups (the target: p99 under
100 ms), then all of them to one group, which its lock serialises (the design: the ratio of the two
is what one group's lock costs). A server whose commits are not durable is refused unless
--allow-no-fsync.

Without --pg, PostgreSQL is started with `bash scripts/pg.sh start` (a throwaway server) and a
fresh database is created in it. Prints requests per second, p50/p99 latency, and the core's rate
(`savings.buy_shares` in a loop, in-process, one commit per entry).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import requests
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.auth import create_token  # noqa: E402
from migrations import upgrade  # noqa: E402
from vision_ledger import cycles, groups, meetings, savings  # noqa: E402
from vision_ledger.actors import Actor  # noqa: E402
from vision_ledger.db import Database, make_engine  # noqa: E402
from vision_ledger.models import Member  # noqa: E402
from vision_ledger.money import Money  # noqa: E402

MEMBERS = 20


def fresh_url(kind: str, pg_base: str | None) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='vl-bench-')}/bench.sqlite3"
    assert pg_base
    admin = make_engine(pg_base, isolation_level="AUTOCOMMIT")
    name = f"vl_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return pg_base.rsplit("/", 1)[0] + "/" + name


def setup(url: str, groups_count: int) -> dict[str, object]:
    """One group per client (a treasurer each, as in the field), 20 members, an open meeting; share
    purchases unbounded per meeting for the run."""
    upgrade(url)
    db = Database(url)
    system = Actor.system("bench")
    made: list[dict[str, object]] = []
    with db.unit_of_work() as s:
        programme = groups.create_programme(s, system, name="Bench", country="KE", currency="KES",
                                            policy={"loan_min": 65000, "loan_max": 260000,
                                                    "shares_max": 10**9})
        for n in range(groups_count):
            group = groups.create_group(s, system, programme, name=f"Bench VSLA {n}",
                                        schedule="FREQ=WEEKLY", timezone="Africa/Nairobi")
            ids = [groups.add_member(s, system, group, name=f"M{i}", phone=f"+2547{n:03d}{i:05d}").id
                   for i in range(MEMBERS)]
            cycles.start_cycle(s, system, group, share_price=Money.parse("100", "KES"),
                               social_fund_contribution=Money.parse("20", "KES"),
                               start_date=date.today() - timedelta(weeks=1))
            meeting = meetings.open_meeting(s, system, group, meeting_date=date.today())
            _, token = create_token(s, role="treasurer", group_id=group.id, name=f"bench {n}")
            made.append({"group": group.id, "meeting": meeting.id, "members": ids, "token": token})
    return {"groups": made, "db": db}


def core_rate(env: dict[str, object], n: int) -> float:
    """Entries per second posted by the core itself, one unit of work (commit) per entry, rotating
    over the groups like the HTTP clients do."""
    db: Database = env["db"]  # type: ignore[assignment]
    made: list[dict] = env["groups"]  # type: ignore[assignment]
    t0 = time.perf_counter()
    for i in range(n):
        one = made[i % len(made)]
        treasurer = Actor(role="treasurer", channel="cli", group_id=one["group"], name="bench")
        with db.unit_of_work() as s:
            group = groups.get_group(s, treasurer, one["group"])
            member = s.get(Member, one["members"][i % MEMBERS])
            savings.buy_shares(s, treasurer, group, member, 1, idempotency_key=f"core-{i}")
    return n / (time.perf_counter() - t0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, workers: int, threads: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cmd = [sys.executable, "-m", "api.cli", "--database", url, "serve", "--port", str(port),
           "--workers", str(workers), "--threads", str(threads)]
    # `serve` refuses to start without a PIN pepper: a throwaway one (the bench sets no PINs).
    pepper = os.environ.get("VISION_PIN_PEPPER") or secrets.token_urlsafe(32)
    env = {**os.environ, "VISION_PIN_PEPPER": pepper}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if requests.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except requests.RequestException:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def http_run(env: dict[str, object], base: str, total: int, clients: int, tag: str,
             one_group: bool = False) -> dict[str, float]:
    made: list[dict] = env["groups"]  # type: ignore[assignment]
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    per_client = total // clients
    barrier = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        mine: list[float] = []
        one = made[0 if one_group else c % len(made)]
        path = f"{base}/api/groups/{one['group']}/meetings/{one['meeting']}/share-purchases"
        members: list[int] = one["members"]
        with requests.Session() as http:
            http.headers["Authorization"] = f"Bearer {one['token']}"
            # warm the connection (not counted)
            http.get(f"{base}/api/me", timeout=30)
            barrier.wait()
            for i in range(per_client):
                body = {"member_id": members[(c + i) % len(members)], "shares": 1}
                t = time.perf_counter()
                r = http.post(path, json=body, headers={"Idempotency-Key": f"{tag}-{c}-{i}"}, timeout=60)
                mine.append(time.perf_counter() - t)
                if r.status_code != 201:
                    errors.append(r.status_code)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000, "errors": len(errors),
            "requests": len(latencies)}


def bench(kind: str, pg_base: str | None, args: argparse.Namespace) -> None:
    url = fresh_url(kind, pg_base)
    if kind != "sqlite" and not args.allow_no_fsync:
        with make_engine(url).connect() as conn:
            if conn.exec_driver_sql("SHOW fsync").scalar() != "on":
                raise SystemExit("PostgreSQL runs with fsync=off: not durable; pass --allow-no-fsync")
    env = setup(url, args.clients)
    rate = core_rate(env, args.core)
    proc, base = start_server(url, args.workers, args.threads)
    try:
        http_run(env, base, args.clients * 5, args.clients, "warm")  # workers load, caches fill
        result = http_run(env, base, args.requests, args.clients, "run")
        shared = http_run(env, base, args.requests, args.clients, "one", one_group=True)
    finally:
        proc.terminate()
        proc.wait(10)
        env["db"].engine.dispose()  # type: ignore[attr-defined]
    share = result["rps"] / rate * 100
    print(f"{kind:<10} HTTP {result['rps']:7.0f} req/s  p50 {result['p50']:6.1f} ms  "
          f"p99 {result['p99']:6.1f} ms  ({result['requests']} requests, {result['errors']} errors, "
          f"{args.clients} clients, {args.workers} workers x {args.threads} threads)")
    print(f"{'':<10} one group: {shared['rps']:7.0f} req/s  p50 {shared['p50']:6.1f} ms  "
          f"p99 {shared['p99']:6.1f} ms  ({shared['errors']} errors): "
          f"p99 x{shared['p99'] / result['p99']:.1f} of the clients on their own groups (the group's lock)")
    print(f"{'':<10} core {rate:7.0f} entries/s in-process (one commit each);  HTTP = {share:.0f}% of core")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--core", type=int, default=1000, help="entries for the core's own rate")
    parser.add_argument("--pg", help="PostgreSQL URL (a fresh database is created in it)")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--allow-no-fsync", action="store_true",
                        help="measure a PostgreSQL server running with fsync=off (not durable)")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}")
    bench("sqlite", None, args)
    if not args.no_pg:
        pg = args.pg or subprocess.run(["bash", str(ROOT / "scripts" / "pg.sh"), "start"], check=True,
                                       capture_output=True, text=True).stdout.strip().splitlines()[-1]
        bench("postgresql", pg, args)


if __name__ == "__main__":
    main()

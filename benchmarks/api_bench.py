"""Share purchases over HTTP (gunicorn, as `vision-ledger serve` runs it) against the core's own
posting rate, on SQLite and PostgreSQL, at two sizes of history.

    .venv/bin/python benchmarks/api_bench.py [--requests 2000] [--clients 20] [--workers 2]
        [--threads 4] [--heavy-groups 2 --heavy-history 100000] [--compare /work/main]
        [--pg URL | --no-pg] [--allow-no-fsync]

Two runs per database: the clients writing to as many different groups (the target: p99 under
100 ms), then all of them to one group, which its lock serialises (the design: the ratio of the two
is what one group's lock costs). A server whose commits are not durable is refused unless
--allow-no-fsync.

Two sizes in one run (issue 12, target 6): the last --heavy-groups groups are given
--heavy-history entries of history through the core's `ledger.post` before the run (the others
have none but what the run adds), and the latency of the clients writing to them is reported
beside the others': a share purchase must cost the same whatever the group's history.

The clients are lean (one keep-alive `http.client` connection each, no `requests`), because
every millisecond of their Python is taken from the server's two cores; the bench reports the CPU
each side spent per request (the client process, gunicorn's processes, and PostgreSQL's backends
for the bench's database), read from /proc.

--parts N instead times each part of N share purchases in-process (the CPU of the request's own
thread, which other processes' load does not stretch): authentication, scope, validation, lock,
idempotency, view, core, dump, commit.

--compare ROOT serves the same database with the code of another checkout too (e.g. /work/main),
alternating the two servers run by run, so old and new code are compared under the same load.

Without --pg, PostgreSQL is started with `bash scripts/pg.sh start` (a throwaway server) and a
fresh database is created in it (and dropped at the end). Prints requests per second, p50/p99
latency, the CPU per request, and the core's rate (`savings.buy_shares` in a loop, in-process,
one commit per entry).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from api.auth import create_token  # noqa: E402
from migrations import upgrade  # noqa: E402
from vision_ledger import cycles, groups, ledger, meetings, savings  # noqa: E402
from vision_ledger.actors import Actor  # noqa: E402
from vision_ledger.db import Database, make_engine  # noqa: E402
from vision_ledger.ledger import credit, debit  # noqa: E402
from vision_ledger.models import Member  # noqa: E402
from vision_ledger.money import Money  # noqa: E402

MEMBERS = 20
HISTORY_BATCH = 2000  # entries of history posted per transaction
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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


def drop(url: str) -> None:
    """Drop a PostgreSQL database the bench made (a SQLite file is left in its temporary dir)."""
    if url.startswith("sqlite"):
        return
    base, name = url.rsplit("/", 1)
    admin = make_engine(base + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def setup(url: str, groups_count: int, heavy_groups: int = 0, heavy_history: int = 0) -> dict[str, Any]:
    """One group per client (a treasurer each, as in the field), 20 members, an open meeting; share
    purchases unbounded per meeting for the run. The last `heavy_groups` groups get
    `heavy_history` entries of history."""
    upgrade(url)
    db = Database(url)
    system = Actor.system("bench")
    made: list[dict[str, Any]] = []
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
            made.append({"group": group.id, "meeting": meeting.id, "members": ids, "token": token,
                         "heavy": n >= groups_count - heavy_groups})
    started = time.perf_counter()
    for one in made:
        if one["heavy"]:
            grow_history(db, one, heavy_history)
    if heavy_groups:
        print(f"  history: {heavy_groups} groups x {heavy_history:,} entries in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
    return {"groups": made, "db": db}


def grow_history(db: Database, one: dict[str, Any], entries: int) -> None:
    """`entries` share purchases of history through `ledger.post`, many per transaction."""
    actor = Actor.system("bench")
    amount = Money(10000, "KES")
    members: list[int] = one["members"]
    done = 0
    while done < entries:
        with db.unit_of_work() as s:
            group = ledger.lock_group(s, one["group"])
            for n in range(done, min(done + HISTORY_BATCH, entries)):
                member = members[n % MEMBERS]
                ledger.post(s, group, actor, kind="share_purchase", member_id=member,
                            lines=[debit("loan_fund_cash", amount),
                                   credit("member_shares", amount, member, 1)],
                            request={"op": "history", "n": n},
                            effective_date=date.today() - timedelta(days=1 + n % 300))
        done = min(done + HISTORY_BATCH, entries)


def core_rate(env: dict[str, Any], n: int) -> float:
    """Entries per second posted by the core itself, one unit of work (commit) per entry, rotating
    over the groups like the HTTP clients do."""
    db: Database = env["db"]
    made: list[dict[str, Any]] = env["groups"]
    t0 = time.perf_counter()
    for i in range(n):
        one = made[i % len(made)]
        treasurer = Actor(role="treasurer", channel="cli", group_id=one["group"], name="bench")
        with db.unit_of_work() as s:
            group = groups.get_group(s, treasurer, one["group"])
            member = s.get(Member, one["members"][i % MEMBERS])
            savings.buy_shares(s, treasurer, group, member, 1, idempotency_key=f"core-{i}")
    return n / (time.perf_counter() - t0)


# --- the server and the CPU it spends ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, workers: int, threads: int, root: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`vision-ledger serve` from the checkout at `root` (its code first on the path)."""
    port = free_port()
    cmd = [sys.executable, "-m", "api.cli", "--database", url, "serve", "--port", str(port),
           "--workers", str(workers), "--threads", str(threads)]
    # `serve` refuses to start without a PIN pepper: a throwaway one (the bench sets no PINs).
    pepper = os.environ.get("VISION_PIN_PEPPER") or secrets.token_urlsafe(32)
    env = {**os.environ, "VISION_PIN_PEPPER": pepper, "PYTHONPATH": str(root)}
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop gunicorn; on a loaded machine its graceful shutdown can take a while: then kill it."""
    server.terminate()
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process, from /proc (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _backends(database_name: str) -> list[int]:
    """PostgreSQL's backend processes serving `database_name` (their title names it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if title.startswith("postgres: ") and f" {database_name} " in title:
                found.append(int(entry.name))
    return found


def cpu_snapshot(server: int, database_name: str | None) -> dict[str, dict[int, float]]:
    snap = {"server": {pid: _cpu_seconds(pid) for pid in [server, *_children(server)]}, "db": {}}
    if database_name:
        snap["db"] = {pid: _cpu_seconds(pid) for pid in _backends(database_name)}
    return snap


def cpu_spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    return {side: sum(t - before[side].get(pid, 0.0) for pid, t in after[side].items())
            for side in ("server", "db")}


# --- the clients ---------------------------------------------------------------------------------


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    heavy: list[float] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)

    def summary(self) -> dict[str, float]:
        every = sorted(self.latencies + self.heavy)
        light = sorted(self.latencies)
        heavy = sorted(self.heavy)
        return {"rps": len(every) / self.elapsed, "p50": percentile(every, 50), "p99": percentile(every, 99),
                "light_p50": percentile(light, 50), "light_p99": percentile(light, 99),
                "heavy_p50": percentile(heavy, 50), "heavy_p99": percentile(heavy, 99),
                "requests": len(every), "errors": len(self.errors),
                **{f"cpu_{side}": seconds / max(1, len(every)) * 1000 for side, seconds in self.cpu.items()}}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    return values[min(len(values) - 1, max(0, int(len(values) * p / 100 + 0.5) - 1))] * 1000


def http_run(env: dict[str, Any], server: subprocess.Popen[bytes], port: int, total: int, clients: int,
             tag: str, database_name: str | None, one_group: bool = False) -> Run:
    made: list[dict[str, Any]] = env["groups"]
    run = Run()
    lock = threading.Lock()
    per_client = total // clients
    barrier = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        mine: list[float] = []
        one = made[0 if one_group else c % len(made)]
        path = f"/api/groups/{one['group']}/meetings/{one['meeting']}/share-purchases"
        members: list[int] = one["members"]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        auth = f"Bearer {one['token']}"
        conn.request("GET", "/api/me", headers={"Authorization": auth})  # connect (not counted)
        conn.getresponse().read()
        barrier.wait()
        for i in range(per_client):
            body = json.dumps({"member_id": members[(c + i) % len(members)], "shares": 1})
            t = time.perf_counter()
            conn.request("POST", path, body=body, headers={
                "Authorization": auth, "Content-Type": "application/json",
                "Idempotency-Key": f"{tag}-{c}-{i}"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - t)
            if response.status != 201:
                run.errors.append(response.status)
        conn.close()
        with lock:
            (run.heavy if one["heavy"] and not one_group else run.latencies).extend(mine)

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    before = cpu_snapshot(server.pid, database_name)
    client_before = time.process_time()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    run.elapsed = time.perf_counter() - t0
    run.cpu = {"client": time.process_time() - client_before,
               **cpu_spent(before, cpu_snapshot(server.pid, database_name))}
    return run


# --- where a request's CPU goes (--parts) --------------------------------------------------------


def parts(kind: str, pg_base: str | None, n: int) -> None:
    """CPU of the request's own thread (`time.thread_time`) spent in each part of a share purchase,
    through the app in-process (Flask test client): robust to other processes' load, which
    stretches wall-clock figures but not a thread's own CPU."""
    import functools

    import marshmallow
    import webargs.core
    from sqlalchemy.orm import Session

    import api.auth
    import api.idempotency
    import api.schemas.ledger
    import api.views.meetings
    from api.app import create_app

    spent: dict[str, float] = {}

    def timed(owner: Any, name: str, label: str) -> None:
        spent[label] = 0.0  # printed in this order
        inner = getattr(owner, name)

        @functools.wraps(inner)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[label] += time.thread_time() - started

        setattr(owner, name, wrapper)

    timed(api.auth, "authenticate", "authentication (counts, token, scope)")
    timed(api.auth.groups, "get_group", "scope check: the path's group")
    timed(webargs.core.Parser, "parse", "body validation")
    timed(api.idempotency.ledger, "lock_group", "the group's lock")
    timed(api.idempotency, "_lookup", "idempotency: key lookup")
    timed(api.views.meetings, "_the_open_meeting", "the open meeting")
    timed(api.views.meetings, "_member", "the member")
    timed(api.views.meetings.savings, "buy_shares", "savings.buy_shares (core)")
    timed(marshmallow.Schema, "dump", "response dump")
    timed(api.schemas.ledger, "account_keys", "  of which account keys")
    timed(api.idempotency, "store", "idempotency: stored response")
    timed(Session, "commit", "commits")
    url = fresh_url(kind, pg_base)
    try:
        env = setup(url, 1)
        app = create_app({"DATABASE": env["db"]})
        client = app.test_client()
        one = env["groups"][0]
        path = f"/api/groups/{one['group']}/meetings/{one['meeting']}/share-purchases"

        def purchases(count: int, tag: str) -> float:
            started = time.thread_time()
            for i in range(count):
                r = client.post(path, json={"member_id": one["members"][i % MEMBERS], "shares": 1},
                                headers={"Authorization": f"Bearer {one['token']}",
                                         "Idempotency-Key": f"{tag}-{i}"})
                assert r.status_code == 201, r.get_data(as_text=True)
            return time.thread_time() - started

        purchases(50, "warm")
        spent.update(dict.fromkeys(spent, 0.0))
        total = purchases(n, "parts")
        print(f"{kind}: CPU of the request's thread per share purchase, {n} requests in-process, "
              f"load {os.getloadavg()[0]:.1f}")
        for label, seconds in spent.items():
            print(f"  {label:<40} {seconds / n * 1000:6.2f} ms")
        print(f"  {'whole request (test client included)':<40} {total / n * 1000:6.2f} ms", flush=True)
        env["db"].engine.dispose()
    finally:
        drop(url)


# --- the runs ------------------------------------------------------------------------------------


def bench(kind: str, pg_base: str | None, args: argparse.Namespace) -> None:
    url = fresh_url(kind, pg_base)
    database_name = None if kind == "sqlite" else url.rsplit("/", 1)[1]
    try:
        if kind != "sqlite" and not args.allow_no_fsync:
            engine = make_engine(url)
            with engine.connect() as conn:
                fsync = conn.exec_driver_sql("SHOW fsync").scalar()
            engine.dispose()
            if fsync != "on":
                raise SystemExit("PostgreSQL runs with fsync=off: not durable; pass --allow-no-fsync")
        env = setup(url, args.clients, args.heavy_groups, args.heavy_history)
        rate = core_rate(env, args.core)
        env["db"].engine.dispose()
        roots = [("new", ROOT)] + ([("old", Path(args.compare).resolve())] if args.compare else [])
        results: dict[str, list[tuple[Run, Run]]] = {name: [] for name, _ in roots}
        for rnd in range(args.rounds):
            for name, root in roots if rnd % 2 == 0 else roots[::-1]:
                server, port = start_server(url, args.workers, args.threads, root)
                try:
                    tag = f"{name}{rnd}"
                    http_run(env, server, port, args.clients * 5, args.clients, f"warm-{tag}", None)
                    own = http_run(env, server, port, args.requests, args.clients, f"run-{tag}",
                                   database_name)
                    one = http_run(env, server, port, args.requests, args.clients, f"one-{tag}",
                                   database_name, one_group=True)
                finally:
                    stop(server)
                results[name].append((own, one))
                report(kind, name, rnd, own, one, args)
        print(f"{kind:<10} core {rate:7.0f} entries/s in-process (one commit each); load "
              f"{os.getloadavg()[0]:.1f}", flush=True)
    finally:
        drop(url)


def report(kind: str, name: str, rnd: int, own_run: Run, one_run: Run, args: argparse.Namespace) -> None:
    own, one = own_run.summary(), one_run.summary()
    print(f"{kind:<10} {name} round {rnd + 1}: load {os.getloadavg()[0]:.1f}, "
          f"{args.workers} workers x {args.threads} threads, {args.clients} clients")
    print(f"  own groups: {own['rps']:6.0f} req/s  p50 {own['p50']:6.1f} ms  p99 {own['p99']:6.1f} ms  "
          f"({own['requests']} requests, {own['errors']} errors)")
    if args.heavy_groups:
        print(f"    groups with no history:        p50 {own['light_p50']:6.1f}  "
              f"p99 {own['light_p99']:6.1f} ms")
        print(f"    groups with {args.heavy_history:>7,} entries:    p50 {own['heavy_p50']:6.1f}  "
              f"p99 {own['heavy_p99']:6.1f} ms")
    print(f"    CPU per request: server {own['cpu_server']:5.1f} ms, client {own['cpu_client']:4.1f} ms"
          + (f", PostgreSQL {own['cpu_db']:4.1f} ms" if kind != "sqlite" else ""))
    print(f"  one group:  {one['rps']:6.0f} req/s  p50 {one['p50']:6.1f} ms  p99 {one['p99']:6.1f} ms  "
          f"({one['errors']} errors): p99 x{one['p99'] / own['p99']:.1f} of the clients on their own "
          f"groups (the group's lock)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (serve's default: 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (serve's default: 4)")
    parser.add_argument("--heavy-groups", type=int, default=2,
                        help="groups (of --clients) given --heavy-history entries of history")
    parser.add_argument("--heavy-history", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1, help="rounds per server (alternated with --compare)")
    parser.add_argument("--compare", metavar="ROOT", help="also serve with the code of this checkout")
    parser.add_argument("--core", type=int, default=1000, help="entries for the core's own rate")
    parser.add_argument("--pg", help="PostgreSQL URL (a fresh database is created in it)")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--allow-no-fsync", action="store_true",
                        help="measure a PostgreSQL server running with fsync=off (not durable)")
    parser.add_argument("--parts", type=int, metavar="N",
                        help="instead: the CPU of each part of N share purchases, in-process")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load: {os.getloadavg()[0]:.1f}", flush=True)
    if args.parts:
        if not args.no_sqlite:
            parts("sqlite", None, args.parts)
        if args.pg:
            parts("postgresql", args.pg, args.parts)
        return
    if not args.no_sqlite:
        bench("sqlite", None, args)
    if not args.no_pg:
        pg = args.pg or subprocess.run(["bash", str(ROOT / "scripts" / "pg.sh"), "start"], check=True,
                                       capture_output=True, text=True).stdout.strip().splitlines()[-1]
        bench("postgresql", pg, args)


if __name__ == "__main__":
    main()

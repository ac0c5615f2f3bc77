"""USSD hop latency under load: concurrent treasurer conversations over loopback HTTP.

    .venv/bin/python benchmarks/ussd_bench.py [--db sqlite|postgresql://...] [--sessions 50]
        [--history 1000] [--heavy-groups 2 --heavy-history 100000] [--think 0 2] [--runs 2]
        [--allow-no-fsync] [--baseline /work/main]

Builds a fresh database (SQLite file in a temporary directory, or a new PostgreSQL database on the
server the URL names), one group of 20 members per session, each with `--history` entries of past
history (`--heavy-groups` of them with `--heavy-history`) loaded through the core's `ledger.post` in
one transaction per 5,000 entries. Serves a minimal app (the USSD blueprint only) with gunicorn's
Python API (gthread workers) on 127.0.0.1, then runs every session at once, each a whole treasurer
conversation: open the meeting (PIN), the savings round of 20 members, group balance, close the
meeting. Hop latency is measured by the client (request sent -> page received). With --runs N the
conversations are held N times on the one database (a new server and a new meeting each time).
With --baseline DIR each measurement is taken twice back to back on the one database, first
serving the code of another checkout (e.g. main's), then this one's: old and new under the same
load, which is what a comparison on a shared machine needs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import secrets
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret"
PIN = "4321"
MEMBERS = 20
BATCH = 5000


# --- the database -----------------------------------------------------------------------------


def fresh_url(db: str) -> str:
    from sqlalchemy import text

    from vision_ledger.db import make_engine

    if db == "sqlite":
        return f"sqlite:///{tempfile.mkdtemp(prefix='ussd-bench-')}/ledger.sqlite3"
    admin = make_engine(db, isolation_level="AUTOCOMMIT")
    name = f"ussd_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return db.rsplit("/", 1)[0] + "/" + name


def build(url: str, sessions: int, history: int, heavy_groups: int, heavy_history: int) -> list[dict]:
    """Groups, members (member 1 is the treasurer, PIN 4321), an open cycle, and history."""
    from migrations import upgrade
    from tests.factories import Factory
    from vision_ledger import ledger, pins
    from vision_ledger.actors import Actor
    from vision_ledger.db import Database
    from vision_ledger.ledger import credit, debit
    from vision_ledger.money import Money

    upgrade(url)
    db = Database(url)
    pins.configure(os.environ["VISION_PIN_PEPPER"])
    pin_hash = pins.hash_pin(PIN)
    groups = []
    with db.unit_of_work() as session:
        factory = Factory(session)
        programme = factory.programme()
        for i in range(sessions):
            group = factory.group(programme, members=MEMBERS, name=f"Group {i:03d}")
            factory.cycle(group, start=date.today() - timedelta(weeks=30))
            members = factory.members(group)
            members[0].pin_hash, members[0].pin_must_change = pin_hash, False
            entries = heavy_history if i < heavy_groups else history
            groups.append({"id": group.id, "phone": members[0].phone, "members": [m.id for m in members],
                           "history": entries})
    actor = Actor.system("bench")
    started = time.perf_counter()
    total = 0
    for g in groups:
        amount = Money(10000, "KES")
        done = 0
        while done < g["history"]:
            with db.unit_of_work() as session:
                group = ledger.lock_group(session, g["id"])
                for n in range(done, min(done + BATCH, g["history"])):
                    member = g["members"][n % MEMBERS]
                    day = date.today() - timedelta(weeks=30) + timedelta(days=n % 200)
                    ledger.post(session, group, actor, kind="share_purchase", member_id=member,
                                lines=[debit("loan_fund_cash", amount),
                                       credit("member_shares", amount, member, 1)],
                                request={"op": "history", "n": n}, effective_date=day)
                done = min(done + BATCH, g["history"])
        total += g["history"]
    print(f"history: {total:,} entries loaded in {time.perf_counter() - started:.0f} s")
    db.engine.dispose()
    return groups


# --- the server -------------------------------------------------------------------------------


def serve(url: str, port: int, workers: int, threads: int, code: str) -> None:
    # The code served: this checkout's, or another's (--baseline) on the same database. This
    # spawned process has imported nothing of the project yet.
    sys.path.insert(0, code)
    from flask import Flask
    from gunicorn.app.base import BaseApplication

    class App(BaseApplication):
        def load_config(self) -> None:
            for key, value in {"bind": f"127.0.0.1:{port}", "workers": workers, "threads": threads,
                               "worker_class": "gthread", "loglevel": "warning", "accesslog": None,
                               # Idle keep-alive connections outlive the longest think time (the
                               # default 2 s would close them under a client about to send: reset).
                               "timeout": 60, "keepalive": 30}.items():
                self.cfg.set(key, value)

        def load(self) -> Flask:  # in each worker, after the fork
            from ussd.web import blueprint
            from vision_ledger import pins
            from vision_ledger.db import Database
            from vision_ledger.ratelimits import Limit
            from vision_ledger.settings import Settings

            settings = Settings.from_env(os.environ)
            pins.configure(settings.pin_pepper)
            app = Flask("ussd-bench")
            # The bench measures latency, not the per-phone hop limit (30 a minute by default): its
            # exponential think times put some hops closer together than a person on a handset does.
            app.config.update(DATABASE=Database(url, pool_size=threads + 2), SETTINGS=replace(
                settings, ussd_secret=SECRET, ussd_hop_limit=Limit(1000, 60)))
            app.register_blueprint(blueprint)
            return app

    import ussd

    print(f"  serving {Path(ussd.__file__).parent}", flush=True)
    App().run()


def wait_for(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


# --- the client -------------------------------------------------------------------------------

AMOUNT = re.compile(r"KES ([\d,]+(?:\.\d+)?)")


class Conversation:
    def __init__(self, base: str, phone: str, think: float = 0.0) -> None:
        import requests

        self.think = think
        self.http = requests.Session()
        self.base = base
        self.phone = phone
        self.sid = "ATUid_" + uuid.uuid4().hex
        self.inputs: list[str] = []
        self.latencies: list[tuple[str, float]] = []
        self.shares: list[dict[str, float]] = []  # the server's Server-Timing, per hop
        self.busy = 0

    def hop(self, value: str | None, label: str = "menu") -> str:
        if value is not None:
            self.inputs.append(value)
        if self.think:
            time.sleep(random.uniform(0, 2 * self.think))
        form = {"sessionId": self.sid, "serviceCode": "*384*44135#", "phoneNumber": self.phone,
                "networkCode": "63902", "text": "*".join(self.inputs)}
        while True:
            started = time.perf_counter()
            response = self.http.post(self.base, data=form, timeout=30)
            self.latencies.append((label, (time.perf_counter() - started) * 1000))
            self.shares.append(server_timing(response.headers.get("Server-Timing", "")))
            body = response.text
            if response.status_code != 200 or not body.startswith(("CON ", "END ")):
                raise RuntimeError(f"bad answer {response.status_code}: {body[:80]}")
            if response.headers.get("X-USSD-Screen") != "busy":
                return body
            self.busy += 1  # the treasurer dials again a few seconds later (the server keeps no
            time.sleep(random.uniform(2, 6))  # session state: the same text finds the same page)

    def run(self) -> None:
        self.hop(None, "dial")
        self.hop("1", "open")  # open meeting
        self.hop("1", "open")  # all present
        page = self.hop(PIN, "pin")
        assert "open" in page.lower(), page
        page = self.hop("1")  # savings round
        for i in range(MEMBERS):
            page = self.hop("2" if i % 3 else "20", "round")
        assert "done" in page, page
        self.hop("00")
        page = self.hop("10", "balance")  # group balance
        loan, social = (a.replace(",", "") for a in AMOUNT.findall(page)[:2])
        self.hop("00")
        self.hop("9")  # close
        self.hop(loan, "count")
        self.hop(social, "count")
        page = self.hop("1", "close")
        assert "closed" in page.lower(), page


def server_timing(header: str) -> dict[str, float]:
    """'py;dur=1.0, db;dur=2.0, lock;dur=0.5' -> {'py': 1.0, 'db': 2.0, 'lock': 0.5} (and queue)."""
    found: dict[str, float] = {}
    for part in header.split(","):
        name, _, rest = part.strip().partition(";dur=")
        if name and rest:
            found[name] = float(rest)
    return found


def shares(timings: list[dict[str, float]]) -> str:
    kinds = ("py", "db", "lock", "queue")  # queue: waiting for a turn to walk (SQLite)
    totals = {k: sum(t.get(k, 0.0) for t in timings) for k in kinds}
    whole = sum(totals.values()) or 1.0
    n = max(len(timings), 1)
    return "  server time per hop: " + ", ".join(
        f"{k} {totals[k] / n:.1f} ms ({totals[k] / whole:.0%})" for k in kinds)


def durable(url: str) -> dict[str, str]:
    """The settings that decide whether a commit is durable, as the server's connections see them."""
    from vision_ledger.db import make_engine

    engine = make_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    names = ("journal_mode", "synchronous") if sqlite else ("fsync", "synchronous_commit")
    verb = "PRAGMA" if sqlite else "SHOW"
    with engine.connect() as conn:
        found = {n: str(conn.exec_driver_sql(f"{verb} {n}").scalar()) for n in names}
    found["durable"] = str(found["synchronous"] == "2" if sqlite  # FULL
                           else found["fsync"] == "on" and found["synchronous_commit"] != "off")
    engine.dispose()
    return found


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def report(title: str, values: list[float]) -> str:
    if not values:
        return f"  {title:<34} -"
    return (f"  {title:<34} n={len(values):>5}  p50={statistics.median(values):6.1f} ms  "
            f"p99={percentile(values, 99):6.1f} ms  max={max(values):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL server URL")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--history", type=int, default=1000)
    parser.add_argument("--heavy-groups", type=int, default=0)
    parser.add_argument("--heavy-history", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    # Threads enough for every session: a hop waits in the app's admission line (where its
    # deadline is known), not in gunicorn's queue before the app sees it.
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--think", type=float, nargs="+", default=[0.0],
                        help="mean seconds a person takes per hop (0: hops back to back); several: "
                             "one measurement each on the one database")
    parser.add_argument("--allow-no-fsync", action="store_true",
                        help="measure a database whose commits are not durable (labelled so)")
    parser.add_argument("--baseline", metavar="DIR",
                        help="another checkout (e.g. /work/main) whose USSD code is measured before "
                             "this one's in each run, on the same database")
    parser.add_argument("--runs", type=int, default=1,
                        help="measure this many times on the one database (each run a new meeting)")
    args = parser.parse_args()
    # PINs are peppered (README: Security): a throwaway pepper for this run's database and server
    # (a spawned process, which reads its settings from the environment it inherits).
    os.environ.setdefault("VISION_PIN_PEPPER", secrets.token_urlsafe(32))

    url = fresh_url(args.db)
    settings = durable(url)
    print(f"database: {url.split('@')[-1]} {settings}")
    if settings["durable"] != "True":
        if not args.allow_no_fsync:
            raise SystemExit("the database's commits are not durable; "
                             "pass --allow-no-fsync to measure it anyway")
        print("NOT DURABLE: figures of a database that may lose acknowledged commits")
    groups = build(url, args.sessions, args.history, args.heavy_groups, args.heavy_history)
    for think in args.think:
        for run in range(1, args.runs + 1):
            for label, code in ([("baseline " + args.baseline, args.baseline)] if args.baseline else []) + [
                    ("this checkout", str(ROOT))]:
                print(f"--- think {think} s, run {run} of {args.runs}, {label} (load average "
                      f"{', '.join(f'{x:.2f}' for x in os.getloadavg())})")
                measure(url, groups, args, think, code)


def measure(url: str, groups: list[dict], args: argparse.Namespace, think: float, code: str) -> None:
    """One run: serve the database, hold every conversation at once, print the latencies."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = multiprocessing.get_context("spawn").Process(
        target=serve, args=(url, port, args.workers, args.threads, code), daemon=True)
    server.start()
    try:
        wait_for(port)
        base = f"http://127.0.0.1:{port}/ussd/{SECRET}"
        # One warm-up hop per worker process (imports, catalogs, connection pools).
        for g in groups[:4]:
            Conversation(base, g["phone"]).hop(None)
        conversations = [Conversation(base, g["phone"], think) for g in groups]
        errors: list[BaseException] = []

        def run(c: Conversation) -> None:
            try:
                c.run()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=run, args=(c,)) for c in conversations]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.join(10)
    if errors:
        print(f"{len(errors)} conversations failed, first: {errors[0]!r}")
    heavy_ids = {g["id"] for g in groups if g["history"] == args.heavy_history and args.heavy_groups}
    all_hops = [ms for c in conversations for _, ms in c.latencies]
    heavy = [ms for c, g in zip(conversations, groups, strict=True) if g["id"] in heavy_ids
             for _, ms in c.latencies]
    light = [ms for c, g in zip(conversations, groups, strict=True) if g["id"] not in heavy_ids
             for _, ms in c.latencies]
    print(f"{args.sessions} concurrent treasurer conversations, {len(all_hops)} hops in {elapsed:.1f} s "
          f"({len(all_hops) / elapsed:.0f} hops/s, think {think} s); "
          f"server: gunicorn gthread {args.workers}x{args.threads}")
    print(report("all hops", all_hops))
    print(f"  answered busy (and dialled again): {sum(c.busy for c in conversations)}")
    print(shares([t for c in conversations for t in c.shares]))
    print(report("hops without the PIN check", [ms for c in conversations for k, ms in c.latencies
                                                 if k != "pin"]))
    print(report("the PIN hop (scrypt, once a session)", [ms for c in conversations for k, ms in c.latencies
                                                           if k == "pin"]))
    print(report("savings-round hops (2 entries each)", [ms for c in conversations for k, ms in c.latencies
                                                          if k == "round"]))
    # Every other kind of hop, with its own server time, so a tail can be traced to its hops.
    for label, title in (("dial", "dialling in (the menu)"), ("open", "opening the meeting"),
                         ("menu", "menu pages"), ("balance", "the group's balance"),
                         ("count", "closing counts typed"), ("close", "closing the meeting")):
        timings = [(ms, t) for c in conversations for (k, ms), t in zip(c.latencies, c.shares, strict=True)
                   if k == label]
        if timings:
            print(report(title, [ms for ms, _ in timings]) + "\n  " +
                  shares([t for _, t in timings]).strip())
    if heavy_ids:
        print(report(f"groups with {args.heavy_history:,} entries", heavy))
        print(report(f"groups with {args.history:,} entries", light))
    sys.stdout.flush()

if __name__ == "__main__":
    main()

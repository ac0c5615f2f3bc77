"""SMS worker throughput against the AT stand-in, and a meeting's statements from close to AT.

    python -m benchmarks.sms_bench                       # SQLite (temp file), concurrency 8
    python -m benchmarks.sms_bench -n 1000 10000 --concurrency 8 32 \
        --pg "$(bash scripts/pg.sh start | tail -1)"

1. drain: n queued receipts (two sizes by default, 1,000 and 10,000: the rate should not fall as
   the outbox grows), the stand-in answering each request after --latency seconds (AT's
   own latency is of that order); one worker with the given thread-pool size; messages per second.
2. meeting: a group of 20 members, each buys shares at an open meeting (receipts sent first);
   then the meeting closes with a running worker (default poll 0.5 s): seconds from the close's
   commit to the 20th statement handed to AT. Target: under 5 s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections import Counter
from dataclasses import replace

from sqlalchemy import insert, select

from benchmarks import durability
from migrations import upgrade
from sms.gateway import AfricasTalkingGateway
from sms.models import SmsAttempt
from sms.settings import Settings
from sms.worker import Worker
from tests.factories import Factory
from tests.sms.conftest import receipt_row
from tests.sms.standin import StandIn
from vision_ledger import savings
from vision_ledger.db import Database, begin_write, make_engine
from vision_ledger.models import OutboxMessage
from vision_ledger.settings import Settings as InstallationSettings


def fresh(kind: str, pg: str | None) -> str:
    if kind == "sqlite":
        return f"sqlite:///{os.path.join(tempfile.mkdtemp(prefix='smsbench'), 'bench.sqlite3')}"
    from sqlalchemy import text

    name = f"smsbench_{int(time.time() * 1000)}"
    admin = make_engine(pg or "", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{(pg or '').rsplit('/', 1)[0]}/{name}"


def gateway(standin: StandIn) -> AfricasTalkingGateway:
    return AfricasTalkingGateway("vslaledger", standin.api_key, base_url=standin.base_url,
                                 timeout=(3.05, 9.05))


def _settings() -> Settings:
    """The worker's settings of this environment (VISION_SMS_*), as `vision-ledger worker` reads them."""
    return Settings.of(InstallationSettings.from_env(os.environ))


def drain(url: str, n: int, concurrency: int, latency: float) -> tuple[float, Counter[str]]:
    db = Database(url)
    with db.engine.begin() as conn:
        conn.execute(insert(OutboxMessage), [receipt_row(i) for i in range(n)])
    with StandIn() as standin:
        standin.delay = latency
        # Anything uncertain is resent within the pass, so the figure is for a complete drain.
        settings = replace(_settings(), concurrency=concurrency, uncertain_delay=0)
        worker = Worker(db, gateway(standin), settings)
        start = time.perf_counter()
        stats = worker.run(once=True)
        elapsed = time.perf_counter() - start
        assert stats["now_sent"] == n, stats
    with db.unit_of_work(write=False) as s:
        problems = Counter(f"{a.outcome}: {(a.reason or '')[:60]}" for a in s.scalars(
            select(SmsAttempt).where(SmsAttempt.outcome != "sent")))
    db.engine.dispose()
    return n / elapsed, problems


def meeting(url: str, concurrency: int, latency: float) -> float:
    db = Database(url)
    session = db.session()
    factory = Factory(session)
    group = factory.ready(members=20)
    factory.meeting(group)
    treasurer = factory.treasurer(group)
    for member in factory.members(group):
        savings.buy_shares(session, treasurer, group, member, 2)
    session.commit()
    with StandIn() as standin:
        standin.delay = latency
        worker = Worker(db, gateway(standin), replace(_settings(), concurrency=concurrency))
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        while len(standin.delivered) < 20:  # the 20 receipts of the meeting
            time.sleep(0.01)
        begin_write(session)  # SQLite: take the write lock up front, as every door does
        factory.close(group)
        session.commit()
        closed = time.time()
        while len(standin.delivered) < 40:
            time.sleep(0.005)
        last = max(d.at for d in standin.delivered[20:])
        worker.stop.set()
        thread.join()
    session.close()
    db.engine.dispose()
    return last - closed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("-n", type=int, nargs="+", default=[1_000, 10_000],
                        help="messages to drain, one run per size (default: 1000 10000)")
    parser.add_argument("--concurrency", type=int, nargs="+",
                        default=[_settings().concurrency])
    parser.add_argument("--latency", type=float, default=0.05, help="stand-in answer delay (s)")
    parser.add_argument("--pg", default=os.environ.get("VISION_BENCH_PG_URL"))
    durability.add_flag(parser)
    args = parser.parse_args()
    for kind in ["sqlite"] + (["postgresql"] if args.pg else []):
        for c in args.concurrency:
            for n in args.n:
                url = fresh(kind, args.pg)
                upgrade(url)
                durability.require_url(url, args.allow_non_durable)
                rate, problems = drain(url, n, c, args.latency)
                print(f"{kind:10} concurrency {c:3}: drain {n} messages at {rate:7.1f} msg/s "
                      f"(ceiling {c / args.latency:.0f} at {args.latency * 1000:.0f} ms a request); "
                      f"other outcomes: {dict(problems) or 'none'}; load {os.getloadavg()[0]:.1f}",
                      flush=True)
            seconds = [meeting(url, c, args.latency) for _ in range(3)]
            print(f"{kind:10} concurrency {c:3}: meeting of 20, last statement handed to AT after "
                  f"{', '.join(f'{x:.2f}' for x in seconds)} s (3 meetings)", flush=True)


if __name__ == "__main__":
    main()

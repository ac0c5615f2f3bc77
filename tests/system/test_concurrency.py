"""Several processes post to the same group and to different groups at once, each with its own
engine on a fresh database. Afterwards: the sequence is gapless, the chain verifies, cash never went
negative, and every acknowledged (committed) call is in the journal exactly once."""

from __future__ import annotations

import multiprocessing
from datetime import date, timedelta

from sqlalchemy import func, select

from vision_ledger import ledger, meetings, savings
from vision_ledger.actors import Actor
from vision_ledger.db import Database
from vision_ledger.errors import DomainError
from vision_ledger.models import Entry, Group, Loan, Member
from vision_ledger.money import Money

from ..conftest import fresh_database_url
from ..factories import Factory

PROCESSES = 4


def _worker(args: tuple[str, list[tuple[str, int, int, str, int]]]) -> tuple[list[str], list[str]]:
    """Run the jobs one request (one committed unit of work) each; return what was acknowledged."""
    from vision_ledger import loans

    url, jobs = args
    db = Database(url)
    acked, refused = [], []
    for kind, group_id, member_id, key, amount in jobs:
        try:
            with db.unit_of_work() as s:
                group = s.get(Group, group_id)
                member = s.get(Member, member_id)
                actor = Actor(role="treasurer", group_id=group_id, channel="ussd")
                if kind == "buy":
                    savings.buy_shares(s, actor, group, member, amount, idempotency_key=key)
                else:
                    loans.disburse_loan(s, actor, group, member, Money(amount, "KES"), idempotency_key=key)
        except DomainError as error:
            refused.append(f"{key}:{error.code}")
            continue
        acked.append(key)
    db.engine.dispose()
    return acked, refused


def test_concurrent_writers_keep_the_books(tmp_path_factory):
    url = fresh_database_url(tmp_path_factory, "concurrency")
    db = Database(url)
    start = date.today() - timedelta(weeks=10)
    with db.unit_of_work() as s:
        f = Factory(s)
        programme = f.programme()
        a, b, c = (f.group(programme, members=12, name=n) for n in "ABC")
        for g in (a, b, c):
            f.cycle(g, start=start)
            meetings.open_meeting(s, f.treasurer(g), g, meeting_date=start)
        # Group C's members each saved KES 500, so each may borrow up to KES 1,500; the bag holds
        # KES 6,000 and twelve members ask for KES 1,000 each at once: at most six can be lent.
        for m in f.members(c):
            savings.buy_shares(s, f.treasurer(c), c, m, 5)
        ids = {g.name: (g.id, [m.id for m in f.members(g)]) for g in (a, b, c)}
    jobs: list[list[tuple[str, int, int, str, int]]] = [[] for _ in range(PROCESSES)]
    for name in "AB":  # every process buys shares for every member of A and B, one share a call
        gid, members = ids[name]
        for p in range(PROCESSES):
            for mid in members:
                jobs[p].append(("buy", gid, mid, f"{name}-{p}-{mid}", 1))
    gid, members = ids["C"]
    for i, mid in enumerate(members):
        jobs[i % PROCESSES].append(("loan", gid, mid, f"C-{mid}", 100_000))
    for p in range(PROCESSES):  # interleave the groups inside each process's queue
        jobs[p].sort(key=lambda j: (hash(j[3]) % 97, j[3]))

    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.map(_worker, [(url, j) for j in jobs])
    acked = [k for ok, _ in results for k in ok]
    refused = [r for _, no in results for r in no]

    with db.unit_of_work(write=False) as s:
        for name in "ABC":
            group = s.get(Group, ids[name][0])
            report = ledger.verify(s, group)
            assert report.ok, report.problems
            keys = set(s.scalars(select(Entry.idempotency_key).where(Entry.group_id == group.id)))
            mine = [k for k in acked if k.startswith(f"{name}-")]
            assert set(mine) <= keys and len(mine) == len(set(mine))
            assert ledger.balance(s, group, "loan_fund_cash").minor >= 0
        # A and B: 4 processes x 12 members x 1 share, all within 5 shares a meeting: all acknowledged.
        for name in "AB":
            group = s.get(Group, ids[name][0])
            assert group.last_seq == PROCESSES * 12
            assert ledger.balance(s, group, "loan_fund_cash").minor == PROCESSES * 12 * 10_000
        c = s.get(Group, ids["C"][0])
        lent = s.scalar(select(func.count()).select_from(Loan).where(Loan.group_id == c.id))
        granted = [k for k in acked if k.startswith("C-")]
        assert lent == len(granted) == 6
        assert all(r.endswith("loan.above_cash_on_hand") for r in refused)
        assert len(refused) == 6
        assert ledger.balance(s, c, "loan_fund_cash").minor == 0
        assert c.last_seq == 12 + 6
    db.engine.dispose()

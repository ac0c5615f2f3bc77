"""Verification of many journals at once: the same checks as `ledger.verify` (the hash chain and
the stored canonical bytes, gapless sequence numbers, each entry balanced, the group's head, every
stored balance against its postings, the loan register against loans_receivable), a batch of
groups at a time, so that memory stays flat however large the programme. Auditors' `verify`, the
nightly run and the flags' `ledger_verification_failed` all use it.

On PostgreSQL each batch's chains are first checked by the server in one statement
(`ledger.verify.journal_sql`: SHA-256 of the stored bytes, their JSON against the columns and
postings, the chain by window functions), which sends back a count per group, not the entries;
only a group in which it found something is read into Python, to be named by the same
`verify_chain` that SQLite runs for every group. Batches are shared between threads, each on a
connection of its own (the work is the server's), or on SQLite between processes.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from . import metrics, register
from .actors import Actor
from .db import make_engine
from .errors import NotFound
from .ledger import VerifyReport, stream_journal, verify_chain
from .ledger.journal import GENESIS
from .ledger.verify import journal_sql
from .models import Account, Group, Posting


@dataclass
class ManyReport:
    """Verification of many journals: the failing groups, each naming its first difference."""

    ok: bool
    groups_checked: int
    entries_checked: int
    seconds: float
    failures: list[VerifyReport]

    @property
    def first_problem(self) -> dict[str, Any] | None:
        if not self.failures:
            return None
        return {"group_id": self.failures[0].group_id, **(self.failures[0].problem or {})}


def describe(problem: dict[str, Any]) -> str:
    kind = problem.get("problem", "?")
    if "seq" in problem:
        return f"{kind} at entry {problem['seq']}" + (
            f" (id {problem['entry_id']})" if "entry_id" in problem else "")
    if "account" in problem:
        return f"{kind} on account {problem['account']}"
    if "loan_id" in problem:
        field = f" ({problem['field']})" if "field" in problem else ""
        return f"{kind} on loan {problem['loan_id']}{field}"
    if "member_id" in problem:
        return f"{kind} for member {problem['member_id']}"
    return str(kind)


def verify_many(session: Session, actor: Actor, programme_id: int | None = None,
                group_ids: list[int] | None = None, *, workers: int | None = None) -> ManyReport:
    """Verify the journals of one or more groups, a programme, or (system only) every group.

    The same checks as `ledger.verify`, group by group: the hash chain and the stored canonical
    bytes, gapless sequence numbers, each entry balanced, the group's head; then every stored
    balance against the sum of its postings and the loan register against the loans_receivable
    postings (set-based queries, a batch of groups at a time). Each failing group names its
    first difference.

    `workers` > 1 shares the batches of groups between that many threads (PostgreSQL) or
    processes (SQLite), each with its own connection (when the session is bound to an engine):
    they read what is committed. None (the default) uses a thread per core on PostgreSQL when
    there is more than one batch (GROUPS_PER_BATCH), one connection on SQLite.
    Raises programme.not_found, group.not_found, permission.staff_only.
    """
    started = time.perf_counter()
    scope = select(Group.id)
    if group_ids is not None:
        rows = session.execute(select(Group.id, Group.programme_id).where(Group.id.in_(group_ids))).all()
        found = {r.id: r.programme_id for r in rows}
        for gid in group_ids:
            if gid not in found:
                raise NotFound("group.not_found", "No such group", group_id=gid)
            group = session.get(Group, gid)
            metrics.require_staff(actor, found[gid], group)
        scope = scope.where(Group.id.in_(group_ids))
    if programme_id is not None:
        metrics.staff_programme(session, actor, programme_id)
        scope = scope.where(Group.programme_id == programme_id)
    if programme_id is None and group_ids is None and actor.role != "system":
        assert actor.programme_id is not None
        metrics.staff_programme(session, actor, actor.programme_id)
        scope = scope.where(Group.programme_id == actor.programme_id)
    reports = verify_groups(session, scope, workers=workers)
    failures = [r for r in reports if not r.ok]
    return ManyReport(ok=not failures, groups_checked=len(reports),
                      entries_checked=sum(r.entries_checked for r in reports),
                      seconds=time.perf_counter() - started, failures=failures)


# Groups checked together: one server-side pass (PostgreSQL), one balance query and one loan-register
# read per batch, so what any process holds at once is bounded by a batch, not the programme.
GROUPS_PER_BATCH = 25


def verify_groups(session: Session, scope: Select[Any], *, workers: int | None = 1) -> list[VerifyReport]:
    """One report per group of `scope` (a select of group ids), in group order (no permission check:
    `verify_many` and the flags check the actor first). `workers` as in `verify_many`."""
    bind = session.get_bind()
    pg = bind.dialect.name == "postgresql"
    ids = list(session.scalars(select(Group.id).where(Group.id.in_(scope)).order_by(Group.id)))
    batches = [ids[i:i + GROUPS_PER_BATCH] for i in range(0, len(ids), GROUPS_PER_BATCH)]
    if workers is None:
        workers = min(os.cpu_count() or 1, len(batches)) if pg else 1
    if workers > 1 and isinstance(bind, Engine):
        shares = [batches[i::workers] for i in range(workers)]
        if pg:
            # The checks run on the server: each thread waits on its own connection (the driver
            # releases the GIL), so threads keep the server's cores busy at no start-up cost.
            with ThreadPoolExecutor(workers) as threads:
                parts = list(threads.map(partial(_verify_batches, bind), shares))
        else:  # SQLite's checks are Python's: a process per core
            url = bind.url.render_as_string(hide_password=False)
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                parts = list(pool.map(_verify_slice, [url] * workers, shares))
        reports = {r.group_id: r for part in parts for r in part}
        return [reports[gid] for gid in ids]
    return [r for batch in batches for r in verify_batch(session, batch)]


def verify_batch(session: Session, group_ids: list[int]) -> list[VerifyReport]:
    """Every check of `verify_many` for some groups: their chains (on PostgreSQL first in one
    server-side pass, see `journal_sql`), their stored balances, their loan register."""
    scope = select(Group.id).where(Group.id.in_(group_ids))
    heads = session.execute(select(Group.id, Group.last_seq, Group.last_hash)
                            .where(Group.id.in_(group_ids)).order_by(Group.id)).all()
    reports = {head.id: VerifyReport(group_id=head.id) for head in heads}
    conn = session.connection()
    suspects = _server_pass(session, heads, reports) if conn.dialect.name == "postgresql" else heads
    if suspects:
        # Python's checks, which name each difference (on PostgreSQL only for the groups the
        # server's pass found something in: their reports are the same on both databases).
        keys = {aid: key for aid, key in conn.execute(
            select(Account.id, Account.key).where(Account.group_id.in_([h.id for h in suspects])))}
        for head in suspects:
            verify_chain(reports[head.id], stream_journal(conn, head.id, keys),
                         last_seq=head.last_seq, last_hash=head.last_hash)
    _check_balances(session, scope, reports)
    register.check_loans(session, scope, reports)
    return list(reports.values())


def _server_pass(session: Session, heads: Sequence[Any], reports: dict[int, VerifyReport]) -> Sequence[Any]:
    """Check the groups' journals on the server (`journal_sql`); returns the heads of the groups
    in which it found anything, for Python to name. A clean group's report gets its count."""
    try:
        with session.begin_nested():
            # The parallelism is ours (a connection per core): a parallel plan would build the
            # postings' side once in each of its workers.
            session.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            rows = session.execute(journal_sql(), {"groups": [h.id for h in heads], "genesis": GENESIS})
            found = {r.group_id: r for r in rows}
    except DataError:
        # Stored bytes that are not UTF-8 or not JSON stop the pass: Python names what is wrong.
        return heads
    suspects = []
    for head in heads:
        row = found.get(head.id)
        if row is not None and row.entries:
            entries, bad, head_ok = row.entries, row.bad, row.head_ok
        else:  # no entries: the head must be the genesis
            entries, bad, head_ok = 0, 0, head.last_hash == GENESIS
        if bad or entries != head.last_seq or not head_ok:
            suspects.append(head)
        else:
            reports[head.id].entries_checked = entries
    return suspects


def _check_balances(session: Session, scope: Select[Any], reports: dict[int, VerifyReport]) -> None:
    """Stored balances against their postings, for the groups of `scope` at once."""
    accounts = select(Account.id).where(Account.group_id.in_(scope))
    sums = (select(Posting.account_id, func.sum(Posting.amount).label("amount"),
                   func.sum(Posting.units).label("units"))
            .where(Posting.account_id.in_(accounts)).group_by(Posting.account_id).subquery())
    wrong = session.execute(
        select(Account.group_id, Account.key, Account.balance, Account.units, sums.c.amount, sums.c.units)
        .outerjoin(sums, sums.c.account_id == Account.id)
        .where(Account.group_id.in_(scope),
               or_(Account.balance != func.coalesce(sums.c.amount, 0),
                   Account.units != func.coalesce(sums.c.units, 0)))
        .order_by(Account.group_id, Account.key))
    for r in wrong:
        reports[r.group_id].fail(problem="balance_mismatch", account=r.key, expected=int(r.amount or 0),
                                 found=r.balance, expected_units=int(r[5] or 0), found_units=r.units)


def _verify_batches(engine: Engine, batches: list[list[int]]) -> list[VerifyReport]:
    """A worker: some batches of groups, on a connection of its own (it reads what is committed)."""
    with Session(engine) as session:
        return [r for batch in batches for r in verify_batch(session, batch)]


def _verify_slice(url: str, batches: list[list[int]]) -> list[VerifyReport]:
    """A worker process (SQLite): some batches of groups, with an engine of its own."""
    engine = make_engine(url)
    try:
        return _verify_batches(engine, batches)
    finally:
        engine.dispose()


__all__ = ["ManyReport", "describe", "verify_groups", "verify_many"]

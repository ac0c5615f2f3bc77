"""Verification of many journals at once: the same checks as `ledger.verify`, group by group (the
hash chain, gapless sequence numbers, each entry balanced, the group's head), then every stored
balance against its postings and the loan register against loans_receivable in set-based
queries, optionally hashing the chains in several processes. Auditors' `verify`, the nightly
run and the flags' `ledger_verification_failed` all use it.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from . import metrics, register
from .actors import Actor
from .db import make_engine
from .errors import NotFound
from .ledger import VerifyReport, stream_journal, verify_chain
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

    The same checks as `ledger.verify`, group by group: the hash chain, gapless sequence numbers,
    each entry balanced, the group's head; then every stored balance against the sum of its
    postings (one set-based query), and the loan register against the loans_receivable
    postings. Each failing group names its first difference.

    `workers` > 1 hashes the chains in that many processes, each with its own connection (when the
    session is bound to an engine): they read what is committed. None (the default) uses every
    core for a journal of PARALLEL_ENTRIES entries or more on PostgreSQL, one process otherwise.
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


# From this many entries a programme's chains are hashed in one process per core: below it,
# starting the processes (each imports the service, about a second) costs more than it saves.
PARALLEL_ENTRIES = 200_000


def verify_groups(session: Session, scope: Select[Any], *, workers: int | None = 1) -> list[VerifyReport]:
    """One report per group of `scope` (a select of group ids), in group order (no permission check:
    `verify_many` and the flags check the actor first). `workers` as in `verify_many`."""
    bind = session.get_bind()
    if workers is None:
        workers = 1
        if isinstance(bind, Engine) and bind.dialect.name == "postgresql":
            entries = session.scalar(select(func.coalesce(func.sum(Group.last_seq), 0))
                                     .where(Group.id.in_(scope)))
            if (entries or 0) >= PARALLEL_ENTRIES:
                workers = os.cpu_count() or 1
    if workers > 1 and isinstance(bind, Engine):
        ids = list(session.scalars(select(Group.id).where(Group.id.in_(scope)).order_by(Group.id)))
        url = bind.url.render_as_string(hide_password=False)
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = list(pool.map(_verify_slice, [url] * workers, [ids[i::workers] for i in range(workers)]))
        reports = {r.group_id: r for part in parts for r in part}
        reports = {gid: reports[gid] for gid in ids}
    else:
        reports = {r.group_id: r for r in _verify_chains(session.connection(), scope)}
    # Stored balances against their postings, for all groups at once.
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
    register.check_loans(session, scope, reports)
    return list(reports.values())


def _verify_chains(conn: Any, scope: Select[Any]) -> list[VerifyReport]:
    heads = conn.execute(select(Group.id, Group.last_seq, Group.last_hash)
                         .where(Group.id.in_(scope)).order_by(Group.id)).all()
    keys = {aid: key for aid, key in conn.execute(
        select(Account.id, Account.key).where(Account.group_id.in_(scope)))}
    reports = []
    for head in heads:
        reports.append(VerifyReport(group_id=head.id))
        _verify_chain(conn, head, keys, reports[-1])
    return reports


def _verify_slice(url: str, group_ids: list[int]) -> list[VerifyReport]:
    """A worker process: the chains of some groups, on a connection of its own."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return _verify_chains(conn, select(Group.id).where(Group.id.in_(group_ids)))
    finally:
        engine.dispose()


def _verify_chain(conn: Any, head: Any, keys: dict[int, str], report: VerifyReport) -> None:
    """One group's chain, checked by `ledger.verify_chain` (the same checks and facts as
    `ledger.verify`), its journal streamed (`ledger.stream_journal`): memory stays flat.
    """
    verify_chain(report, stream_journal(conn, head.id, keys),
                 last_seq=head.last_seq, last_hash=head.last_hash)


__all__ = ["ManyReport", "describe", "verify_groups", "verify_many"]

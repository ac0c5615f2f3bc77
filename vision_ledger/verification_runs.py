"""Verification as a job: read the books on the read replica (when there is one), keep each
programme's result on the primary. Used by `vision-ledger verify` (cron), the SMS worker's nightly
run and `POST /api/programmes/{id}/verify`. In the core, because the API and the SMS worker
both run it and neither may import the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import audit, ledger, metrics, verification
from .actors import Actor
from .db import Database, utcnow
from .errors import NotFound
from .models import Group, Programme

SYSTEM = Actor.system("verification")


@dataclass(frozen=True)
class Kept:
    """One programme's verification: the report and the id of the row that keeps it."""

    programme_id: int
    run_id: int
    report: audit.ManyReport


def run(db: Database, *, trigger: str, actor: Actor = SYSTEM, programme_id: int | None = None,
        group_id: int | None = None) -> list[Kept]:
    """Verify every programme (neither given), one programme, or one group; keep one run per
    programme. Raises programme.not_found, group.not_found and the audit permission errors."""
    reports: list[tuple[int, str, audit.ManyReport, datetime]] = []
    with db.read_session() as read:
        if group_id is not None:
            group = read.get(Group, group_id)
            if group is None:
                raise NotFound("group.not_found", "No such group", group_id=group_id)
            targets: list[tuple[int, str, list[int] | None]] = [(group.programme_id, "group", [group_id])]
        elif programme_id is not None:
            targets = [(programme_id, "programme", None)]
        else:
            targets = [(p, "all", None) for p in read.scalars(select(Programme.id).order_by(Programme.id))]
        for pid, scope, groups in targets:
            started = utcnow()
            if groups is not None:
                report = audit.verify_many(read, actor, group_ids=groups)
            else:
                report = audit.verify_many(read, actor, programme_id=pid)
            with_totals(read, report, groups if groups is not None else list(
                read.scalars(select(Group.id).where(Group.programme_id == pid))))
            reports.append((pid, scope, report, started))
        read.rollback()
    kept = []
    with db.unit_of_work() as write:
        for pid, scope, report, started in reports:
            row = verification.record_run(write, pid, report, scope=scope, trigger=trigger,
                                          started_at=started)
            kept.append(Kept(pid, row.id, report))
    return kept


def with_totals(session: Session, report: audit.ManyReport, group_ids: list[int]) -> None:
    """Add to a verification report each difference between the groups' per-period totals (what
    the measures read) and the postings (`metrics.verify_totals`), as failures of their groups."""
    by_group = {f.group_id: f for f in report.failures}
    for difference in metrics.verify_totals(session, group_ids):
        failure = by_group.get(difference["group_id"])
        if failure is None:
            failure = by_group[difference["group_id"]] = ledger.VerifyReport(group_id=difference["group_id"])
            report.failures.append(failure)
        failure.fail(**{k: v for k, v in difference.items() if k != "group_id"})
    report.failures.sort(key=lambda f: f.group_id)
    report.ok = not report.failures

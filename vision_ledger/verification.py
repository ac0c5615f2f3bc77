"""Verification runs kept: each time a programme's books were recomputed from the postings
(nightly by the worker, by `vision-ledger verify` from cron, or on an auditor's request), when,
how much was checked, and each failing group's first difference.

`audit.verify_many` does the checking; this module keeps its report, one row per programme, and
answers auditors' "when were the books last verified, and did they hold?".
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import telemetry
from .actors import Actor
from .audit import ManyReport
from .db import utcnow
from .metrics import staff_programme
from .models import VerificationRun

SCOPES = ("all", "programme", "group")
TRIGGERS = ("schedule", "command", "api")


def _plain(value: Any) -> Any:
    """A problem's facts as JSON values (dates and decimals as strings)."""
    return json.loads(json.dumps(value, default=str))


def record_run(session: Session, programme_id: int, report: ManyReport, *, scope: str, trigger: str,
               started_at: datetime) -> VerificationRun:
    """Keep what one verification of a programme (or of one of its groups) found; a failure is
    also reported to telemetry. Raises ValueError for an unknown scope or trigger."""
    if scope not in SCOPES or trigger not in TRIGGERS:
        raise ValueError(f"unknown verification scope {scope!r} or trigger {trigger!r}")
    run = VerificationRun(
        programme_id=programme_id, scope=scope, trigger=trigger, started_at=started_at,
        finished_at=utcnow(), groups_checked=report.groups_checked,
        entries_checked=report.entries_checked, failed_groups=len(report.failures),
        failures=[{"group_id": f.group_id, "entries_checked": f.entries_checked,
                   "problem": _plain(f.problem)} for f in report.failures],
    )
    session.add(run)
    session.flush()
    telemetry.verification_failed(len(report.failures))
    return run


def last_run(session: Session, actor: Actor, programme_id: int) -> VerificationRun | None:
    """The programme's most recent verification run, or None if it was never verified.

    Raises programme.not_found (also outside the actor's programme), permission.staff_only.
    """
    staff_programme(session, actor, programme_id)
    return session.scalars(
        select(VerificationRun).where(VerificationRun.programme_id == programme_id)
        .order_by(VerificationRun.started_at.desc(), VerificationRun.id.desc()).limit(1)
    ).first()


__all__ = ["SCOPES", "TRIGGERS", "last_run", "record_run"]

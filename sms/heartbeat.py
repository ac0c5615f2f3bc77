"""The SMS worker's liveness: a row per worker, its `beat_at` rewritten every few seconds while
the worker runs, `stopped_at` set when it stops cleanly. `vision-ledger sms status` and `/metrics`
read them: a running worker whose beat is older than a few intervals is stuck or dead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sms.models import WorkerHeartbeat
from vision_ledger.db import Database, utcnow
from vision_ledger.obs import Gauge

STALE_AFTER_BEATS = 3  # a worker that missed this many beats is reported as not alive


def beat(db: Database, worker: str, *, stopped: bool = False) -> None:
    """Record that `worker` is alive now (or, stopped=True, that it stopped cleanly)."""
    with db.unit_of_work() as s:
        row = s.get(WorkerHeartbeat, worker)
        now = utcnow()
        if row is None:
            row = WorkerHeartbeat(worker=worker, started_at=now, beat_at=now)
            s.add(row)
        row.beat_at = now
        row.stopped_at = now if stopped else None


@dataclass(frozen=True)
class WorkerState:
    worker: str
    started_at: datetime
    beat_at: datetime
    stopped_at: datetime | None
    seconds_since_beat: float
    alive: bool


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def workers(session: Session, every: float, now: datetime | None = None) -> list[WorkerState]:
    """Every worker that ever beat, newest first; alive when running and its beat is recent."""
    now = now or utcnow()
    out = []
    for row in session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.beat_at.desc())):
        age = max(0.0, (now - _aware(row.beat_at)).total_seconds())
        out.append(WorkerState(row.worker, row.started_at, row.beat_at, row.stopped_at, age,
                               alive=row.stopped_at is None and age <= STALE_AFTER_BEATS * every))
    return out


def _running_ages(session: Session, now: datetime) -> list[tuple[list[str], float]]:
    rows = session.scalars(select(WorkerHeartbeat).where(WorkerHeartbeat.stopped_at.is_(None)))
    return [([row.worker], max(0.0, (now - _aware(row.beat_at)).total_seconds())) for row in rows]


# What every scrape of /metrics (the app's and the worker's own) reports of the workers.
HEARTBEAT_GAUGE = Gauge("vision_worker_heartbeat_age_seconds",
                        "Seconds since each running SMS worker last wrote its heartbeat.",
                        ("worker",), _running_ages)

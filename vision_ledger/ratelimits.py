"""Rate limits: fixed-window counters kept in the database, so every gunicorn worker and every
process sees the same count (one atomic upsert per hit; no extra service to run).

A limit is (how many, per how many seconds). `hit` counts one event and says whether the key is
over its limit, `over` only reads. Both are used by the doors: failed API authentications per
client address and per token prefix, USSD hops per phone, inbound SMS replies per phone.
The limits themselves are settings (`vision_ledger.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .db import utcnow
from .models import RateLimit


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Limit:
        """'10/60' is ten per minute. Raises ValueError on anything else."""
        count, _, seconds = text.partition("/")
        limit = cls(int(count), int(seconds))
        if limit.count < 1 or limit.seconds < 1:
            raise ValueError(f"a rate limit is COUNT/SECONDS, both positive: {text!r}")
        return limit


def _aware(moment: datetime, now: datetime) -> datetime:
    return moment.replace(tzinfo=now.tzinfo) if moment.tzinfo is None else moment


def retry_after(window_start: datetime, limit: Limit, now: datetime) -> int:
    left = (_aware(window_start, now) + timedelta(seconds=limit.seconds) - now).total_seconds()
    return max(1, int(left + 0.999))


def hit(session: Session, key: str, limit: Limit, now: datetime | None = None) -> int | None:
    """Count one event of `key`; the seconds to wait when this hit is over the limit, else None."""
    now = now or utcnow()
    fresh = now - timedelta(seconds=limit.seconds)
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = RateLimit.__table__
    expired = table.c.window_start <= fresh
    upsert = insert(table).values(key=key[:200], window_start=now, hits=1).on_conflict_do_update(
        index_elements=[table.c.key],
        set_={"hits": case((expired, 1), else_=table.c.hits + 1),
              "window_start": case((expired, now), else_=table.c.window_start)},
    ).returning(table.c.hits, table.c.window_start)
    hits, start = session.execute(upsert).one()
    return retry_after(start, limit, now) if hits > limit.count else None


def over(session: Session, key: str, limit: Limit, now: datetime | None = None) -> int | None:
    """The seconds to wait when `key` already used its limit in the current window, else None."""
    now = now or utcnow()
    row = session.execute(select(RateLimit.hits, RateLimit.window_start)
                          .where(RateLimit.key == key[:200])).first()
    if row is None or _aware(row.window_start, now) <= now - timedelta(seconds=limit.seconds):
        return None
    return retry_after(row.window_start, limit, now) if row.hits >= limit.count else None


def over_any(session: Session, keys: list[str], limit: Limit, now: datetime | None = None) -> int | None:
    """`over` for several keys in one SELECT: the longest wait among them, else None."""
    now = now or utcnow()
    rows = session.execute(select(RateLimit.hits, RateLimit.window_start)
                           .where(RateLimit.key.in_([key[:200] for key in keys]))).all()
    waits = [retry_after(row.window_start, limit, now) for row in rows
             if _aware(row.window_start, now) > now - timedelta(seconds=limit.seconds)
             and row.hits >= limit.count]
    return max(waits) if waits else None

"""The outbox as the SMS worker sees it: claim rows, record what AT said, reclaim lost sends.

Every function here is one short transaction; nothing is held open while a message is on the
wire. See the package docstring (sms/__init__.py) for the delivery policy these implement.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, func, select, type_coerce
from sqlalchemy.orm import Session

from sms.gateway import SendResult, backoff
from sms.gsm import segments
from sms.models import SmsAttempt
from sms.settings import Settings
from sms.texts import RenderError, render
from vision_ledger.db import Database, utcnow
from vision_ledger.errors import Conflict, NotFound
from vision_ledger.models import OutboxMessage

log = logging.getLogger("sms.outbox")

DUE_STATUSES = ("pending", "uncertain", "held")  # rows the worker picks up once next_attempt_at passes
PROBLEM_STATUSES = ("failed", "held", "uncertain")  # what operators are shown
RETRYABLE = ("failed", "held", "uncertain")


@dataclass(frozen=True)
class Claimed:
    """A row this worker owns until it records the outcome: what to send, and to whom."""

    id: int
    phone: str
    text: str
    attempt: int


def claim(db: Database, worker: str, limit: int, settings: Settings) -> list[Claimed]:
    """Take up to limit due rows for this worker (status 'sending'), rendering texts not yet rendered.

    On PostgreSQL `FOR UPDATE SKIP LOCKED` lets any number of workers claim side by side without
    ever taking the same row; on SQLite one worker runs at a time (see sms.worker.single_worker).
    """
    now = utcnow()
    claimed: list[Claimed] = []
    with db.unit_of_work() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status.in_(DUE_STATUSES), OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            if row.text is None:
                try:
                    # Rendered once, at the first send, and kept: a resend is the same text.
                    row.text = render(row.kind, row.payload, row.language)
                except RenderError as exc:
                    _apply(session, row, SendResult("failed", reason=f"render: {exc}"), worker,
                           settings=settings, now=now)
                    continue
            row.status = "sending"
            row.claimed_by = worker
            row.claimed_at = now
            row.attempts += 1
            row.updated_at = now
            claimed.append(Claimed(row.id, row.phone, row.text, row.attempts))
    return claimed


def record(db: Database, item: Claimed, result: SendResult, worker: str, settings: Settings) -> str:
    """Store the outcome of one send; return the row's new status."""
    now = utcnow()
    with db.unit_of_work() as session:
        row = session.get(OutboxMessage, item.id, with_for_update=True)
        if row is None:  # pragma: no cover - outbox rows are never deleted
            return "missing"
        mine = row.status == "sending" and row.claimed_by == worker
        if mine or (result.outcome == "sent" and row.status in DUE_STATUSES):
            # A row reclaimed while this send was still on the wire: AT's word that it went
            # out is better than the guess, and saves a needless resend.
            _apply(session, row, result, worker, settings=settings, now=now, attempt=item.attempt)
        else:
            session.add(_attempt(row, item.attempt, worker, result, now))
            log.warning("outbox %s: outcome %s after the row was reclaimed (now %s)", row.id,
                        result.outcome, row.status)
        return row.status


def reclaim(db: Database, worker: str, settings: Settings, *, all_sending: bool = False) -> int:
    """Turn rows stuck in 'sending' (their worker died) into 'uncertain': they may have gone out.

    all_sending reclaims every such row (SQLite, where holding the worker lock proves no other
    worker lives); otherwise only rows claimed more than settings.stale_after seconds ago.
    """
    now = utcnow()
    cutoff = now if all_sending else now - timedelta(seconds=settings.stale_after)
    with db.unit_of_work() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at <= cutoff)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            reason = f"worker {row.claimed_by} stopped while sending (claimed {row.claimed_at})"
            _apply(session, row, SendResult("uncertain", reason=reason), worker, settings=settings,
                   now=now)
        if rows:
            log.warning("reclaimed %d message(s) left in 'sending' by a stopped worker", len(rows))
        return len(rows)


def _attempt(row: OutboxMessage, attempt: int, worker: str, result: SendResult,
             now: datetime) -> SmsAttempt:
    # The parts of the text this attempt offered AT (what AT bills when it takes it); a text that
    # could not be rendered offered nothing.
    parts = segments(row.text) if row.text is not None else None
    log.info("sms send outbox=%s kind=%s attempt=%s outcome=%s status=%s parts=%s", row.id, row.kind,
             attempt, result.outcome, result.status_code, parts,
             extra={"event": "sms_send", "message_id": row.id, "kind": row.kind, "attempt": attempt,
                    "outcome": result.outcome, "status_code": result.status_code, "parts": parts,
                    "worker": worker})
    return SmsAttempt(outbox_id=row.id, attempt=attempt, worker=worker, outcome=result.outcome,
                      status_code=result.status_code, at_message_id=result.message_id,
                      reason=result.reason or None, parts=parts, at=now)


def _apply(session: Session, row: OutboxMessage, result: SendResult, worker: str, *,
           settings: Settings, now: datetime, attempt: int | None = None) -> None:
    """Move row to the status its send's outcome calls for (the policy of sms/__init__.py)."""
    session.add(_attempt(row, attempt if attempt is not None else row.attempts, worker, result, now))
    row.claimed_by = None
    row.updated_at = now
    row.status_code = result.status_code
    outcome = result.outcome
    if outcome == "sent":
        row.status = "sent"
        row.at_message_id = result.message_id
        row.cost = result.cost
        row.sent_at = now
        row.failure_reason = None
        return
    exhausted = row.attempts >= settings.max_attempts
    if outcome == "failed" or (exhausted and outcome in ("retry", "uncertain")):
        row.status = "failed"
        if outcome == "failed":
            row.failure_reason = result.reason or "failed"
        elif outcome == "uncertain":
            row.failure_reason = (f"gave up after {row.attempts} attempts, the last one uncertain "
                                  f"(it may have been delivered): {result.reason}")
        else:
            row.failure_reason = f"gave up after {row.attempts} attempts: {result.reason}"
        return
    row.failure_reason = result.reason or outcome
    if outcome == "retry":
        row.status = "pending"
        delay = backoff(max(row.attempts - 1, 0), settings.backoff_base, settings.backoff_cap)
    elif outcome == "held":
        row.status = "held"
        delay = settings.held_delay
        log.error("outbox %s held (%s): AT refuses sends until an operator acts", row.id,
                  result.reason)
    else:
        row.status = "uncertain"
        delay = settings.uncertain_delay
    row.next_attempt_at = now + timedelta(seconds=delay)


# -- operators ---------------------------------------------------------------------------------


def summary(session: Session, group_ids: Iterable[int] | None = None, limit: int = 100) -> dict[str, Any]:
    """Counts by status and the newest failed/held/uncertain rows (all groups when group_ids is None)."""
    scope = [] if group_ids is None else [OutboxMessage.group_id.in_(list(group_ids))]
    counts = dict(session.execute(
        select(OutboxMessage.status, func.count()).where(*scope).group_by(OutboxMessage.status)
    ).all())
    problems = session.scalars(
        select(OutboxMessage).where(OutboxMessage.status.in_(PROBLEM_STATUSES), *scope)
        .order_by(OutboxMessage.updated_at.desc(), OutboxMessage.id.desc()).limit(limit)
    ).all()
    return {
        "counts": {status: int(counts.get(status, 0)) for status in
                   ("pending", "sending", "sent", "uncertain", "held", "failed", "delivered")},
        "problems": [problem_of(row) for row in problems],
    }


BILLED = ("sent", "uncertain")  # attempts AT took (sent), or may have taken (uncertain)


def month_bounds(month: str | None, today: date | None = None) -> tuple[datetime, datetime, str]:
    """[start, end) of a calendar month in UTC from "YYYY-MM" (default: this month).

    Raises ValueError for anything else.
    """
    if month is None:
        today = today or utcnow().date()
        year, number = today.year, today.month
    else:
        text = month.strip()
        if len(text) != 7 or text[4] != "-" or not (text[:4].isdigit() and text[5:].isdigit()):
            raise ValueError(f"a month is YYYY-MM, not {month!r}")
        year, number = int(text[:4]), int(text[5:])
        if not (1 <= number <= 12 and 2000 <= year <= 9999):
            raise ValueError(f"a month is YYYY-MM, not {month!r}")
    start = datetime(year, number, 1, tzinfo=utcnow().tzinfo)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=start.tzinfo)
    return start, end, f"{year:04d}-{number:02d}"


def parts_report(session: Session, month: str | None = None,
                 group_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """What a month of messages cost: per outbox kind and language, the messages sent, the sends
    AT took (a resend after an uncertain send counts again) and their SMS parts.

    `parts` counts attempts that were sent; `parts_uncertain` those whose outcome is unknown (AT
    may have billed them). Raises ValueError for a month that is not YYYY-MM.
    """
    start, end, label = month_bounds(month)
    scope = [] if group_ids is None else [OutboxMessage.group_id.in_(list(group_ids))]
    rows = session.execute(
        select(OutboxMessage.kind, OutboxMessage.language, SmsAttempt.outcome,
               func.count(func.distinct(OutboxMessage.id)), func.count(),
               # never NULL, although the column it sums may be (type_coerce tells the type checker)
               type_coerce(func.coalesce(func.sum(SmsAttempt.parts), 0), Integer))
        .join(SmsAttempt, SmsAttempt.outbox_id == OutboxMessage.id)
        .where(SmsAttempt.outcome.in_(BILLED), SmsAttempt.at >= start, SmsAttempt.at < end, *scope)
        .group_by(OutboxMessage.kind, OutboxMessage.language, SmsAttempt.outcome)
    ).all()
    table: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, language, outcome, messages, sends, parts in rows:
        line = table.setdefault((kind, language), {
            "kind": kind, "language": language, "messages": 0, "sends": 0, "parts": 0,
            "parts_uncertain": 0})
        if outcome == "sent":
            line["messages"] += int(messages)
            line["sends"] += int(sends)
            line["parts"] += int(parts)
        else:
            line["parts_uncertain"] += int(parts)
    lines = [table[key] for key in sorted(table)]
    return {"month": label, "lines": lines,
            "total": {"messages": sum(x["messages"] for x in lines),
                      "sends": sum(x["sends"] for x in lines),
                      "parts": sum(x["parts"] for x in lines),
                      "parts_uncertain": sum(x["parts_uncertain"] for x in lines)}}


def problem_of(row: OutboxMessage) -> dict[str, Any]:
    return {
        "id": row.id, "group_id": row.group_id, "member_id": row.member_id, "kind": row.kind,
        "phone": row.phone, "status": row.status, "attempts": row.attempts,
        "status_code": row.status_code, "reason": row.failure_reason,
        "delivery_status": row.delivery_status, "next_attempt_at": row.next_attempt_at,
        "updated_at": row.updated_at,
    }


def get_message(session: Session, message_id: int) -> OutboxMessage:
    """Return the outbox row. Raises NotFound outbox.not_found."""
    row = session.get(OutboxMessage, message_id)
    if row is None:
        raise NotFound("outbox.not_found", "No such message", message_id=message_id)
    return row


def retry(session: Session, row: OutboxMessage) -> OutboxMessage:
    """Send a failed, held or uncertain message again now, with a fresh attempt budget.

    Raises Conflict outbox.not_retryable for a message that is pending, sending, sent or delivered.
    """
    if row.status not in RETRYABLE:
        raise Conflict("outbox.not_retryable", f"A {row.status} message is not retried",
                       message_id=row.id, status=row.status)
    now = utcnow()
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    row.updated_at = now
    session.flush()
    return row

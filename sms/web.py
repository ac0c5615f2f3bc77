"""AT's SMS callbacks: delivery reports and inbound messages, at /sms/<secret>/...

AT does not sign callbacks, so the URL carries a secret (VISION_SMS_SECRET). AT repeats a
callback that does not get a 200, for minutes: both handlers answer fast and are idempotent.
"""

from __future__ import annotations

import hmac
import logging
from typing import Final

from flask import Blueprint, Response, abort, current_app, request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sms import inbound
from vision_ledger import ratelimits
from vision_ledger.db import database_of, utcnow
from vision_ledger.models import OutboxMessage
from vision_ledger.settings import settings_of

log = logging.getLogger("sms.web")

blueprint = Blueprint("sms", __name__, url_prefix="/sms")

FINAL: Final = frozenset({"Success", "Rejected", "Failed"})  # AT's final delivery statuses


def reply_limit() -> ratelimits.Limit:
    """Replies to inbound commands allowed per phone (VISION_SMS_REPLY_LIMIT): each spends SMS budget."""
    return settings_of(current_app.config).sms_reply_limit


def _check_secret(secret: str) -> None:
    expected = settings_of(current_app.config).sms_secret
    if not expected or not hmac.compare_digest(secret.encode(), str(expected).encode()):
        abort(403)


def record_delivery(session: Session, at_id: str, status: str, failure_reason: str | None) -> int:
    """Apply one delivery report to the message AT knows as at_id; return how many rows matched.

    Success makes the message 'delivered'; Rejected or Failed makes it 'failed' with AT's reason.
    The first final report wins: a repeat, or a late intermediate report, changes nothing.
    """
    rows = session.scalars(
        select(OutboxMessage).where(OutboxMessage.at_message_id == at_id).with_for_update()
    ).all()
    for row in rows:
        if row.delivery_status in FINAL:
            continue
        row.delivery_status = status[:30]
        row.updated_at = utcnow()
        if status == "Success":
            row.status = "delivered"
            row.failure_reason = None
        elif status in ("Rejected", "Failed"):
            row.status = "failed"
            row.failure_reason = f"delivery {status}: {failure_reason or 'no reason given'}"
    return len(rows)


@blueprint.post("/<secret>/delivery")
def delivery(secret: str) -> Response:
    """AT's delivery report: id, status, phoneNumber, networkCode, failureReason, retryCount."""
    _check_secret(secret)
    form = request.form
    at_id, status = form.get("id", ""), form.get("status", "")
    if not at_id or not status:
        log.warning("delivery report without id or status: %s", dict(form))
        return Response("ignored", 200, mimetype="text/plain")
    with database_of(current_app.config).unit_of_work() as session:
        matched = record_delivery(session, at_id, status, form.get("failureReason"))
    if not matched:
        log.warning("delivery report for unknown message id %s (status %s)", at_id, status)
    return Response("ok", 200, mimetype="text/plain")


@blueprint.post("/<secret>/inbound")
def inbound_sms(secret: str) -> Response:
    """An SMS to our short code: from, to, text, date, id, linkId, networkCode."""
    _check_secret(secret)
    try:
        with database_of(current_app.config).unit_of_work() as session:
            done = inbound.handle(session, request.form, reply_limit())
    except IntegrityError:
        done = "duplicate"  # the same AT id, handled by a concurrent request
    log.info("inbound SMS %s: %s", request.form.get("id"), done)
    return Response("ok", 200, mimetype="text/plain")

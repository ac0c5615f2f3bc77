"""Operators' view of the outbox: GET /api/outbox and POST /api/outbox/<id>/retry, on top of the
SMS door's outbox service (`sms.outbox`: summary, parts report, retry).

The caller's Actor is `flask.g.actor`: the bearer token's (`api.auth.authenticate`) unless the app
serving this blueprint has already set one (the SMS tests' small app does).
"""

from __future__ import annotations

from typing import Any

from flask import g
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate
from sqlalchemy import select
from sqlalchemy.orm import Session

from sms import outbox
from vision_ledger.actors import Actor, can_administer, can_read_group
from vision_ledger.errors import NotFound, PermissionDenied
from vision_ledger.models import Group, OutboxMessage

from ..auth import authenticate
from ..session import database

blp = Blueprint("outbox", "outbox", url_prefix="/api",
                      description="The SMS outbox: counts, failed and held messages, retry")


@blp.before_request
def _actor() -> None:
    if g.get("actor") is None:
        g.actor = authenticate()


def _a_month(value: str) -> None:
    try:
        outbox.month_bounds(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class OutboxQuery(Schema):
    # Range validators, not lambdas: the OpenAPI document shows them as minimum/maximum.
    group_id = fields.Integer(load_default=None, allow_none=True,
                              validate=validate.Range(min=1, max=999_999_999_999))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    month = fields.String(load_default=None, validate=[
        validate.Length(equal=7), validate.Regexp(r"^(19|20)\d\d-(0[1-9]|1[0-2])$"), _a_month],
                          metadata={"description": "YYYY-MM: the month of the parts report "
                                                   "(default: this month)", "example": "2026-11"})


class ProblemMessage(Schema):
    id = fields.Integer()
    group_id = fields.Integer(allow_none=True)
    member_id = fields.Integer(allow_none=True)
    kind = fields.String()
    phone = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    delivery_status = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime()
    updated_at = fields.DateTime()


class PartsTotal(Schema):
    messages = fields.Integer()
    sends = fields.Integer()
    parts = fields.Integer()
    parts_uncertain = fields.Integer()


class PartsLine(PartsTotal):
    kind = fields.String()
    language = fields.String()


class PartsReport(Schema):
    month = fields.String()
    lines = fields.List(fields.Nested(PartsLine))
    total = fields.Nested(PartsTotal)


class OutboxSummary(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    problems = fields.List(fields.Nested(ProblemMessage))
    parts = fields.Nested(PartsReport, metadata={
        "description": "SMS parts sent in the month, per kind and language"})


def _staff(actor: Actor) -> None:
    if actor.role not in ("admin", "auditor", "system"):
        raise PermissionDenied("permission.staff_only", "Only programme staff see the outbox",
                               role=actor.role)


def summary_for(session: Session, actor: Actor, group_id: int | None = None,
                limit: int = 100) -> dict[str, Any]:
    """The outbox as `actor` may see it (the API's GET /api/outbox and the console's outbox page):
    counts by status and the failed, held and uncertain messages of one group, of the actor's
    programme, or of everything for the service operator. Raises permission.staff_only,
    group.not_found (also another programme's group)."""
    _staff(actor)
    if group_id is not None:
        group = session.get(Group, group_id)
        if group is None:
            raise NotFound("group.not_found", "No such group", group_id=group_id)
        can_read_group(actor, group)
        scope: list[int] | None = [group.id]
    elif actor.role == "system":
        scope = None
    else:
        scope = list(session.scalars(select(Group.id).where(Group.programme_id == actor.programme_id)))
    report = outbox.summary(session, scope, limit)
    report["scope"] = scope
    return report


def retry_for(session: Session, actor: Actor, message_id: int) -> OutboxMessage:
    """Send a failed, held or uncertain message again, as `actor` may (the API's retry route and
    the console's retry button): a programme's admins for its groups' messages, the service
    operator for any. Raises permission.* (an auditor, a treasurer), outbox.not_found (also
    another programme's message), outbox.not_retryable."""
    _staff(actor)
    row = outbox.get_message(session, message_id)
    group = session.get(Group, row.group_id) if row.group_id is not None else None
    if group is None and actor.role != "system":
        # Replies to strangers belong to no programme: only the service operator retries them.
        raise NotFound("outbox.not_found", "No such message", message_id=message_id)
    if group is not None:
        can_read_group(actor, group)  # another programme's message: 404
        can_administer(actor, group)  # an auditor: 403
    return outbox.retry(session, row)


@blp.get("/outbox")
@blp.arguments(OutboxQuery, location="query")
@blp.response(200, OutboxSummary)
def outbox_summary(query: dict[str, Any]) -> dict[str, Any]:
    """Counts by status, and the failed, held and uncertain messages with their reasons."""
    with database().unit_of_work(write=False) as session:
        report = summary_for(session, g.actor, query["group_id"], query["limit"])
        report["parts"] = outbox.parts_report(session, query["month"], report.pop("scope"))
        return report


@blp.post("/outbox/<int(min=1, max=999999999999):message_id>/retry")
@blp.response(200, ProblemMessage)
def outbox_retry(message_id: int) -> dict[str, Any]:
    """Send a failed, held or uncertain message again (programme admins)."""
    with database().unit_of_work() as session:
        return outbox.problem_of(retry_for(session, g.actor, message_id))

"""Errors as problem documents (RFC 9457, `application/problem+json`).

Every refusal the API gives has the same shape: `type`, `title`, `status`, `detail`, the domain
error's stable `code` and its `facts`, and the request id. Validation errors also list each field.
Nothing reaches the client as a stack trace: an unexpected error is logged with the request id and
answered as a 500 problem that carries the same id.
"""

from __future__ import annotations

import logging
import uuid
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, g, json, request
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from vision_ledger.errors import Conflict, DomainError, LedgerFault, NotFound, PermissionDenied

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://vision-ledger.org/problems/"

log = logging.getLogger("api")


class ApiProblem(Exception):
    """A refusal of the API itself (not of the core): missing idempotency key, bad token..."""

    def __init__(self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
                 **facts: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.facts = facts
        self.headers = headers or {}


def request_id() -> str:
    rid = getattr(g, "request_id", None)
    if rid is None:
        rid = g.request_id = uuid.uuid4().hex
    return rid


def _title(code: str, status: int) -> str:
    """A short summary of the problem type: 'loan.above_maximum' -> 'Loan above maximum'."""
    if not code:
        return HTTPStatus(status).phrase
    words = code.replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def problem(status: int, code: str, detail: str, *, facts: dict[str, Any] | None = None,
            errors: list[dict[str, Any]] | None = None, headers: dict[str, str] | None = None) -> Response:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + code if code else "about:blank",
        "title": _title(code, status),
        "status": status,
        "detail": detail,
        "code": code,
        "facts": facts or {},
        "request_id": request_id(),
    }
    if errors is not None:
        body["errors"] = errors
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers["X-Request-Id"] = body["request_id"]
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# The HTTP status of each kind of domain refusal (the core's errors carry none); the most
# specific class listed first wins, and a refusal of any other kind is a 422.
DOMAIN_STATUSES: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (PermissionDenied, 403),
    (Conflict, 409),
)
# Codes answered otherwise than their class says.
CODE_STATUSES = {
    # The issue asks for 422 here: the request is well-formed but cannot be honoured.
    "idempotency.key_reused": 422,
}


def domain_status(exc: DomainError) -> int:
    """The HTTP status that answers a domain refusal."""
    if exc.code in CODE_STATUSES:
        return CODE_STATUSES[exc.code]
    return next((status for kind, status in DOMAIN_STATUSES if isinstance(exc, kind)), 422)


def from_domain_error(exc: DomainError) -> Response:
    return problem(domain_status(exc), exc.code, exc.message, facts=exc.facts)


def _flatten(messages: Any, prefix: str = "") -> list[dict[str, Any]]:
    """webargs' nested {"json": {"field": ["msg"]}} as a list of {field, location, message}."""
    out: list[dict[str, Any]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.extend(_flatten(value, name))
    elif isinstance(messages, list | tuple) and all(isinstance(m, str) for m in messages):
        location, _, field = prefix.partition(".")
        for message in messages:
            out.append({"location": location, "field": field or location, "message": message})
    elif isinstance(messages, list | tuple):
        for i, value in enumerate(messages):
            out.extend(_flatten(value, f"{prefix}.{i}"))
    else:
        location, _, field = prefix.partition(".")
        out.append({"location": location, "field": field or location, "message": str(messages)})
    return out


def from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") or data.get("errors")
    if messages:
        errors = _flatten(messages)
        fields = ", ".join(e["field"] for e in errors)
        return problem(422 if status == 422 else status, "request.invalid",
                       f"The request is not valid: {fields}", errors=errors,
                       facts={"fields": [e["field"] for e in errors]})
    code = {404: "http.not_found", 405: "http.method_not_allowed", 400: "http.bad_request",
            415: "http.unsupported_media_type", 413: "http.too_large"}.get(status, f"http.{status}")
    headers = {}
    valid = getattr(exc, "valid_methods", None)
    if status == 405 and valid:
        headers["Allow"] = ", ".join(valid)
    detail = exc.description or HTTPStatus(status).phrase
    return problem(status, code, detail, headers=headers)


def unexpected(exc: BaseException) -> Response:
    rid = request_id()
    log.exception("unexpected error (request %s %s %s)", rid, request.method, request.path,
                  exc_info=exc)
    return problem(500, "server.unexpected",
                   "Something went wrong on our side; quote the request id when you report it")


# SQLSTATE classes and codes of PostgreSQL errors that mean "try again": another transaction held
# what this one needed (lock timeout, deadlock, serialization failure).
_CLASH_SQLSTATES = ("40", "55P03")
# ... and those that mean the server cannot be reached or is going away.
_GONE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


def database_kind(exc: BaseException) -> str:
    """What a database error means for the client: "unreachable" (the database cannot be
    reached: 503), "clash" (another request held what this one needed: 409, try again), or
    "fault" (the data or the statement is wrong: our bug, 500).

    Only a lost or refused connection is "unreachable": an overflow or a constraint is a fault
    however the driver labels it (SQLite reports "integer overflow" as an OperationalError).
    """
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return "unreachable"
    state = _sqlstate(exc)
    orig = getattr(exc, "orig", None)
    if state is not None:
        if state.startswith(_CLASH_SQLSTATES):
            return "clash"
        if state.startswith(_GONE_SQLSTATES):
            return "unreachable"
        return "fault"
    text = str(orig or exc).lower()
    if "locked" in text or "busy" in text:  # SQLite's lock wait ran out
        return "clash"
    if type(orig).__module__.startswith("psycopg") or any(
            words in text for words in ("unable to open", "disk i/o", "connection", "server closed")):
        return "unreachable"  # psycopg without a SQLSTATE: the connection itself failed
    return "fault"


def database_error(exc: BaseException) -> Response:
    """A database error as the problem it is (see database_kind)."""
    kind = database_kind(exc)
    if kind == "unreachable":
        log.warning("database unreachable (request %s): %s", request_id(), exc)
        return problem(503, "database.unavailable",
                       "The database could not be reached; try again", headers={"Retry-After": "1"})
    if kind == "clash":
        return integrity_clash(exc)
    return unexpected(exc)


def ledger_fault(exc: LedgerFault) -> Response:
    """A broken invariant of the core (already logged with its facts and counted by
    vision_ledger.faults): our bug, so a 500, never a 422 the client could take for its mistake."""
    log.error("ledger fault %s (request %s %s %s)", exc.code, request_id(), request.method,
              request.path)
    return problem(500, "server.ledger_fault",
                   "The books refused an entry the service built; nothing was recorded. Quote the "
                   "request id when you report it", facts={"fault": exc.code})


def integrity_clash(exc: BaseException) -> Response:
    log.warning("clash in the database (request %s): %s", request_id(), exc)
    return problem(409, "request.conflict", "The request clashed with another one; try again")


def integrity_error(exc: BaseException) -> Response:
    """A unique key taken by a concurrent request is a clash (409, try again); a CHECK constraint
    broken is a value the core should have refused: our fault (500)."""
    if _sqlstate(exc) == "23514" or "check constraint failed" in str(exc).lower():
        return unexpected(exc)
    return integrity_clash(exc)


def value_refused(exc: BaseException) -> Response:
    """The database refused a value (a number beyond its column's range...): a route's or the
    core's validation should have refused it first, so it is our fault (500), logged to get a
    bound; never "unavailable"."""
    return unexpected(exc)


def register(app: Flask) -> None:
    """Install the handlers: domain errors, the API's own refusals, HTTP errors, anything else."""
    app.register_error_handler(DataError, value_refused)
    app.register_error_handler(OperationalError, database_error)
    app.register_error_handler(IntegrityError, integrity_error)
    app.register_error_handler(DomainError, from_domain_error)
    app.register_error_handler(LedgerFault, ledger_fault)
    app.register_error_handler(
        ApiProblem, lambda e: problem(e.status, e.code, e.detail, facts=e.facts, headers=e.headers))
    app.register_error_handler(HTTPException, from_http_exception)
    app.register_error_handler(Exception, unexpected)

"""Signing in and out: a pasted API token or a one-time link opens a server-side session.

The browser holds a random secret in an HttpOnly, SameSite=Lax cookie (Secure when the request came
over https, or always with VISION_CONSOLE_SECURE_COOKIE=1); the database keeps its SHA-256. Each
request re-reads the session's token with the API's own checks (revoked, expired, closed scope,
member gone), so the console can never see more than the same token sees through the API, and
revoking the token ends its console sessions at once.

CSRF: a signed-in form carries the session's own random token; the two anonymous forms (sign-in,
the link's confirmation) carry a random value that must equal the one in a short-lived
pre-session cookie (double submit), so another site cannot sign a browser in as someone else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Request, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from vision_ledger import ratelimits
from vision_ledger.actors import Actor
from vision_ledger.db import utcnow
from vision_ledger.errors import DomainError, NotFound

from .. import auth
from ..models import ApiToken
from ..problems import ApiProblem
from .models import ConsoleLink, ConsoleSession

COOKIE = "vl_console"
PRE_COOKIE = "vl_console_pre"
SESSION_HOURS = 12
LINK_MINUTES = 60
# Failed sign-ins allowed per client address (COUNT/SECONDS): the API's own limit by default.
FAILURE_KEY = "console:ip:{}"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class Signed:
    """The signed-in staff member of a request: the session row, its token and the actor."""

    row: ConsoleSession
    token: ApiToken
    actor: Actor


def _live_token(s: Session, token_hash: str) -> ApiToken:
    """The token if the API would accept it now. Raises ApiProblem 401 (auth.*)."""
    return auth.find(s, token_hash)  # the API's own checks, so the console sees what the API sees


def open_session(s: Session, token: ApiToken, language: str) -> tuple[ConsoleSession, str]:
    """A new session for a live token; its cookie secret is returned once."""
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    row = ConsoleSession(secret_hash=_hash(secret), csrf_token=secrets.token_urlsafe(32),
                         token_id=token.id, language=language, created_at=now,
                         expires_at=now + timedelta(hours=SESSION_HOURS))
    s.add(row)
    s.flush()
    return row, secret


def sign_in_with_token(s: Session, pasted: str, language: str) -> tuple[ConsoleSession, str]:
    """Open a session for a pasted API token. Raises ApiProblem 401 for an unknown, revoked or
    expired token or one whose scope is closed."""
    token = _live_token(s, auth.hash_token(pasted.strip()))
    return open_session(s, token, language)


def issue_link(s: Session, token: ApiToken, *, minutes: int = LINK_MINUTES) -> tuple[ConsoleLink, str]:
    """A one-time sign-in link for a token (the operator's command). Raises console.link_minutes."""
    if not 1 <= minutes <= 24 * 60:
        raise DomainError("console.link_minutes", "A sign-in link lives 1 to 1,440 minutes",
                          minutes=minutes)
    # The API tokens' prefix: every log line of the process masks vl_... (api.logmask), so a link
    # that reaches an access log (its secret is in the path) is written there masked.
    secret = auth.PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    link = ConsoleLink(secret_hash=_hash(secret), token_id=token.id, created_at=now,
                       expires_at=now + timedelta(minutes=minutes))
    s.add(link)
    s.flush()
    return link, secret


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes (UTC); PostgreSQL aware ones."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def find_link(s: Session, secret: str) -> ConsoleLink:
    """The unused, unexpired link of a secret. Raises console.link_unknown (404)."""
    link = s.scalars(select(ConsoleLink).where(ConsoleLink.secret_hash == _hash(secret))).first()
    if link is None or link.used_at is not None or _aware(link.expires_at) <= utcnow():
        raise NotFound("console.link_unknown", "This sign-in link is unknown, used or expired")
    return link


def sign_in_with_link(s: Session, secret: str, language: str) -> tuple[ConsoleSession, str]:
    """Use a one-time link: it is spent even if its token has since died. Raises
    console.link_unknown, ApiProblem 401."""
    link = find_link(s, secret)
    link.used_at = utcnow()
    s.flush()
    token = s.get(ApiToken, link.token_id)
    if token is None:
        raise NotFound("console.link_unknown", "This sign-in link is unknown, used or expired")
    token = _live_token(s, token.token_hash)
    return open_session(s, token, language)


def current(s: Session, request: Request) -> Signed | None:
    """The request's live session, or None (no cookie, unknown, ended, expired, or its token is no
    longer accepted)."""
    secret = request.cookies.get(COOKIE)
    if not secret:
        return None
    row = s.scalars(select(ConsoleSession).where(ConsoleSession.secret_hash == _hash(secret))).first()
    if row is None or row.ended_at is not None or _aware(row.expires_at) <= utcnow():
        return None
    token = s.get(ApiToken, row.token_id)
    try:
        token = _live_token(s, token.token_hash) if token is not None else None
    except ApiProblem:
        token = None
    if token is None:
        return None
    return Signed(row=row, token=token, actor=auth.actor_of(token))


def end(s: Session, signed: Signed) -> None:
    """Sign out: the session is over for good (its cookie is worthless afterwards)."""
    signed.row.ended_at = utcnow()
    s.flush()


# --- cookies and CSRF ------------------------------------------------------------------------------


def secure_cookies(request: Request) -> bool:
    """Secure cookies over https; plain http (the developer's 127.0.0.1) works without them unless
    VISION_CONSOLE_SECURE_COOKIE=1 says the service is only ever reached over https."""
    forced = str(current_app.config.get("VISION_CONSOLE_SECURE_COOKIE", "")).lower() in ("1", "true", "yes")
    return forced or request.is_secure


def set_session_cookie(response: Response, request: Request, secret: str) -> None:
    response.set_cookie(COOKIE, secret, max_age=SESSION_HOURS * 3600, path="/console",
                        secure=secure_cookies(request), httponly=True, samesite="Lax")
    response.delete_cookie(PRE_COOKIE, path="/console")


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path="/console", secure=secure_cookies(request), httponly=True,
                           samesite="Lax")


def pre_session(request: Request) -> tuple[str, bool]:
    """The anonymous form's CSRF value: the browser's pre-session cookie, or a new one (True)."""
    value = request.cookies.get(PRE_COOKIE, "")
    if len(value) >= 32:
        return value, False
    return secrets.token_urlsafe(32), True


def set_pre_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(PRE_COOKIE, value, max_age=3600, path="/console",
                        secure=secure_cookies(request), httponly=True, samesite="Lax")


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


# --- failed sign-ins -------------------------------------------------------------------------------


def failures_wait(s: Session, address: str) -> int | None:
    """Seconds to wait when this address failed too often lately (the API's limit), else None."""
    return ratelimits.over(s, FAILURE_KEY.format(address), auth.failure_limit())


def count_failure(s: Session, address: str) -> None:
    ratelimits.hit(s, FAILURE_KEY.format(address), auth.failure_limit())

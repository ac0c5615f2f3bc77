"""Bearer tokens: created by the command line, shown once, stored as their SHA-256, revocable.

A token maps to a `vision_ledger.actors.Actor` on the "api" channel; the core decides what the
actor may do. Scope is checked before anything else a route does: a group or programme outside
the token's scope answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any, Protocol

from flask import current_app, g, request
from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.orm import Session

from vision_ledger import groups, programmes, ratelimits
from vision_ledger.actors import Actor, can_read_member
from vision_ledger.db import utcnow
from vision_ledger.errors import DomainError, NotFound
from vision_ledger.models import Group, Member, Programme
from vision_ledger.settings import settings_of

from .models import ApiToken
from .problems import ApiProblem
from .session import database, session

log = logging.getLogger("api")

TOKEN_ROLES = ("operator", "admin", "auditor", "treasurer", "member")
PREFIX = "vl_"
TOUCH_EVERY = timedelta(seconds=60)  # last-used time is refreshed at most this often


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(s: Session, *, role: str, name: str, programme_id: int | None = None,
                 group_id: int | None = None, member_id: int | None = None,
                 expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token and its secret (shown once). An operator has no scope; admin/auditor need a
    programme, treasurer a group, member a member; `expires_at` (optional) must be in the future.
    Raises token.* and *.not_found."""
    if expires_at is not None and expires_at <= utcnow():
        raise DomainError("token.expiry_in_past", "A token's expiry must be in the future",
                          expires_at=expires_at)
    if role not in TOKEN_ROLES:
        raise DomainError("token.unknown_role", f"Role must be one of {', '.join(TOKEN_ROLES)}", role=role)
    if not (name or "").strip():
        raise DomainError("token.name_required", "A token needs a name (whose it is)")
    if role == "operator":
        if (programme_id, group_id, member_id) != (None, None, None):
            raise DomainError("token.operator_unscoped",
                              "An operator token is installation-wide: give no programme, group or member")
    elif role in ("admin", "auditor"):
        if programme_id is None or s.get(Programme, programme_id) is None:
            raise NotFound("programme.not_found", f"An {role} token needs an existing programme "
                           "(--programme)", programme_id=programme_id)
        group_id = member_id = None
    elif role == "treasurer":
        group = s.get(Group, group_id) if group_id is not None else None
        if group is None:
            raise NotFound("group.not_found", "A treasurer token needs an existing group (--group)",
                           group_id=group_id)
        programme_id, member_id = group.programme_id, None
    else:
        member = s.get(Member, member_id) if member_id is not None else None
        if member is None:
            raise NotFound("member.not_found", "A member token needs an existing member (--member)",
                           member_id=member_id)
        group_id = member.group_id
        programme_id = None
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name.strip()[:200], token_hash=hash_token(secret), role=role,
                     programme_id=programme_id, group_id=group_id, member_id=member_id,
                     expires_at=expires_at)
    s.add(token)
    s.flush()
    return token, secret


def revoke_token(s: Session, token_id: int) -> ApiToken:
    """Revoke a token (idempotent). Raises token.not_found."""
    token = s.get(ApiToken, token_id)
    if token is None:
        raise NotFound("token.not_found", "No such token", token_id=token_id)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    s.flush()
    return token


def list_tokens(s: Session) -> list[ApiToken]:
    return list(s.scalars(select(ApiToken).order_by(ApiToken.id)))


class _Scoped(Protocol):
    """What an actor is made of: a mapped token or a `live_token` row."""

    @property
    def id(self) -> int: ...
    @property
    def role(self) -> str: ...
    @property
    def programme_id(self) -> int | None: ...
    @property
    def group_id(self) -> int | None: ...
    @property
    def member_id(self) -> int | None: ...


def actor_of(token: _Scoped) -> Actor:
    return Actor(role=token.role, channel="api",
                 programme_id=token.programme_id if token.role in ("admin", "auditor") else None,
                 group_id=token.group_id if token.role in ("treasurer", "member") else None,
                 member_id=token.member_id if token.role == "member" else None,
                 name=f"token:{token.id}")


def scope_of(actor: Actor) -> str:
    """What an idempotency key is scoped to: the installation, the token's programme or group."""
    if actor.role == "operator":
        return "installation"
    if actor.role in ("admin", "auditor"):
        return f"programme:{actor.programme_id}"
    return f"group:{actor.group_id}"


def _unauthorised(detail: str) -> ApiProblem:
    return ApiProblem(401, "auth.unauthorised", detail, headers={"WWW-Authenticate": 'Bearer realm="vision"'})


def _failure_keys(secret: str) -> list[str]:
    keys = [f"auth:ip:{request.remote_addr or 'unknown'}"]
    if secret:
        keys.append(f"auth:prefix:{secret[:len(PREFIX) + 6]}")
    return keys


def failure_limit() -> ratelimits.Limit:
    """The limit on failed sign-ins per address (VISION_AUTH_FAILURE_LIMIT): the API's bearer
    tokens and the console's pasted tokens share it."""
    return settings_of(current_app.config).auth_failure_limit


def _too_many(wait: int) -> ApiProblem:
    return ApiProblem(429, "auth.too_many_failures",
                      "Too many failed authentications from this address or for this token; "
                      "try again later", headers={"Retry-After": str(wait)}, retry_after=wait)


def authenticate() -> Actor:
    """The actor of the request's bearer token. Raises 401 and 429 problems.

    Failures are counted per client address and per token prefix in the database (every worker
    shares the counts); once either is over VISION_AUTH_FAILURE_LIMIT, even a good token is
    answered 429 with Retry-After until the window ends. The counts and the token are read in
    two SELECTs (one for both counts, one for the token with the states of its scope:
    `live_token`, never cached). On SQLite they are read in a short read-only transaction of
    their own, before the request's unit of work begins: a writing request holds SQLite's write
    lock from its first statement, and neither these reads nor the last-use bookkeeping must
    lengthen it. On PostgreSQL, where writers of different groups do not wait on each other,
    they are the first reads of the request's own transaction (a BEGIN and a COMMIT fewer)."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    db = database()
    limit = failure_limit()
    keys = _failure_keys(secret)
    try:
        if db.dialect == "sqlite":
            with db.unit_of_work(write=False) as s:
                token = _check(s, scheme, secret, keys, limit)
        else:
            token = _check(session(), scheme, secret, keys, limit)
        _touch(token.id, token.last_used_at)
        return actor_of(token)
    except ApiProblem as problem:
        if problem.status == 429:  # refused for earlier failures: this one is not counted
            raise
        # The request's own session, if one was opened, is rolled back with the 401; the count
        # must outlive it, so that session ends first.
        stale = g.pop("db_session", None)
        if stale is not None:
            stale.rollback()
            stale.close()
        with db.unit_of_work() as s:
            for key in keys:
                ratelimits.hit(s, key, limit)
        raise


def _check(s: Session, scheme: str, secret: str, keys: list[str],
           limit: ratelimits.Limit) -> Row[*tuple[Any, ...]]:
    """The failure counts, then the token. Raises 429 and 401 problems."""
    if (wait := ratelimits.over_any(s, keys, limit)) is not None:
        raise _too_many(wait)
    if scheme.lower() != "bearer" or not secret:
        raise _unauthorised("Send a bearer token: Authorization: Bearer <token>")
    return live_token(s, hash_token(secret))


# The token and every state that can kill it, in one statement: its group's and programme's
# closing (a treasurer's or member's programme is its group's) and its member's standing. Built
# once, so each request pays only for the execution (this runs on every request of the API).
_SCOPE_PROGRAMME = func.coalesce(Group.programme_id, ApiToken.programme_id)
_LIVE = (
    select(ApiToken.id, ApiToken.token_hash, ApiToken.role, ApiToken.programme_id, ApiToken.group_id,
           ApiToken.member_id, ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at,
           Group.closed_at.label("group_closed_at"), Programme.closed_at.label("programme_closed_at"),
           Member.status.label("member_status"))
    .select_from(ApiToken)
    .outerjoin(Group, Group.id == ApiToken.group_id)
    .outerjoin(Programme, Programme.id == _SCOPE_PROGRAMME)
    .outerjoin(Member, Member.id == ApiToken.member_id)
    .where(ApiToken.token_hash == bindparam("digest"))
)


def live_token(s: Session, digest: str) -> Row[*tuple[Any, ...]]:
    """The live token of a digest, as a row (id, role, scope, last use): not revoked, not expired,
    its member still in the group, its group and programme open. Read fresh on every call, never
    cached, so a revocation, expiry or closing refuses the very next request. Raises 401."""
    token = s.execute(_LIVE, {"digest": digest}).first()
    if token is None or not hmac.compare_digest(token.token_hash, digest) or token.revoked_at is not None:
        raise _unauthorised("The token is unknown or revoked")
    now = utcnow()
    if token.expires_at is not None and _aware(token.expires_at, now) <= now:
        raise _unauthorised("The token has expired")
    if token.member_id is not None and token.member_status != "active":
        raise _unauthorised("The token's member has left the group")
    if token.group_closed_at is not None:
        raise ApiProblem(401, "auth.scope_closed", "The token's group is closed",
                         headers={"WWW-Authenticate": 'Bearer realm="vision"'})
    if token.programme_closed_at is not None:
        raise ApiProblem(401, "auth.scope_closed", "The token's programme is closed",
                         headers={"WWW-Authenticate": 'Bearer realm="vision"'})
    return token


def find(s: Session, digest: str) -> ApiToken:
    """The live token of a digest as its mapped row (the console's sign-in keeps it): the same
    checks as `live_token`. Raises 401."""
    token = s.get(ApiToken, live_token(s, digest).id)
    assert token is not None  # just read in this transaction
    return token


def _aware(moment: datetime, now: datetime) -> datetime:
    return moment.replace(tzinfo=now.tzinfo) if moment.tzinfo is None else moment


def _touch(token_id: int, last: datetime | None) -> None:
    """Record the last use, at most once a minute, in a transaction of its own (best effort)."""
    now = utcnow()
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=now.tzinfo)
    if last is not None and now - last < TOUCH_EVERY:
        return
    db = database()
    try:
        with db.unit_of_work(write=True) as s:
            s.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    except Exception:  # the request must not fail because its bookkeeping could not be written
        log.warning("could not record last use of token %s", token_id, exc_info=True)


def current_actor() -> Actor:
    return g.actor


def check_scope(view_args: dict[str, Any] | None) -> None:
    """Authenticate, then check the path's programme, group and member against the token's scope
    before the route validates or does anything else. Out of scope is 404."""
    actor = g.actor = authenticate()
    args = view_args or {}
    s = session()
    if "programme_id" in args:
        g.programme = programmes.get_programme(s, actor, int(args["programme_id"]))
    if "group_id" in args:
        group = groups.get_group(s, actor, int(args["group_id"]))
        g.group = group
        g.currency = group.currency
        if "member_id" in args:
            can_read_member(actor, group, int(args["member_id"]))

"""Idempotency of money-moving requests: the `Idempotency-Key` header.

A key is scoped to the token's group or programme and to the route (method and path). The first
successful response is stored with the request body's fingerprint, in the same transaction as the
entry it reports; a replay with the same body gets that status and body back and posts nothing; the
same key with another body is refused (422). The key is also handed to the core, so the ledger
itself dedupes: the group's row is locked before the stored responses are read, so two identical
requests racing each other are serialised and the second finds the first's response.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, current_app, g, request
from sqlalchemy import Row, bindparam, insert, select
from sqlalchemy.orm import Session

from vision_ledger import ledger
from vision_ledger.db import utcnow

from .auth import scope_of
from .models import IdempotentResponse
from .problems import ApiProblem
from .session import database, session

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,100}$")  # visible ASCII, at most 100 characters

HEADER_DOC = {"in": "header", "name": HEADER, "required": True,
              "description": "A unique key per money-moving request (a UUID is fine); a retry with the "
                             "same key and body returns the first response and posts nothing.",
              "schema": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"^[!-~]+$"}}


def _fingerprint() -> str:
    body = request.get_json(silent=True)
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(stored: Row[int, str, str]) -> Response:
    response = Response(stored.body, status=stored.status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response


# Every money-moving request looks its key up and stores its response: both statements are
# built once, and read or write plain rows (no mapped objects to build or flush).
_STORED = IdempotentResponse.__table__
_LOOKUP = (select(_STORED.c.status, _STORED.c.body, _STORED.c.fingerprint)
           .where(_STORED.c.scope == bindparam("scope"), _STORED.c.route == bindparam("route"),
                  _STORED.c.key == bindparam("key")))
_STORE = insert(_STORED)


def _lookup(s: Session, scope: str, route: str, key: str) -> Row[int, str, str] | None:
    return s.execute(_LOOKUP, {"scope": scope, "route": route, "key": key}).first()


def core_key() -> str | None:
    """The key handed to the core: namespaced so it never clashes with another door's keys."""
    return g.get("core_idempotency_key")


def check_header() -> None:
    """Before the body is even validated: a route that moves money refuses a request without a key."""
    view = current_app.view_functions.get(request.endpoint or "")
    if not getattr(view, "requires_idempotency_key", False):
        return
    key = request.headers.get(HEADER, "").strip()
    if not key:
        raise ApiProblem(400, "idempotency.key_required",
                         f"A request that moves money needs an {HEADER} header", header=HEADER)
    if not _KEY.match(key):
        raise ApiProblem(400, "idempotency.key_invalid",
                         f"The {HEADER} is 1 to 100 visible ASCII characters", header=HEADER)


def idempotent(view: Callable[..., Any]) -> Callable[..., Any]:
    """Require an Idempotency-Key on this route and replay stored responses."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_header()
        key = request.headers[HEADER].strip()
        s = session()
        group = g.group
        ledger.lock_group(s, group.id)  # serialise with every other write of this group
        scope = scope_of(g.actor)
        route = f"{request.method} {request.path}"[:300]
        fingerprint = _fingerprint()
        stored = _lookup(s, scope, route, key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise ApiProblem(422, "idempotency.key_reused",
                                 "This idempotency key was already used for a different request; "
                                 "use a new key for a new request", key=key)
            return _replay(stored)
        route_tag = hashlib.sha256(route.encode()).hexdigest()[:12]
        g.core_idempotency_key = f"api:{scope}:{route_tag}:{key}"
        g.idempotency = {"scope": scope, "route": route, "key": key, "fingerprint": fingerprint,
                         "group_id": group.id}
        return view(*args, **kwargs)

    # A mark on the view, read back with getattr where the route is registered.
    wrapper.requires_idempotency_key = True  # type: ignore[attr-defined]
    return wrapper


def store(s: Session, response: Response) -> None:
    """Keep a successful response of an idempotent request (called just before the commit)."""
    pending = g.get("idempotency")
    if pending is None or response.status_code >= 300 or response.headers.get("Idempotent-Replayed"):
        return
    s.execute(_STORE, {"status": response.status_code, "body": response.get_data(as_text=True),
                       "created_at": utcnow(), **pending})


def replay_after_race() -> Response | None:
    """After a unique-key clash at commit: the response the other request stored, if any."""
    info = g.get("idempotency")
    if info is None:
        return None
    with database().unit_of_work(write=False) as s:
        stored = _lookup(s, info["scope"], info["route"], info["key"])
        if stored is None or stored.fingerprint != info["fingerprint"]:
            return None
        return _replay(stored)

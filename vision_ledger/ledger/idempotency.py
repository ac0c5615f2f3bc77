"""Idempotency: a request repeated with the same key is answered with the entry it made the first
time; the same key with a different request is refused. An entry keeps its key and the SHA-256 of
the request that made it (its fingerprint); a unique index on (group, key) stands behind it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import Conflict
from ..models import Entry
from .journal import canonical

_entries = Entry.__table__
_REPLAY = select(_entries.c.id, _entries.c.fingerprint, _entries.c.seq).where(
    _entries.c.group_id == bindparam("gid"), _entries.c.idempotency_key == bindparam("key"))


def fingerprint_of(request: dict[str, Any]) -> str:
    """The SHA-256 of a request's canonical JSON: what an idempotency key promises to repeat."""
    return hashlib.sha256(canonical(request).encode()).hexdigest()


def key_reused(key: str | None, entry_seq: int) -> Conflict:
    """idempotency.key_reused: the key made an entry for another request."""
    return Conflict("idempotency.key_reused",
                    "This idempotency key was already used for a different request",
                    key=key, entry_seq=entry_seq)


def find_replay(session: Session, group_id: int, key: str | None, request: dict[str, Any]) -> Entry | None:
    """The entry an earlier call with this key made, if the request is the same one.

    Raises Conflict idempotency.key_reused when the key was used for a different request.
    """
    if not key:
        return None
    found = session.connection().execute(_REPLAY, {"gid": group_id, "key": key}).first()
    if found is None:
        return None
    return replay_of(session, key, request, (found.id, found.fingerprint, found.seq))


def replay_of(session: Session, key: str | None, request: dict[str, Any],
              found: tuple[int, str, int]) -> Entry:
    """The entry an earlier call with this key made (`found`: its id, fingerprint and seq, as
    the caller read them), when the request is the same one. Raises idempotency.key_reused."""
    entry_id, fingerprint, seq = found
    if fingerprint != fingerprint_of(request):
        raise key_reused(key, seq)
    entry = session.get(Entry, entry_id)
    assert entry is not None
    return entry

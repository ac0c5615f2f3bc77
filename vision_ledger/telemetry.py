"""Telemetry: what the core and the doors report about themselves, as plain function calls.

Entries posted, PIN lockouts, verification failures, invariant faults, SMS sends. The core does
not know who listens: a door that exports metrics subscribes a sink (`api/observability.py` turns
events into Prometheus counters); with no sink the calls cost a list lookup. Labels are small,
fixed vocabularies (an entry kind, a channel, an error code, an AT status code): never an id, a
phone number, a PIN or a token.

Entries are counted when their transaction commits, not when they are posted: a request that
rolls back (a refusal after posting, a lost race) posted nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("vision_ledger.telemetry")

Sink = Callable[[str, dict[str, str], float], None]

_sinks: list[Sink] = []
_PENDING = "vision_telemetry_posted"


def subscribe(sink: Sink) -> None:
    """Call `sink(event, labels, value)` for every event from now on (once per sink)."""
    if sink not in _sinks:
        _sinks.append(sink)


def unsubscribe(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


def emit(name: str, value: float = 1.0, **labels: str) -> None:
    """Hand one event to every sink; a failing sink never fails the caller's operation."""
    for sink in list(_sinks):
        try:
            sink(name, labels, value)
        except Exception:
            log.exception("telemetry sink failed on %s", name)


def entry_posted(session: Session, kind: str) -> None:
    """An entry of `kind` was posted in the session's transaction; counted when it commits."""
    session.info.setdefault(_PENDING, []).append(kind)


def pin_locked() -> None:
    """A member's PIN was locked after too many wrong tries."""
    emit("pin_lockouts")


def verification_failed(groups: int) -> None:
    """A verification run found `groups` groups whose books do not recompute."""
    if groups > 0:
        emit("verification_failures", float(groups))


def invariant_fault(code: str) -> None:
    """The core caught itself breaking one of its own rules (`code` names which): a bug to page on."""
    emit("invariant_faults", code=code)


def sms_send(outcome: str, status_code: int | None) -> None:
    """One send to the SMS gateway and what came of it (AT's per-recipient status code)."""
    emit("sms_sends", outcome=outcome, status_code=str(status_code) if status_code is not None else "none")


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    for kind in session.info.pop(_PENDING, ()):
        emit("entries_posted", kind=kind)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: object) -> None:
    session.info.pop(_PENDING, None)

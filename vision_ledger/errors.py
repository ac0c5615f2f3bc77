"""Domain errors: a stable code, a message for people, and the facts behind it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


class _Coded(Exception):
    """An exception with a stable code, a message for people and JSON-friendly facts."""

    def __init__(self, code: str, message: str, **facts: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.facts = {k: _plain(v) for k, v in facts.items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, {self.facts!r})"


class DomainError(_Coded):
    """A refusal by the rules of the group, the programme or the ledger.

    `code` is stable (`loan.above_maximum`); `facts` carries the numbers a door needs to explain
    the refusal in the member's language (`{"maximum": "20.00", "requested": "25.00"}`).

    Errors carry no transport status: each door decides what a refusal means to it (the API maps
    these classes to HTTP statuses in `api/problems.py`).
    """


class NotFound(DomainError):
    """The thing does not exist, or is outside the actor's scope (never say which)."""


class PermissionDenied(DomainError):
    """The actor may see the thing but not do this to it."""


class Conflict(DomainError):
    """The request clashes with state: an idempotency key reused with another payload, etc."""


def _plain(value: Any) -> Any:
    """Facts are JSON-friendly: Money becomes its decimal string, dates their ISO form.

    Money is recognised by its `decimal_string` method rather than by class: errors sit below
    money in the core (money raises them), so this module does not import it.
    """
    decimal_string = getattr(value, "decimal_string", None)
    if callable(decimal_string):
        return decimal_string()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class LedgerFault(_Coded):
    """A broken invariant of the ledger: an entry the core built that does not balance, has a
    posting of nothing or fewer than two postings, or mixes currencies. A bug in the core, never
    a user's mistake: deliberately NOT a
    DomainError, so no door can answer it as a refusal. Doors answer it as their generic failure
    (a 500 problem, the USSD apology); `vision_ledger.faults` logs and counts it.
    """

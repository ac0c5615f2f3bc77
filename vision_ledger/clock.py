"""The wall-clock time the service's rules read: `now()`, timezone-aware UTC.

Expiries, rate-limit windows, lockouts, claims and retries read it through `now()` (also by way of
`vision_ledger.db.utcnow`), never `datetime.now` directly, so the source can be given: `use` sets
it (the system clock unless told otherwise) and returns the previous one. Tests use it to let time
pass without sleeping; durations measured within a process (time.monotonic) are not its concern.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Source = Callable[[], datetime]


def system_now() -> datetime:
    return datetime.now(UTC)


_source: list[Source] = [system_now]


def now() -> datetime:
    return _source[0]()


def use(source: Source) -> Source:
    """Read the time from `source` from now on; return the source used until now."""
    previous, _source[0] = _source[0], source
    return previous

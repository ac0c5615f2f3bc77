"""The journal's hash chain: each entry's SHA-256 over the previous entry's hash and everything
the entry says, in one canonical JSON form, so that changing, removing or inserting any entry
breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64  # the prev_hash of a group's first entry


def canonical(data: Any) -> str:
    """JSON with sorted keys and no spaces: one text for one value (dates and decimals as str)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def utc_text(moment: datetime) -> str:
    """A moment as naive UTC ISO text to the microsecond, however the driver gave it back."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def entry_hash(entry: Any, postings: Iterable[tuple[str, int, int]]) -> str:
    """SHA-256 over the previous hash and everything the entry says, postings in a fixed order.

    `entry` is an Entry or anything with its columns as attributes (a row of JOURNAL_COLUMNS).
    """
    body = {
        "group": entry.group_id, "seq": entry.seq, "kind": entry.kind, "member": entry.member_id,
        "meeting": entry.meeting_id, "cycle": entry.cycle_id, "loan": entry.loan_id,
        "date": entry.effective_date.isoformat(), "recorded_at": utc_text(entry.recorded_at),
        "actor": entry.actor, "channel": entry.channel, "key": entry.idempotency_key,
        "fingerprint": entry.fingerprint, "reverses": entry.reverses_id, "memo": entry.memo,
        "details": entry.details or {}, "postings": sorted([list(p) for p in postings]),
    }
    return hashlib.sha256((entry.prev_hash + canonical(body)).encode()).hexdigest()

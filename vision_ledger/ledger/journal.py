"""The journal's hash chain: each entry's SHA-256 over the previous entry's hash and everything
the entry says, in one canonical JSON form, so that changing, removing or inserting any entry
breaks every hash after it. Those canonical bytes are stored with the entry (`Entry.canonical`),
so a verifier can hash what was hashed and compare, separately, what it says with the columns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64  # the prev_hash of a group's first entry


# json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str), with
# the encoder built once: json.dumps builds a JSONEncoder and its C encoder on every call, which
# cost more than encoding a small value. The C encoder is built without the circular-reference
# check's shared memo (so threads may share it); a circular value still fails, as RecursionError.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_ENCODE = (_c_encoder(None, str, json.encoder.encode_basestring, None, ":", ",", True, False, True)
           if _c_encoder is not None else None)


def canonical(data: Any) -> str:
    """JSON with sorted keys and no spaces: one text for one value (dates and decimals as str)."""
    if _ENCODE is None or isinstance(data, str):  # the C encoder takes containers and scalars alike,
        return _CANONICAL.encode(data)             # but a bare str is json's own fast path
    return "".join(_ENCODE(data, 0))


def utc_text(moment: datetime) -> str:
    """A moment as naive UTC ISO text to the microsecond, however the driver gave it back."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


_text = json.encoder.encode_basestring  # json.dumps(str, ensure_ascii=False), without its dispatch


def _int(value: int | None) -> str:
    if value is None:
        return "null"
    if type(value) is not int:  # a bool or an enum: json.dumps writes it its own way
        raise TypeError
    return int.__repr__(value)


def _str(value: str | None) -> str:
    if value is None:
        return "null"
    if type(value) is not str:
        raise TypeError
    return _text(value)


def entry_body(entry: Any, postings: Iterable[tuple[str, int, int]]) -> str:
    """The canonical JSON of everything an entry says: exactly `canonical()` of the dict below.

    {"actor", "channel", "cycle", "date", "details", "fingerprint", "group", "key", "kind",
    "loan", "meeting", "member", "memo", "postings", "recorded_at", "reverses", "seq"}, written
    out field by field in that (sorted) order, because building the dict and sorting its keys in
    `json.dumps` cost most of a verification. tests/core/test_journal_encoding.py holds the two
    equal; a value of another type than the columns give falls back to `canonical()`.
    """
    lines = sorted([list(p) for p in postings])
    try:
        if not all(type(k) is str and type(a) is int and type(u) is int for k, a, u in lines):
            raise TypeError
        details = entry.details
        return (
            f'{{"actor":{_str(entry.actor)},"channel":{_str(entry.channel)},'
            f'"cycle":{_int(entry.cycle_id)},"date":{_text(entry.effective_date.isoformat())},'
            f'"details":{canonical(details) if details else "{}"},'
            f'"fingerprint":{_str(entry.fingerprint)},"group":{_int(entry.group_id)},'
            f'"key":{_str(entry.idempotency_key)},"kind":{_str(entry.kind)},'
            f'"loan":{_int(entry.loan_id)},"meeting":{_int(entry.meeting_id)},'
            f'"member":{_int(entry.member_id)},"memo":{_str(entry.memo)},'
            f'"postings":[{",".join(f"[{_text(str(k))},{a},{u}]" for k, a, u in lines)}],'
            f'"recorded_at":{_text(utc_text(entry.recorded_at))},'
            f'"reverses":{_int(entry.reverses_id)},"seq":{_int(entry.seq)}}}'
        )
    except TypeError:  # a str where an int belongs, an int where a str does: the general encoder
        return canonical({
            "group": entry.group_id, "seq": entry.seq, "kind": entry.kind, "member": entry.member_id,
            "meeting": entry.meeting_id, "cycle": entry.cycle_id, "loan": entry.loan_id,
            "date": entry.effective_date.isoformat(), "recorded_at": utc_text(entry.recorded_at),
            "actor": entry.actor, "channel": entry.channel, "key": entry.idempotency_key,
            "fingerprint": entry.fingerprint, "reverses": entry.reverses_id, "memo": entry.memo,
            "details": entry.details or {}, "postings": lines,
        })


def sealed(entry: Any, postings: Iterable[tuple[str, int, int]]) -> tuple[bytes, str]:
    """The entry's canonical bytes (`entry_body` in UTF-8, stored beside it as `canonical`) and
    its hash: SHA-256 over the previous hash and those bytes."""
    body = entry_body(entry, postings).encode()
    return body, chain_hash(entry.prev_hash, body)


def chain_hash(prev_hash: str, body: bytes) -> str:
    """SHA-256 over the previous entry's hash and an entry's canonical bytes, in hex."""
    return hashlib.sha256(prev_hash.encode() + body).hexdigest()


def entry_hash(entry: Any, postings: Iterable[tuple[str, int, int]]) -> str:
    """SHA-256 over the previous hash and everything the entry says (`entry_body`), postings in a
    fixed order.

    `entry` is an Entry or anything with its columns as attributes (a row of JOURNAL_COLUMNS).
    """
    return sealed(entry, postings)[1]

"""The journal's fast encoder writes exactly the canonical JSON the hash chain has always used."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vision_ledger.ledger.journal import entry_body, utc_text

ids = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
texts = st.none() | st.text()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=4)
entries = st.builds(
    SimpleNamespace, group_id=ids, seq=ids, kind=texts, member_id=ids | st.booleans(),
    meeting_id=ids, cycle_id=ids, loan_id=ids, reverses_id=ids, actor=texts, channel=texts,
    idempotency_key=texts, fingerprint=texts | st.integers(), memo=texts,
    effective_date=st.dates(),
    recorded_at=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                             timezones=st.none() | st.just(timezone(timedelta(hours=3)))),
    details=st.none() | st.dictionaries(st.text(), json_values, max_size=4))
postings = st.lists(st.tuples(st.text(), st.integers(), st.integers()), max_size=5)


# The body's plain fields, by the name the hash gives each: the reference below is json.dumps
# over a dict, as the encoder was first written.
PLAIN = {"group": "group_id", "seq": "seq", "kind": "kind", "member": "member_id",
         "meeting": "meeting_id", "cycle": "cycle_id", "loan": "loan_id", "actor": "actor",
         "channel": "channel", "key": "idempotency_key", "fingerprint": "fingerprint",
         "reverses": "reverses_id", "memo": "memo"}


def slow_body(e: SimpleNamespace, lines: list[tuple[str, int, int]]) -> str:
    body = {name: getattr(e, attribute) for name, attribute in PLAIN.items()}
    body |= {"date": e.effective_date.isoformat(), "recorded_at": utc_text(e.recorded_at),
             "details": e.details or {}, "postings": sorted([list(p) for p in lines])}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)  # slow only under load
@given(entries, postings)
def test_fast_body_equals_canonical(entry: SimpleNamespace, lines: list[tuple[str, int, int]]) -> None:
    assert entry_body(entry, lines) == slow_body(entry, lines)


def test_a_known_entry() -> None:
    e = SimpleNamespace(group_id=7, seq=3, kind="shares", member_id=None, meeting_id=2, cycle_id=1,
                        loan_id=None, reverses_id=None, actor="treasurer:1", channel="ussd",
                        idempotency_key="k\u00e9\"", fingerprint="f", memo=None,
                        effective_date=date(2026, 1, 31), recorded_at=datetime(2026, 1, 31, 8, 0),
                        details={"b": 1, "a": [True, None]})
    body = entry_body(e, [("savings", -100, -1), ("cash", 100, 0)])
    assert body == slow_body(e, [("savings", -100, -1), ("cash", 100, 0)])
    assert body.startswith('{"actor":"treasurer:1","channel":"ussd","cycle":1,"date":"2026-01-31",'
                           '"details":{"a":[true,null],"b":1},')
    assert '"key":"k\u00e9\\"",' in body and '"postings":[["cash",100,0],["savings",-100,-1]]' in body

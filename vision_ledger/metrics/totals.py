"""Checking the per-period totals against the postings: what `verify` adds for the measures.

The totals are a cache of sums the measures read; they must never drift from the journal they
summarise. `verify_totals` recomputes every row up to each group's mark from the postings, the
meetings and the attendance rows, and names each difference (a row missing, a row too many, a
column that differs), so a tampered or miscounted total is found by the nightly verification
like a tampered balance. The members' span rows (months, years, positions) are derived in Python
from the recomputed day rows and compared the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import spans
from .fold import FOLDS, KEYS, SUMS, Range
from .tables import MemberDayTotal, MemberSpanTotal, TotalsMark

BATCH = 50  # groups compared at a time: memory stays that of 50 groups' rows


def verify_totals(session: Session, group_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Every difference between the stored totals of these groups and a recomputation from the
    postings up to their marks: dicts with `problem` ("totals_mismatch"), `group_id`, `table`,
    the row's key (`day`, and `member_id` or `loan_id`; a span row's `member_id`, `span` and its
    first day as `day`), `field`, `expected` and `found`."""
    ids = sorted(set(group_ids))
    differences: list[dict[str, Any]] = []
    for i in range(0, len(ids), BATCH):
        batch = ids[i:i + BATCH]
        for table, fold in FOLDS.items():
            expected = _rows(session, fold(Range(batch, "folded")), len(KEYS[table]))
            columns = [getattr(table, c) for c in (*KEYS[table], *SUMS[table])]
            found = _rows(session, select(*columns).where(table.group_id.in_(batch)),  # type: ignore[attr-defined]
                          len(KEYS[table]))
            differences.extend(_compare(table.__tablename__, KEYS[table], SUMS[table], expected, found))
            if table is MemberDayTotal:
                differences.extend(_compare_spans(session, batch, expected))
    differences.sort(key=lambda d: (d["group_id"], d["table"], d["day"]))
    return differences


def marks(session: Session, group_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """Each group's mark: (journal seq, meeting id) folded so far; groups never folded are absent."""
    return {r.group_id: (r.seq, r.meeting_id) for r in session.execute(
        select(TotalsMark.group_id, TotalsMark.seq, TotalsMark.meeting_id)
        .where(TotalsMark.group_id.in_(list(group_ids))))}


def _rows(session: Session, stmt: Any, nkeys: int) -> dict[tuple[Any, ...], tuple[int, ...]]:
    return {tuple(r[:nkeys]): tuple(int(v or 0) for v in r[nkeys:]) for r in session.execute(stmt)}


def _compare(table: str, keys: Sequence[str], sums: Sequence[str],
             expected: dict[tuple[Any, ...], tuple[int, ...]],
             found: dict[tuple[Any, ...], tuple[int, ...]]) -> Iterator[dict[str, Any]]:
    zeros = (0,) * len(sums)
    for key in sorted(expected.keys() | found.keys(), key=lambda k: tuple(str(x) for x in k)):
        want, have = expected.get(key, zeros), found.get(key, zeros)
        where = dict(zip(keys, key, strict=True))
        where["day"] = _day(where["day"])
        for name, a, b in zip(sums, want, have, strict=True):
            if a != b:
                yield {"problem": "totals_mismatch", "table": table, **where, "field": name,
                       "expected": a, "found": b}


def _compare_spans(session: Session, batch: Sequence[int],
                   days: dict[tuple[Any, ...], tuple[int, ...]]) -> Iterator[dict[str, Any]]:
    s = MemberSpanTotal
    found = {(r[0], r[1], r[2], _day(r[3])): tuple(int(v) for v in r[4:]) for r in session.execute(
        select(s.group_id, s.member_id, s.span, s.start, *(getattr(s, n) for n in spans.SPAN_SUMS))
        .where(s.group_id.in_(batch)))}
    yield from _compare(s.__tablename__, ("group_id", "member_id", "span", "day"), spans.SPAN_SUMS,
                        spans.expected(days.items(), SUMS[MemberDayTotal]), found)


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


__all__ = ["marks", "verify_totals"]

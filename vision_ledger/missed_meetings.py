"""Scheduled meetings not held: a cycle's schedule (an RFC 5545 RRULE from the cycle's start)
against the dates its group met (`audit`'s `meetings_missed` flag).

The schedule's dates and the days each owns are the same for every group that shares the schedule
and the period, so they are computed once per process (dateutil takes about 20 us a date: a year of
weekly dates for 1,000 groups was most of a second); each group's meetings are then placed by a
binary search.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import date, datetime, timedelta
from datetime import time as clock
from functools import lru_cache

from dateutil.rrule import rrulestr


def scheduled_dates(schedule: str, start: date, until: date) -> list[date]:
    """The schedule's dates from `start` to `until`, both included."""
    return list(_scheduled(schedule, start, until))


@lru_cache(maxsize=4096)
def _scheduled(schedule: str, start: date, until: date) -> tuple[date, ...]:
    # Cached: dateutil spends about 20 us an occurrence, a year of weekly dates 1 ms, and the
    # groups of a programme mostly share a schedule and (cycles begun before the period) a start.
    rule = rrulestr(schedule, dtstart=datetime.combine(start, clock(12)))
    return tuple(d.date() for d in rule.between(datetime.combine(start, clock(0)),
                                                datetime.combine(until, clock(23, 59)), inc=True))


@lru_cache(maxsize=4096)
def _next_scheduled(schedule: str, day: date, within: int = 400) -> date | None:
    """The schedule's first date from `day` (the rule started on that day) within `within` days."""
    rule = rrulestr(schedule, dtstart=datetime.combine(day, clock(12)))
    found = rule.after(datetime.combine(day, clock(0)), inc=True)
    return found.date() if found is not None and found.date() <= day + timedelta(days=within) else None


def missed_dates(schedule: str, start: date, until: date, held: list[date]) -> tuple[list[date], int]:
    """Scheduled dates with no meeting within half an interval of them; and how many were due.

    Each scheduled date owns the days closer to it than to its neighbours (a weekly Thursday owns
    Monday to Sunday), so a meeting moved by a day or two still counts for its week.
    """
    windows = _windows(schedule, start, until)
    ordered = sorted(held)
    missed = []
    for day, lo, hi in windows:
        first = bisect_left(ordered, lo)  # the earliest meeting on or after lo: is it before hi?
        if first == len(ordered) or ordered[first] >= hi:
            missed.append(day)
    return missed, len(windows)


@lru_cache(maxsize=4096)
def _windows(schedule: str, start: date, until: date) -> tuple[tuple[date, date, date], ...]:
    """Each scheduled date with the days it owns, [lo, hi): the same for every group that shares
    the schedule and the period, so computed once for them."""
    dates = _scheduled(schedule, start, until)
    if not dates:
        return ()
    after = _next_scheduled(schedule, until + timedelta(days=1))
    points = [*dates, after] if after is not None else list(dates)
    out = []
    for i, day in enumerate(dates):
        # Half the gap to the neighbours on each side (the same gap mirrored at the ends).
        gap_before = day - points[i - 1] if i else (points[1] - day if len(points) > 1 else timedelta(7))
        gap_after = points[i + 1] - day if i + 1 < len(points) else gap_before
        out.append((day, day - gap_before / 2, day + gap_after / 2))
    return tuple(out)


__all__ = ["missed_dates", "scheduled_dates"]

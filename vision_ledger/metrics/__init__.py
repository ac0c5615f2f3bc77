"""Measures programme staff look at, per group and rolled up over a programme or a region.

- `measures`: the facts and ratios (definitions in its docstring), `Measures`, `GroupMeasures`,
  `ProgrammeMeasures`;
- `access`: who may read them (`require_staff`, `staff_group`, `staff_programme`);
- `tables`: the per-period totals kept beside the ledger, per group and day, and each group's
  high-water mark; `fold`: folding the journal past the mark into them (`refresh`); `spans`: the
  members' month, year and position rows kept from the day rows, and the member read over them;
- `compute`: the measures of many groups over a period, from the totals; `reads`: the public
  reads (`group_measures`, `programme_measures`, `cycle_period`); `series`: a programme's chart
  measures over consecutive weeks or months in one pass;
- `totals`: `verify_totals`, the totals recomputed from the postings, each difference named.
"""

from __future__ import annotations

from .access import require_staff, staff_group, staff_programme
from .compute import compute
from .fold import refresh
from .measures import ROS_BAND, SEGMENTS, Facts, GroupMeasures, Measures, ProgrammeMeasures
from .reads import cycle_period, group_measures, programme_measures
from .series import SERIES_MEASURES, SeriesPoint, series
from .tables import GroupDayTotal, LoanDayTotal, MemberDayTotal, MemberSpanTotal, TotalsMark
from .totals import verify_totals

__all__ = ["ROS_BAND", "SEGMENTS", "SERIES_MEASURES", "Facts", "GroupDayTotal", "GroupMeasures",
           "LoanDayTotal", "Measures", "MemberDayTotal", "MemberSpanTotal", "ProgrammeMeasures",
           "SeriesPoint", "TotalsMark",
           "compute", "cycle_period", "group_measures", "programme_measures", "refresh", "require_staff",
           "series", "staff_group", "staff_programme", "verify_totals"]

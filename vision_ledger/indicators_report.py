"""The indicator table of a programme for one period: each indicator's target, actual and
percentage of the target, with its breakdowns; as plain rows in the layout of a quarterly donor
report (indicator, target, actual, percentage, breakdowns as columns) for any page or file to
render, and as CSV.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.orm import Session

from .actors import Actor
from .exports import SafeCsvWriter
from .indicators import MEASURES, format_value, list_indicators, parse_period, staff_programme, targets_of
from .indicators_measures import Scope, actual

HEADER = ("indicator", "title", "measure", "unit", "period", "target", "actual", "percentage")


@dataclass
class Line:
    """One indicator in the table. `target` and `actual` are in the measure's unit: a count,
    minor units, or (ratios) basis points for the target and a fraction for the actual."""

    code: str
    title: str
    measure: str
    unit: str
    target: int | None
    actual: int | Decimal | None
    percentage: Decimal | None
    breakdown: dict[str, int | Decimal | None] = field(default_factory=dict)


@dataclass
class Table:
    programme_id: int
    period: str
    start: date
    end: date
    as_of: date
    currency: str
    language: str
    lines: list[Line]

    @property
    def columns(self) -> list[str]:
        """The breakdown columns of the whole table, in first-seen order."""
        seen: dict[str, None] = {}
        for line in self.lines:
            seen.update(dict.fromkeys(line.breakdown))
        return list(seen)

    def value(self, line: Line, value: int | Decimal | None) -> str | None:
        """A target (int) or an actual (int, or a Decimal fraction for ratios) as text."""
        return format_value(MEASURES[line.measure], value, self.currency)

    def rows(self) -> list[list[str]]:
        """The donor-report layout: a header, then one row per indicator; money in major units of
        the programme's currency, ratios as fractions, empty cells where nothing applies."""
        columns = self.columns
        out = [[*HEADER, *columns]]
        for line in self.lines:
            cells = [line.code, line.title, line.measure, line.unit, self.period,
                     self.value(line, line.target) or "", self.value(line, line.actual) or "",
                     "" if line.percentage is None else str(line.percentage)]
            cells += [self.value(line, line.breakdown[c]) or "" if c in line.breakdown else ""
                      for c in columns]
            out.append(cells)
        return out


def percentage(measure_unit: str, target: int | None, value: int | Decimal | None) -> Decimal | None:
    """Actual as a percentage of the target, to one decimal; None without a target or an actual."""
    if not target or value is None:
        return None
    ratio = Decimal(value) * 10000 / target if measure_unit == "ratio" else Decimal(value) / target
    return (ratio * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def indicator_table(session: Session, actor: Actor, programme_id: int, period: str, *,
                    language: str | None = None, today: date | None = None) -> Table:
    """Every indicator of the programme for a quarter or a year (admins and auditors).

    Raises programme.not_found, permission.*, period.invalid."""
    programme = staff_programme(session, actor, programme_id)
    parsed = parse_period(period)
    lang = language if language in programme.languages else programme.languages[0]
    scope = Scope(session, programme, parsed, today or date.today())  # noqa: DTZ011 (staff's today)
    lines = []
    for indicator in list_indicators(session, programme.id):
        measure = MEASURES[indicator.measure]
        found = actual(scope, measure, list(indicator.purposes), list(indicator.breakdowns))
        target = targets_of(session, indicator).get(parsed.label)
        lines.append(Line(
            code=indicator.code, title=indicator.titles.get(lang) or indicator.code,
            measure=measure.code, unit=measure.unit, target=target, actual=found.total,
            percentage=percentage(measure.unit, target, found.total), breakdown=found.breakdown))
    return Table(programme_id=programme.id, period=parsed.label, start=parsed.start, end=parsed.end,
                 as_of=scope.as_of, currency=programme.currency, language=lang, lines=lines)


def table_csv(table: Table) -> str:
    """The table as CSV, every cell through the export's formula guard (titles are typed by staff)."""
    out = io.StringIO()
    writer = SafeCsvWriter(out, lineterminator="\n")
    for row in table.rows():
        writer.writerow(row)
    return out.getvalue()

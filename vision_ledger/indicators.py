"""Indicators: what a programme reports to its donors, each reading one built-in measure of the
ledger (vision_ledger.indicators_measures), optionally broken down by gender, youth, disability
and region, with a target per period (a quarter "2027Q1" or a year "2027").

Every change to an indicator or a target is recorded (`ResultsChange`: who, when, the old and the
new value) and readable by the programme's auditors. Admins change; admins and auditors read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import metrics, purposes
from .actors import Actor, can_administer
from .db import utcnow
from .errors import Conflict, DomainError, NotFound
from .models import Programme
from .money import Money
from .results_models import Indicator, IndicatorTarget, ResultsChange

BREAKDOWNS = ("gender", "youth", "disability", "region")
CODE = re.compile(r"[a-z][a-z0-9_.-]{0,39}")
TITLE_MAX = 200
TARGET_MAX = 10**15  # a count, minor units or basis points; far below any overflow


@dataclass(frozen=True)
class Measure:
    """A built-in measure: its unit (count | money | ratio), whether it counts members (and can
    be broken down by their attributes) or groups (by region only), and whether it reads loan
    purposes."""

    code: str
    unit: str
    level: str  # member | group
    description: str
    by_purpose: bool = False


MEASURES: dict[str, Measure] = {m.code: m for m in (
    Measure("members_reached", "count", "member",
            "Members who joined a group of the programme on or before the period's end (those who "
            "left since included)."),
    Measure("members_active", "count", "member",
            "Members on a register at the period's end who were present at a meeting in the period."),
    Measure("groups_formed", "count", "group",
            "Groups whose first savings cycle started on or before the period's end."),
    Measure("groups_active", "count", "group",
            "Groups that held a meeting in the last 4 weeks of the period (28 days to its end)."),
    Measure("groups_completed_cycle", "count", "group",
            "Groups that completed a cycle (a share-out) on or before the period's end."),
    Measure("savings_mobilised", "money", "member",
            "Value of the shares members bought in the period, net of reversals."),
    Measure("loans_disbursed_count", "count", "member",
            "Loans issued in the period (reversed loans excluded), of the indicator's purposes.",
            by_purpose=True),
    Measure("loans_disbursed_value", "money", "member",
            "Principal of the loans issued in the period (reversed loans excluded), of the "
            "indicator's purposes.", by_purpose=True),
    Measure("members_business_loan", "count", "member",
            "Members who received a loan for a business purpose in the period."),
    Measure("share_out_value", "money", "member",
            "Payouts to members at the share-outs held in the period."),
    Measure("return_on_savings", "ratio", "group",
            "Annualised return on savings over the period (metrics' definition), pooled over the "
            "groups: net income / savings at the period's end x 52 / weeks."),
)}


# --- periods -------------------------------------------------------------------------------------

_PERIOD = re.compile(r"([0-9]{4})(?:Q([1-4]))?")


@dataclass(frozen=True)
class Period:
    label: str  # "2027Q1" | "2027"
    start: date
    end: date


def parse_period(text: Any) -> Period:
    """A quarter ("2027Q1") or a calendar year ("2027"), exactly so. Raises period.invalid."""
    match = _PERIOD.fullmatch(text) if isinstance(text, str) else None
    year = int(match.group(1)) if match else 0
    if match is None or not 2000 <= year <= 2999:
        raise DomainError("period.invalid", "A period is a year (2027) or a quarter (2027Q1)",
                          period=text if isinstance(text, str) else repr(text),
                          examples=["2027", "2027Q1"])
    if match.group(2) is None:
        return Period(text, date(year, 1, 1), date(year, 12, 31))
    quarter = int(match.group(2))
    start = date(year, 3 * quarter - 2, 1)
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
    return Period(text, start, date.fromordinal(end.toordinal() - 1))


# --- target values -------------------------------------------------------------------------------


def parse_target(measure: Measure, value: Any, currency: str) -> int:
    """A target as the API writes it: a count ("120"), an amount in the programme's currency
    ("50000.00"), or a ratio as a fraction ("0.15" = 15%). Stored as a count, minor units or basis
    points. Raises target.invalid_value."""
    def refuse() -> DomainError:
        hint = {"count": "a whole number (120)", "money": f"an amount in {currency} (50000.00)",
                "ratio": "a fraction with at most 4 decimals (0.15 is 15%)"}[measure.unit]
        return DomainError("target.invalid_value", f"A target of {measure.code} is {hint}",
                           value=value if isinstance(value, str) else repr(value), unit=measure.unit)
    if not isinstance(value, str):
        raise refuse()
    if measure.unit == "count":
        if not re.fullmatch(r"[0-9]{1,15}", value):
            raise refuse()
        minor = int(value)
    elif measure.unit == "money":
        try:
            minor = Money.parse(value, currency).minor
        except DomainError as error:
            raise refuse() from error
    else:
        try:
            fraction = Decimal(value) if re.fullmatch(r"[0-9]{1,4}(\.[0-9]{1,4})?", value) else None
        except InvalidOperation:
            fraction = None
        if fraction is None:
            raise refuse()
        minor = int(fraction * 10000)
    if not 0 <= minor <= TARGET_MAX:
        raise refuse()
    return minor


def format_value(measure: Measure, value: int | Decimal | None, currency: str) -> str | None:
    """A target or an actual as the API and the report write it (the inverse of parse_target);
    a ratio's actual is a Decimal fraction already."""
    if value is None:
        return None
    if measure.unit == "count":
        return str(value)
    if measure.unit == "money":
        return Money(int(value), currency).decimal_string()
    fraction = value if isinstance(value, Decimal) else Decimal(value) / 10000
    return str(fraction.quantize(Decimal("0.0001")))


# --- the definitions ----------------------------------------------------------------------------


def _admin_programme(session: Session, actor: Actor, programme_id: int) -> Programme:
    programme = session.get(Programme, programme_id)
    if programme is None:
        raise NotFound("programme.not_found", "No such programme", programme_id=programme_id)
    can_administer(actor, programme_id=programme_id)
    return programme


def staff_programme(session: Session, actor: Actor, programme_id: int) -> Programme:
    """The programme, for its admins and auditors. Raises programme.not_found, permission.*."""
    return metrics.staff_programme(session, actor, programme_id)


def list_indicators(session: Session, programme_id: int) -> list[Indicator]:
    return list(session.scalars(select(Indicator).where(Indicator.programme_id == programme_id)
                                .order_by(Indicator.position, Indicator.id)))


def targets_of(session: Session, indicator: Indicator) -> dict[str, int]:
    rows = session.execute(select(IndicatorTarget.period, IndicatorTarget.value)
                           .where(IndicatorTarget.indicator_id == indicator.id)
                           .order_by(IndicatorTarget.period))
    return {period: int(value) for period, value in rows}


def _find(session: Session, programme_id: int, code: str) -> Indicator:
    indicator = session.scalars(select(Indicator).where(Indicator.programme_id == programme_id,
                                                        Indicator.code == code)).first()
    if indicator is None:
        raise NotFound("indicator.not_found", "No such indicator", indicator=code)
    return indicator


def get_indicator(session: Session, actor: Actor, programme_id: int, code: str) -> Indicator:
    """One indicator (admins and auditors). Raises programme.not_found, indicator.not_found."""
    staff_programme(session, actor, programme_id)
    return _find(session, programme_id, code)


def _snapshot(indicator: Indicator) -> dict[str, Any]:
    return {"code": indicator.code, "titles": dict(indicator.titles), "measure": indicator.measure,
            "purposes": list(indicator.purposes), "breakdowns": list(indicator.breakdowns)}


def _record(session: Session, actor: Actor, programme_id: int, code: str, *, subject: str, action: str,
            old: dict[str, Any] | None, new: dict[str, Any] | None, period: str | None = None) -> None:
    session.add(ResultsChange(programme_id=programme_id, indicator_code=code, subject=subject,
                              action=action, period=period, actor=actor.label, channel=actor.channel,
                              changed_at=utcnow(), old=old, new=new))


def _titles(value: Any, languages: list[str]) -> dict[str, str]:
    missing = [lang for lang in languages
               if not isinstance(value, dict) or not str(value.get(lang) or "").strip()]
    if missing:
        raise DomainError("indicator.title_required", "A title in each of the programme's languages",
                          missing=missing)
    titles = {lang: " ".join(str(t).split()) for lang, t in value.items() if lang in languages}
    if any(len(t) > TITLE_MAX for t in titles.values()):
        raise DomainError("indicator.title_too_long", f"A title has at most {TITLE_MAX} characters",
                          maximum=TITLE_MAX)
    return titles


def _breakdowns(measure: Measure, value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or any(b not in BREAKDOWNS for b in value) \
            or len(set(value)) != len(value):
        raise DomainError("indicator.invalid_breakdowns", f"Breakdowns are some of {', '.join(BREAKDOWNS)}",
                          breakdowns=list(value) if isinstance(value, list | tuple) else repr(value),
                          allowed=list(BREAKDOWNS))
    if measure.level == "group" and any(b != "region" for b in value):
        raise DomainError("indicator.breakdown_not_applicable",
                          f"{measure.code} counts groups: it breaks down by region only",
                          measure=measure.code, allowed=["region"])
    return [b for b in BREAKDOWNS if b in value]


def _purposes(session: Session, programme_id: int, measure: Measure, value: Any) -> list[str]:
    if not value:
        return []
    if not measure.by_purpose:
        raise DomainError("indicator.purposes_not_applicable",
                          f"{measure.code} does not read loan purposes", measure=measure.code)
    known = [p.code for p in purposes.programme_purposes(session, programme_id, include_inactive=True)]
    known.append(purposes.NOT_RECORDED)
    if not isinstance(value, list | tuple) or any(code not in known for code in value) \
            or len(set(value)) != len(value):
        raise DomainError("indicator.unknown_purpose", "Purposes are codes of the programme's list",
                          purposes=list(value) if isinstance(value, list | tuple) else repr(value),
                          allowed=known)
    return list(value)


def create_indicator(session: Session, actor: Actor, programme_id: int, *, code: str,
                     titles: dict[str, str], measure: str, breakdowns: list[str] | None = None,
                     purposes: list[str] | None = None) -> Indicator:
    """Define an indicator (admins). Raises permission.*, indicator.invalid_code,
    indicator.code_taken (409), indicator.unknown_measure, indicator.title_required,
    indicator.title_too_long, indicator.invalid_breakdowns, indicator.breakdown_not_applicable,
    indicator.purposes_not_applicable, indicator.unknown_purpose."""
    programme = _admin_programme(session, actor, programme_id)
    if not isinstance(code, str) or not CODE.fullmatch(code):
        raise DomainError("indicator.invalid_code", "An indicator code is lower-case letters, digits, "
                          "_ . - (at most 40), starting with a letter", indicator=code)
    found = MEASURES.get(measure)
    if found is None:
        raise DomainError("indicator.unknown_measure", f"Unknown measure {measure!r}", measure=measure,
                          allowed=list(MEASURES))
    indicator = Indicator(
        programme_id=programme.id, code=code, titles=_titles(titles, list(programme.languages)),
        measure=measure, breakdowns=_breakdowns(found, breakdowns or []),
        purposes=_purposes(session, programme.id, found, purposes),
        position=len(list_indicators(session, programme.id)), created_at=utcnow(), updated_at=utcnow())
    if session.scalar(select(Indicator.id).where(Indicator.programme_id == programme.id,
                                                 Indicator.code == code)) is not None:
        raise Conflict("indicator.code_taken", f"The programme has an indicator {code}", indicator=code)
    session.add(indicator)
    _record(session, actor, programme.id, code, subject="indicator", action="create", old=None,
            new=_snapshot(indicator))
    session.flush()
    return indicator


def update_indicator(session: Session, actor: Actor, programme_id: int, code: str,
                     changes: dict[str, Any]) -> Indicator:
    """Change an indicator's titles, breakdowns or purposes (admins); its measure stays (a new
    measure is a new indicator). Raises as create_indicator, indicator.not_found."""
    programme = _admin_programme(session, actor, programme_id)
    indicator = _find(session, programme.id, code)
    measure = MEASURES[indicator.measure]
    old = _snapshot(indicator)
    if "titles" in changes:
        given = changes["titles"]
        if not isinstance(given, dict):
            raise DomainError("indicator.title_required", "Titles by language", titles=repr(given))
        indicator.titles = _titles({**indicator.titles, **given}, list(programme.languages))
    if "breakdowns" in changes:
        indicator.breakdowns = _breakdowns(measure, changes["breakdowns"] or [])
    if "purposes" in changes:
        indicator.purposes = _purposes(session, programme.id, measure, changes["purposes"])
    new = _snapshot(indicator)
    if new != old:
        indicator.updated_at = utcnow()
        _record(session, actor, programme.id, code, subject="indicator", action="update", old=old, new=new)
    session.flush()
    return indicator


def delete_indicator(session: Session, actor: Actor, programme_id: int, code: str) -> None:
    """Remove an indicator and its targets (admins); the trail keeps what they were.
    Raises indicator.not_found, permission.*."""
    programme = _admin_programme(session, actor, programme_id)
    indicator = _find(session, programme.id, code)
    currency = programme.currency
    measure = MEASURES[indicator.measure]
    targets = select(IndicatorTarget).where(IndicatorTarget.indicator_id == indicator.id)
    for target in session.scalars(targets):
        _record(session, actor, programme.id, code, subject="target", action="delete",
                old={"value": format_value(measure, target.value, currency)}, new=None, period=target.period)
        session.delete(target)
    _record(session, actor, programme.id, code, subject="indicator", action="delete",
            old=_snapshot(indicator), new=None)
    session.flush()
    session.delete(indicator)
    session.flush()


def set_target(session: Session, actor: Actor, programme_id: int, code: str, *, period: str,
               value: Any) -> IndicatorTarget:
    """The indicator's target for a quarter or a year (admins), in the measure's unit.
    Raises indicator.not_found, period.invalid, target.invalid_value, permission.*."""
    programme = _admin_programme(session, actor, programme_id)
    indicator = _find(session, programme.id, code)
    label = parse_period(period).label
    measure = MEASURES[indicator.measure]
    minor = parse_target(measure, value, programme.currency)
    target = session.scalars(select(IndicatorTarget).where(IndicatorTarget.indicator_id == indicator.id,
                                                           IndicatorTarget.period == label)).first()
    new = {"value": format_value(measure, minor, programme.currency)}
    if target is None:
        target = IndicatorTarget(programme_id=programme.id, indicator_id=indicator.id, period=label,
                                 value=minor, updated_at=utcnow())
        session.add(target)
        _record(session, actor, programme.id, code, subject="target", action="create", old=None, new=new,
                period=label)
    elif target.value != minor:
        old = {"value": format_value(measure, target.value, programme.currency)}
        target.value, target.updated_at = minor, utcnow()
        _record(session, actor, programme.id, code, subject="target", action="update", old=old, new=new,
                period=label)
    session.flush()
    return target


def delete_target(session: Session, actor: Actor, programme_id: int, code: str, period: str) -> None:
    """Remove the indicator's target of a period (admins). Raises indicator.not_found,
    target.not_found, period.invalid, permission.*."""
    programme = _admin_programme(session, actor, programme_id)
    indicator = _find(session, programme.id, code)
    label = parse_period(period).label
    target = session.scalars(select(IndicatorTarget).where(IndicatorTarget.indicator_id == indicator.id,
                                                           IndicatorTarget.period == label)).first()
    if target is None:
        raise NotFound("target.not_found", "The indicator has no target for this period",
                       indicator=code, period=label)
    _record(session, actor, programme.id, code, subject="target", action="delete",
            old={"value": format_value(MEASURES[indicator.measure], target.value, programme.currency)},
            new=None, period=label)
    session.delete(target)
    session.flush()


def changes(session: Session, actor: Actor, programme_id: int, *, code: str | None = None,
            limit: int = 500) -> list[ResultsChange]:
    """The trail of changes to indicators and targets, newest first (admins and auditors)."""
    staff_programme(session, actor, programme_id)
    stmt = select(ResultsChange).where(ResultsChange.programme_id == programme_id)
    if code is not None:
        stmt = stmt.where(ResultsChange.indicator_code == code)
    return list(session.scalars(stmt.order_by(ResultsChange.changed_at.desc(), ResultsChange.id.desc())
                                .limit(limit)))

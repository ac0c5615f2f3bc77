"""Programme results: indicators and their targets (admins write, auditors read), the indicator
table of a period as JSON and as a CSV donor report, the trail of changes, and the programme's
list of loan purposes."""

from __future__ import annotations

from typing import Any

from flask import Response, g

from vision_ledger import indicators, purposes
from vision_ledger.indicators_report import Table, indicator_table, table_csv
from vision_ledger.results_models import Indicator

from ..schemas.indicators import (
    ChangeArgs,
    ChangeSchema,
    IndicatorCreate,
    IndicatorReplace,
    IndicatorSchema,
    IndicatorTableSchema,
    PurposeList,
    PurposeSchema,
    TableArgs,
    TargetSchema,
    TargetSet,
)
from ..session import read_session, session
from . import ID, blueprint

blp = blueprint("indicators", "Programme results: indicators, targets, the report; loan purposes")

PROGRAMME = f"/programmes/<{ID}:programme_id>"
INDICATOR = PROGRAMME + "/indicators/<string(maxlength=40):code>"


def _indicator(indicator: Indicator) -> dict[str, Any]:
    measure = indicators.MEASURES[indicator.measure]
    currency = g.programme.currency
    return {"code": indicator.code, "titles": indicator.titles, "measure": measure.code,
            "unit": measure.unit, "description": measure.description,
            "breakdowns": indicator.breakdowns, "purposes": indicator.purposes,
            "targets": [{"period": period, "value": indicators.format_value(measure, value, currency)}
                        for period, value in indicators.targets_of(session(), indicator).items()]}


def _table(table: Table) -> dict[str, Any]:
    return {"programme_id": table.programme_id, "period": table.period, "start": table.start,
            "end": table.end, "as_of": table.as_of, "currency": table.currency, "language": table.language,
            "columns": table.columns,
            "indicators": [{"code": line.code, "title": line.title, "measure": line.measure,
                            "unit": line.unit, "target": table.value(line, line.target),
                            "actual": table.value(line, line.actual),
                            "percentage": None if line.percentage is None else str(line.percentage),
                            "breakdown": {k: table.value(line, v) for k, v in line.breakdown.items()}}
                           for line in table.lines]}


@blp.route(PROGRAMME + "/indicators", methods=["GET"])
@blp.arguments(TableArgs, location="query")
@blp.response(200, IndicatorTableSchema)
def indicator_results(args: dict[str, Any], programme_id: int) -> Any:
    """Each indicator's target, actual and percentage for a quarter (2027Q1) or a year (2027),
    with its breakdowns; actuals from the ledger (admins and auditors)."""
    return _table(indicator_table(read_session(), g.actor, programme_id, args["period"],
                                  language=args.get("language")))


@blp.route(PROGRAMME + "/indicators.csv", methods=["GET"])
@blp.arguments(TableArgs, location="query")
@blp.response(200, description="The quarterly donor report: indicator, target, actual, percentage, "
              "breakdowns as columns.", content_type="text/csv")
def indicator_report_csv(args: dict[str, Any], programme_id: int) -> Response:
    """The indicator table as CSV (admins and auditors)."""
    table = indicator_table(read_session(), g.actor, programme_id, args["period"],
                            language=args.get("language"))
    return Response(table_csv(table), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="indicators-{programme_id}-{table.period}.csv"'})


@blp.route(PROGRAMME + "/indicators", methods=["POST"])
@blp.arguments(IndicatorCreate)
@blp.response(201, IndicatorSchema)
def create_indicator(data: dict[str, Any], programme_id: int) -> Any:
    """Define an indicator (admins); the change is recorded."""
    return _indicator(indicators.create_indicator(session(), g.actor, programme_id, **data))


@blp.route(INDICATOR, methods=["GET"])
@blp.response(200, IndicatorSchema)
def get_indicator(programme_id: int, code: str) -> Any:
    """An indicator with its targets of every period (admins and auditors)."""
    return _indicator(indicators.get_indicator(session(), g.actor, programme_id, code))


@blp.route(INDICATOR, methods=["PUT"])
@blp.arguments(IndicatorReplace)
@blp.response(200, IndicatorSchema)
def replace_indicator(data: dict[str, Any], programme_id: int, code: str) -> Any:
    """New titles, breakdowns and purposes of an indicator (admins); recorded, old and new."""
    return _indicator(indicators.update_indicator(session(), g.actor, programme_id, code, data))


@blp.route(INDICATOR, methods=["DELETE"])
@blp.response(204)
def delete_indicator(programme_id: int, code: str) -> Any:
    """Remove an indicator and its targets (admins); the trail keeps what they were."""
    indicators.delete_indicator(session(), g.actor, programme_id, code)
    return Response(status=204)


@blp.route(INDICATOR + "/targets/<string(maxlength=20):period>", methods=["PUT"])
@blp.arguments(TargetSet)
@blp.response(200, TargetSchema)
def set_target(data: dict[str, Any], programme_id: int, code: str, period: str) -> Any:
    """The indicator's target for a quarter (2027Q1) or a year (2027), in its measure's unit
    (admins); recorded, old and new."""
    target = indicators.set_target(session(), g.actor, programme_id, code, period=period, value=data["value"])
    indicator = indicators.get_indicator(session(), g.actor, programme_id, code)
    return {"period": target.period, "value": indicators.format_value(
        indicators.MEASURES[indicator.measure], target.value, g.programme.currency)}


@blp.route(INDICATOR + "/targets/<string(maxlength=20):period>", methods=["DELETE"])
@blp.response(204)
def delete_target(programme_id: int, code: str, period: str) -> Any:
    """Remove the indicator's target of a period (admins); recorded."""
    indicators.delete_target(session(), g.actor, programme_id, code, period)
    return Response(status=204)


@blp.route(PROGRAMME + "/indicator-changes", methods=["GET"])
@blp.arguments(ChangeArgs, location="query")
@blp.response(200, ChangeSchema(many=True))
def indicator_changes(args: dict[str, Any], programme_id: int) -> Any:
    """Who changed which indicator or target, when, from what to what; newest first, at most 500
    (admins and auditors)."""
    return indicators.changes(session(), g.actor, programme_id, code=args.get("code"))


@blp.route(PROGRAMME + "/loan-purposes", methods=["GET"])
@blp.response(200, PurposeSchema(many=True))
def loan_purposes(programme_id: int) -> Any:
    """The programme's loan purposes in USSD menu order (admins and auditors)."""
    indicators.staff_programme(session(), g.actor, programme_id)
    return purposes.programme_purposes(session(), programme_id)


@blp.route(PROGRAMME + "/loan-purposes", methods=["PUT"])
@blp.arguments(PurposeList)
@blp.response(200, PurposeSchema(many=True))
def set_loan_purposes(data: dict[str, Any], programme_id: int) -> Any:
    """Replace the programme's list of loan purposes (admins); codes left out stay known to the
    loans recorded with them."""
    return purposes.set_purposes(session(), g.actor, g.programme, data["purposes"])

"""Audit routes for programme staff: measures, anomaly flags, verification and exports.

Admins and auditors of the programme only: the token and the path's scope are checked before
anything else (`api.auth.check_scope`), then the core refuses anyone else (treasurers 403, other
programmes 404). Money is {"amount": "12.50", "currency": "KES"}; ratios are decimal strings
("0.1413" is 14.13%), null when their denominator is zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import Response, g, request, stream_with_context
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy.orm import Session

from vision_ledger import audit, exports, metrics, verification
from vision_ledger.db import replica_status, utcnow
from vision_ledger.errors import NotFound
from vision_ledger.money import Money

from .auth import check_scope
from .schemas.common import MoneyField, Timestamp
from .session import database, read_session, replica_headers, session

blp = Blueprint("audit", __name__, url_prefix="/api",
                description="Measures, anomaly flags, verification and exports for programme staff")
ID = "int(min=1, max=999999999999)"


@blp.before_request
def _before() -> None:
    check_scope(request.view_args)


# --- schemas ---------------------------------------------------------------------------------------


def _ratio(description: str) -> fields.Decimal:
    return fields.Decimal(as_string=True, allow_none=True, metadata={"description": description})


def _money(description: str) -> MoneyField:
    return MoneyField(allow_none=True, metadata={"description": description})


class MeasuresSchema(ma.Schema):
    """The measures of a group, a programme or a segment of members. Definitions in each field."""

    members = fields.Integer(metadata={"description": "Members on the register at the end of the period."})
    female = fields.Integer(metadata={"description": "Of them, women."})
    male = fields.Integer(metadata={"description": "Of them, men."})
    youth = fields.Integer(metadata={"description": "Of them, aged at most the programme's youth_age_max "
                                                    "(29 by default) in the year the period ends."})
    disability = fields.Integer(metadata={"description": "Of them, persons with a disability."})
    savings = _money("Members' share balances at the end of the period, from the postings (read "
                     "before a share-out dated that day).")
    savings_per_member = _money("savings / members.")
    total_assets = _money("Loan-fund cash + loans outstanding + social-fund cash at the end of the "
                          "period (whole groups only).")
    loan_fund_cash = _money("The loan-fund bag at the end of the period.")
    social_fund_cash = _money("The social-fund bag at the end of the period.")
    loans_outstanding = _money("Principal and service charge still owed at the end of the period.")
    loan_fund_utilisation = _ratio("loans outstanding / (loans outstanding + loan-fund cash).")
    portfolio_at_risk_1 = _ratio("Outstanding balance of loans 1 day or more past their contractual "
                                 "due date (issue + term, before roll-overs) / loans outstanding.")
    portfolio_at_risk_30 = _ratio("The same for loans 30 days or more past due.")
    loans_disbursed = fields.Integer(metadata={"description": "Loans issued in the period (reversed "
                                                              "loans excluded)."})
    loans_disbursed_amount = _money("Their principal.")
    average_loan_size = _money("Principal disbursed / loans disbursed.")
    amount_fell_due = _money("Principal + service charge posted up to the due date, of the loans whose "
                             "contractual due date lies in the period.")
    amount_repaid = _money("What was repaid on those loans by the end of the period (repayments and "
                           "settlement at exit, reversals netted), at most what fell due on each.")
    repayment_rate = _ratio("amount repaid / amount that fell due.")
    written_off = _money("Amount written off in the period (principal and charge still owed).")
    write_off_rate = _ratio("Amount written off in the period / principal disbursed in the period.")
    meetings = fields.Integer(allow_none=True, metadata={"description": "Meetings held in the period."})
    attendance_rate = _ratio("Members present / (meetings x active members): attendance rows marked "
                             "present over attendance rows of the period's meetings.")
    member_retention = _ratio("Members on the register at the start of the period still members at "
                              "its end / members at its start.")
    return_on_savings = _ratio("(service charges + fines - write-offs - cash variance) earned in the "
                               "period / savings at its end x 52 / weeks elapsed (days / 7): SAVIX's "
                               "annualised return on savings; 5-25% a year is healthy.")
    service_charges = _money("Service charges earned in the period (reversals netted).")
    fines = _money("Fines charged in the period.")
    cash_variance = _money("Cash found missing (positive) or extra (negative) at meeting closes.")
    net_income = _money("service charges + fines - written off - cash variance.")
    grants = _money("Seed-capital grants received in the period.")
    loans_after_grants = _money("Principal of loans disbursed in the period by groups on or after the "
                                "date of their first grant: the lending the grants made possible.")


class SegmentsSchema(ma.Schema):
    female = fields.Nested(MeasuresSchema)
    male = fields.Nested(MeasuresSchema)
    youth = fields.Nested(MeasuresSchema)
    disability = fields.Nested(MeasuresSchema)


class GroupMeasuresSchema(ma.Schema):
    group_id = fields.Integer()
    name = fields.String()
    region = fields.String(allow_none=True)
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    cycle_id = fields.Integer(allow_none=True)
    measures = fields.Nested(MeasuresSchema)
    segments = fields.Nested(SegmentsSchema, metadata={
        "description": "The member measures restricted to women, men, youth and persons with a "
                       "disability (whole-group measures are null there)."})


class ProgrammeMeasuresSchema(ma.Schema):
    programme_id = fields.Integer()
    region = fields.String(allow_none=True)
    start = fields.Date(data_key="from")
    end = fields.Date(data_key="to")
    groups = fields.Integer()
    measures = fields.Nested(MeasuresSchema, metadata={
        "description": "Sums of the groups' counts and amounts; each ratio recomputed from the summed "
                       "numerator and denominator (pooled)."})
    segments = fields.Nested(SegmentsSchema)
    groups_ros_outside_band = fields.Integer(metadata={
        "description": "Groups whose return on savings lies outside 5-25% a year."})
    per_group = fields.List(fields.Nested(GroupMeasuresSchema))


class PeriodArgs(ma.Schema):
    start = fields.Date(data_key="from", metadata={"description": "First day (default: see route)."})
    end = fields.Date(data_key="to", metadata={"description": "Last day, included."})


class GroupMeasuresArgs(PeriodArgs):
    cycle_id = fields.Integer(validate=validate.Range(min=1, max=2**62),
                              metadata={"description": "A cycle of the group (default: the latest)."})


class ProgrammeArgs(PeriodArgs):
    region = fields.String(validate=validate.Length(min=1, max=100),
                           metadata={"description": "Only the groups of this region."})


class ProgrammeMeasuresArgs(ProgrammeArgs):
    groups = fields.Boolean(load_default=False, metadata={"description": "Include each group's measures."})


class FlagArgs(PeriodArgs):
    verify = fields.Boolean(metadata={"description": "Also verify the journals (default: yes for a group, "
                                                     "no for a programme)."})
    # Counts within a cycle: a threshold past these can never be reached, and an unbounded one
    # overflows the database's integers (SQLite's are 64-bit).
    treasurer_reversals_max = fields.Integer(validate=validate.Range(min=0, max=10_000))
    missed_meetings_max = fields.Integer(validate=validate.Range(min=0, max=104))
    key_holders_min = fields.Integer(validate=validate.Range(min=0, max=20))
    idle_meetings = fields.Integer(validate=validate.Range(min=1, max=52))
    rollovers_max = fields.Integer(validate=validate.Range(min=0, max=100))
    ros_min = fields.Decimal(validate=validate.Range(min=-10, max=10))
    ros_max = fields.Decimal(validate=validate.Range(min=-10, max=10))


class ProgrammeFlagArgs(FlagArgs):
    region = fields.String(validate=validate.Length(min=1, max=100))


class FlagSchema(ma.Schema):
    code = fields.String(metadata={"description": "cash_variance, treasurer_reversals, meetings_missed, "
                                                  "key_holders_short, key_holder_records, return_on_savings, "
                                                  "idle_members, loan_rollovers, ledger_verification_failed"})
    severity = fields.String(metadata={"description": "warning or critical"})
    message = fields.String()
    facts = fields.Dict(metadata={"description": "The facts behind the flag."})


class GroupFlagsSchema(ma.Schema):
    group_id = fields.Integer()
    name = fields.String()
    flags = fields.List(fields.Nested(FlagSchema))


class ManyVerifyFailureSchema(ma.Schema):
    group_id = fields.Integer()
    entries_checked = fields.Integer()
    problem = fields.Dict(metadata={"description": "The first difference: the entry (seq, entry_id) or "
                                                   "the account, what was expected and what was found."})
    problems = fields.List(fields.Dict())


class ManyVerifySchema(ma.Schema):
    ok = fields.Boolean()
    groups_checked = fields.Integer()
    entries_checked = fields.Integer()
    seconds = fields.Float()
    first_problem = fields.Dict(allow_none=True)
    failures = fields.List(fields.Nested(ManyVerifyFailureSchema))


class VerificationRunSchema(ma.Schema):
    id = fields.Integer()
    programme_id = fields.Integer()
    scope = fields.String(metadata={"description": "all (the nightly or cron run over every programme), "
                                                   "programme, or group"})
    trigger = fields.String(metadata={"description": "schedule (the worker's nightly run), command "
                                                     "(`vision-ledger verify`), or api"})
    started_at = Timestamp()
    finished_at = Timestamp()
    ok = fields.Boolean()
    groups_checked = fields.Integer()
    entries_checked = fields.Integer()
    failed_groups = fields.Integer()
    failures = fields.List(fields.Dict(), metadata={
        "description": "Each failing group: group_id, entries_checked, problem (its first difference)."})


class ExportArgs(PeriodArgs):
    pass


# --- helpers ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Facts as JSON: Money as {"amount", "currency"}, dates ISO, decimals as strings."""
    if isinstance(value, Money):
        return {"amount": value.decimal_string(), "currency": value.currency}
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _group_measures(gm: metrics.GroupMeasures) -> dict[str, Any]:
    return {"group_id": gm.group_id, "name": gm.name, "region": gm.region, "start": gm.start,
            "end": gm.end, "cycle_id": gm.cycle_id, "measures": gm.measures.as_dict(),
            "segments": {k: v.as_dict() for k, v in gm.segments.items()}}


def _group_flags(gf: audit.GroupFlags) -> dict[str, Any]:
    return {"group_id": gf.group_id, "name": gf.name,
            "flags": [{"code": f.code, "severity": f.severity, "message": f.message,
                       "facts": _plain(f.facts)} for f in gf.flags]}


def _settings(args: dict[str, Any]) -> audit.AuditSettings:
    names = {f for f in audit.AuditSettings.__dataclass_fields__}
    return audit.AuditSettings(**{k: v for k, v in args.items() if k in names})


def _stream(make: Callable[[Session], Iterator[str]], mimetype: str, filename: str) -> Response:
    """Stream an export from a session of its own: the request's unit of work ends before the
    body is sent, and the export must not hold it (nor its locks) open."""
    db = database()
    headers = {}
    s = db.read_session()  # the read replica when there is one
    if db.replica_sessionmaker is not None:
        headers = replica_headers(replica_status(s))
    try:
        chunks = make(s)  # permissions and arguments are checked here, before the first byte
    except BaseException:
        s.close()
        raise

    def body() -> Iterator[str]:
        try:
            yield from chunks
        finally:
            s.close()  # ends its transaction: a read, nothing to keep

    return Response(stream_with_context(body()), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', **headers})


MIMETYPES = {"csv": "text/csv", "json": "application/json"}


# --- routes ----------------------------------------------------------------------------------------


@blp.route(f"/programmes/<{ID}:programme_id>/measures", methods=["GET"])
@blp.arguments(ProgrammeMeasuresArgs, location="query")
@blp.response(200, ProgrammeMeasuresSchema)
def programme_measures(args: dict[str, Any], programme_id: int) -> Any:
    """The programme's measures (or a region's) over a period, default the 52 weeks to today,
    summed over its groups and disaggregated by gender, youth and disability."""
    pm = metrics.programme_measures(read_session(), g.actor, programme_id, start=args.get("start"),
                                    end=args.get("end"), region=args.get("region"),
                                    per_group=args["groups"])
    return {"programme_id": pm.programme_id, "region": pm.region, "start": pm.start, "end": pm.end,
            "groups": pm.groups, "measures": pm.measures.as_dict(),
            "segments": {k: v.as_dict() for k, v in pm.segments.items()},
            "groups_ros_outside_band": pm.groups_ros_outside_band,
            "per_group": [_group_measures(x) for x in pm.per_group]}


@blp.route(f"/groups/<{ID}:group_id>/measures", methods=["GET"])
@blp.arguments(GroupMeasuresArgs, location="query")
@blp.response(200, GroupMeasuresSchema)
def group_measures(args: dict[str, Any], group_id: int) -> Any:
    """The group's measures for a cycle (`cycle_id`, default the latest: from its start to its last
    meeting, or to today while open) or for a date range (`from`, `to`)."""
    return _group_measures(metrics.group_measures(read_session(), g.actor, group_id,
                                                  cycle_id=args.get("cycle_id"),
                                                  start=args.get("start"), end=args.get("end")))


@blp.route(f"/programmes/<{ID}:programme_id>/flags", methods=["GET"])
@blp.arguments(ProgrammeFlagArgs, location="query")
@blp.response(200, GroupFlagsSchema(many=True))
def programme_flags(args: dict[str, Any], programme_id: int) -> Any:
    """Anomaly flags of every group of the programme (or region), default over the 52 weeks to
    today; thresholds may be given as parameters. Journals are verified only with `verify=true`."""
    result = audit.programme_flags(read_session(), g.actor, programme_id, start=args.get("start"),
                                   end=args.get("end"), region=args.get("region"),
                                   settings=_settings(args), verify=args.get("verify", False))
    return [_group_flags(x) for x in result]


@blp.route(f"/groups/<{ID}:group_id>/flags", methods=["GET"])
@blp.arguments(FlagArgs, location="query")
@blp.response(200, GroupFlagsSchema)
def group_flags(args: dict[str, Any], group_id: int) -> Any:
    """The group's anomaly flags over a period (default its latest cycle), its journal verified."""
    return _group_flags(audit.group_flags(read_session(), g.actor, group_id, start=args.get("start"),
                                          end=args.get("end"), settings=_settings(args),
                                          verify=args.get("verify", True)))


@blp.route(f"/programmes/<{ID}:programme_id>/verify", methods=["POST"])
@blp.response(200, ManyVerifySchema)
def verify_programme(programme_id: int) -> Any:
    """Verify every journal of the programme now: hash chain, sequence, balanced entries, heads and
    stored balances. Each failing group names its first difference. Changes nothing in the books;
    the result is kept as the programme's latest verification run (`GET` returns it)."""
    started = utcnow()
    report = audit.verify_many(read_session(), g.actor, programme_id=programme_id)
    verification.record_run(session(), programme_id, report, scope="programme", trigger="api",
                            started_at=started)
    return {"ok": report.ok, "groups_checked": report.groups_checked,
            "entries_checked": report.entries_checked, "seconds": round(report.seconds, 3),
            "first_problem": _plain(report.first_problem),
            "failures": [{"group_id": f.group_id, "entries_checked": f.entries_checked,
                          "problem": _plain(f.problem), "problems": _plain(f.problems)}
                         for f in report.failures]}


@blp.route(f"/programmes/<{ID}:programme_id>/verify", methods=["GET"])
@blp.response(200, VerificationRunSchema)
def last_verification(programme_id: int) -> Any:
    """The programme's latest kept verification run (nightly, `vision-ledger verify`, or a POST
    here): when, what it covered, how much it checked, and each failing group's first difference.
    404 `verification.never_run` when the programme was never verified."""
    run = verification.last_run(session(), g.actor, programme_id)
    if run is None:
        raise NotFound("verification.never_run", "This programme's books were never verified",
                       programme_id=programme_id)
    return {"id": run.id, "programme_id": run.programme_id, "scope": run.scope, "trigger": run.trigger,
            "started_at": run.started_at, "finished_at": run.finished_at, "ok": run.failed_groups == 0,
            "groups_checked": run.groups_checked, "entries_checked": run.entries_checked,
            "failed_groups": run.failed_groups, "failures": run.failures}


@blp.route(f"/programmes/<{ID}:programme_id>/export/journal.<any(csv, json):fmt>", methods=["GET"])
@blp.arguments(ExportArgs, location="query")
@blp.response(200, description="The journal: CSV with one line per posting, or JSON entries with "
              "their postings; streamed.", content_type="text/csv")
def export_journal(args: dict[str, Any], programme_id: int, fmt: str) -> Response:
    """The programme's journal, every group in sequence order, streamed (optionally `from`/`to`)."""
    return _stream(lambda s: exports.journal(s, g.actor, programme_id=programme_id, fmt=fmt,
                                             start=args.get("start"), end=args.get("end")),
                   MIMETYPES[fmt], f"journal-programme-{programme_id}.{fmt}")


@blp.route(f"/groups/<{ID}:group_id>/export/statements.<any(csv, json):fmt>", methods=["GET"])
@blp.response(200, description="Every member's statement with running savings and loan balances; "
              "streamed.", content_type="text/csv")
def export_statements(group_id: int, fmt: str) -> Response:
    """Member statements of the group: each entry about a member with its effect and balances."""
    return _stream(lambda s: exports.statements(s, g.actor, group_id, fmt=fmt),
                   MIMETYPES[fmt], f"statements-group-{group_id}.{fmt}")

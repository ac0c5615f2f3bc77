"""Indicators, their targets, the indicator table, the trail of changes and loan purposes."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from vision_ledger.indicators import BREAKDOWNS, MEASURES
from vision_ledger.programmes import LANGUAGES

from .common import Strict, Timestamp

CODE = {"example": "reach", "pattern": "^[a-z][a-z0-9_.-]{0,39}$"}
UNITS = ("A count ('120'), an amount in the programme's currency ('50000.00'), or a ratio as a "
         "fraction ('0.15' is 15%), as the measure's unit says.")


def _titles(required: bool = True) -> fields.Dict:
    return fields.Dict(keys=fields.String(validate=validate.OneOf(LANGUAGES)),
                       values=fields.String(validate=validate.Length(min=1, max=200)), required=required,
                       metadata={"description": "Title by language: one in each of the programme's.",
                                 "example": {"en": "Members reached", "sw": "Wanachama waliofikiwa"}})


def _purposes() -> fields.List:
    return fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list,
                       validate=validate.Length(max=40), metadata={
                           "description": "Loan measures only: the loan purposes counted (codes of the "
                                          "programme's list, or 'not_recorded'); empty: every loan."})


def _breakdowns() -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(BREAKDOWNS)), load_default=list,
                       validate=validate.Length(max=len(BREAKDOWNS)), metadata={
                           "description": "Some of gender, youth, disability, region (measures of "
                                          "groups: region only)."})


class IndicatorCreate(Strict):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40), metadata=CODE)
    titles = _titles()
    measure = fields.String(required=True, validate=validate.OneOf(list(MEASURES)),
                            metadata={"description": "The built-in measure it reads (README: indicators)."})
    breakdowns = _breakdowns()
    purposes = _purposes()


class IndicatorReplace(Strict):
    """An indicator's new definition; its code and measure stay."""

    titles = _titles()
    breakdowns = _breakdowns()
    purposes = _purposes()


class TargetSet(Strict):
    value = fields.String(required=True, validate=validate.Length(min=1, max=40),
                          metadata={"description": UNITS, "example": "120"})


class TargetSchema(ma.Schema):
    period = fields.String(required=True, metadata={"example": "2027Q1"})
    value = fields.String(required=True, metadata={"description": UNITS})


class IndicatorSchema(ma.Schema):
    code = fields.String(required=True)
    titles = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    measure = fields.String(required=True)
    unit = fields.String(required=True, metadata={"description": "count, money or ratio"})
    description = fields.String(required=True, metadata={"description": "What the measure counts."})
    breakdowns = fields.List(fields.String(), required=True)
    purposes = fields.List(fields.String(), required=True)
    targets = fields.List(fields.Nested(TargetSchema), required=True)


class TableArgs(Strict):
    period = fields.String(required=True, validate=validate.Length(min=1, max=20), metadata={
        "description": "A quarter (2027Q1) or a year (2027).", "example": "2027Q1"})
    language = fields.String(validate=validate.OneOf(LANGUAGES),
                             metadata={"description": "Titles in this language (default: the programme's "
                                                      "first)."})


class IndicatorLineSchema(ma.Schema):
    code = fields.String(required=True)
    title = fields.String(required=True)
    measure = fields.String(required=True)
    unit = fields.String(required=True)
    target = fields.String(allow_none=True, metadata={"description": UNITS + " Null: no target."})
    actual = fields.String(allow_none=True, metadata={"description": "In the target's unit."})
    percentage = fields.String(allow_none=True, metadata={
        "description": "Actual as a percentage of the target, one decimal ('87.5').", "example": "87.5"})
    breakdown = fields.Dict(keys=fields.String(), values=fields.String(allow_none=True), required=True,
                            metadata={"description": "Actual by category: 'gender:female', 'youth:yes', "
                                                     "'disability:no', 'region:Coast'..."})


class IndicatorTableSchema(ma.Schema):
    programme_id = fields.Integer(required=True)
    period = fields.String(required=True)
    start = fields.Date(required=True)
    end = fields.Date(required=True)
    as_of = fields.Date(required=True, metadata={"description": "The period's end, or today if earlier."})
    currency = fields.String(required=True)
    language = fields.String(required=True)
    columns = fields.List(fields.String(), required=True,
                          metadata={"description": "The breakdown columns of the CSV report."})
    indicators = fields.List(fields.Nested(IndicatorLineSchema), required=True)


class ChangeArgs(Strict):
    code = fields.String(validate=validate.Length(min=1, max=40), metadata={"description": "One indicator."})


class ChangeSchema(ma.Schema):
    id = fields.Integer(required=True)
    indicator_code = fields.String(required=True)
    subject = fields.String(required=True, metadata={"description": "indicator | target"})
    action = fields.String(required=True, metadata={"description": "create | update | delete"})
    period = fields.String(allow_none=True)
    actor = fields.String(required=True, metadata={"description": "role:who, as the journal names actors"})
    channel = fields.String(required=True)
    changed_at = Timestamp(required=True)
    old = fields.Dict(allow_none=True)
    new = fields.Dict(allow_none=True)


class PurposeIn(Strict):
    code = fields.String(required=True, validate=validate.Length(min=1, max=40),
                         metadata={"example": "start_trade"})
    titles = _titles()
    business = fields.Boolean(required=True, metadata={"description": "An income-generating activity."})


class PurposeSchema(ma.Schema):
    code = fields.String(required=True)
    titles = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    business = fields.Boolean(required=True)


class PurposeList(Strict):
    purposes = fields.List(fields.Nested(PurposeIn), required=True, validate=validate.Length(min=1, max=40))

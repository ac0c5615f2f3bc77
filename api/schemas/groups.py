"""Programmes and their policy, groups, members, cycles."""

from __future__ import annotations

from dataclasses import fields as dc_fields
from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from vision_ledger.groups import GENDERS, MEMBER_ROLES
from vision_ledger.money import MAX_AMOUNT_MINOR
from vision_ledger.policy import MONEY_SETTINGS, Policy
from vision_ledger.programmes import LANGUAGES

from .common import Change, MoneyField, MoneyIn, Strict, Timestamp

INT = validate.Range(min=0, max=10**12)
AMOUNT = validate.Range(min=0, max=MAX_AMOUNT_MINOR)


def _policy_fields(*, required: bool, allow_none: bool = False) -> dict[str, fields.Field]:
    """One field per policy setting, from the core's Policy dataclass (they cannot drift apart)."""
    out: dict[str, fields.Field] = {}
    for f in dc_fields(Policy):
        kw: dict[str, Any] = {"required": required, "allow_none": allow_none}
        if f.name == "charge_methods":
            out[f.name] = fields.List(fields.String(validate=validate.OneOf(["flat", "declining"])), **kw)
        elif f.name == "charge_method":
            out[f.name] = fields.String(validate=validate.OneOf(["flat", "declining"]), **kw)
        elif isinstance(f.default, bool):
            out[f.name] = fields.Boolean(**kw)
        elif f.name in MONEY_SETTINGS:  # minor units, up to the ledger's limit
            out[f.name] = fields.Integer(strict=True, validate=AMOUNT, **kw)
        else:
            out[f.name] = fields.Integer(strict=True, validate=INT, **kw)
    return out


PolicySchema = ma.Schema.from_dict(_policy_fields(required=True), name="Policy")
_PolicyChanges = ma.Schema.from_dict(_policy_fields(required=False), name="PolicyChangesBase")


# marshmallow's Schema.from_dict makes the base class at run time: mypy cannot take it as a base.
class PolicyChanges(_PolicyChanges):  # type: ignore[misc,valid-type]
    """Settings to change; the rest stay. Groups' refinements must still fit."""

    class Meta:
        unknown = ma.RAISE


class PolicyPatch(Change, PolicyChanges):
    """The body of PATCH .../policy: at least one setting to change."""




class GroupSchema(ma.Schema):
    id = fields.Integer(required=True)
    programme_id = fields.Integer(required=True)
    name = fields.String(required=True)
    country = fields.String(required=True)
    region = fields.String(allow_none=True)
    district = fields.String(allow_none=True)
    village = fields.String(allow_none=True)
    currency = fields.String(required=True)
    timezone = fields.String(required=True)
    language = fields.String(required=True)
    locale = fields.String(required=True, metadata={
        "example": "sq_XK", "description": "CLDR locale in which USSD/SMS amounts are read and written"})
    schedule = fields.String(required=True, metadata={"example": "FREQ=WEEKLY;BYDAY=TH"})
    policy = fields.Dict(keys=fields.String(), required=True,
                         metadata={"description": "refinements of the programme's policy"})
    last_seq = fields.Integer(required=True, metadata={"description": "sequence of the newest entry"})
    created_at = Timestamp(required=True)
    closed_at = Timestamp(allow_none=True, metadata={
        "description": "when the group was closed (no meetings, entries or tokens); null while open"})


class GroupCreate(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    schedule = fields.String(required=True, validate=validate.Length(min=1, max=200),
                             metadata={"example": "FREQ=WEEKLY;BYDAY=TH"})
    timezone = fields.String(validate=validate.Length(min=1, max=64),
                             metadata={"example": "Africa/Nairobi",
                                       "description": "default: the programme's"})
    language = fields.String(validate=validate.OneOf(LANGUAGES),
                             metadata={"description": "one of the programme's; default its first"})
    region = fields.String(validate=validate.Length(max=100), allow_none=True)
    district = fields.String(validate=validate.Length(max=100), allow_none=True)
    village = fields.String(validate=validate.Length(max=100), allow_none=True)
    country = fields.String(validate=validate.Regexp(r"^[A-Za-z]{2}$"))
    locale = fields.String(validate=validate.Length(min=2, max=32), metadata={
        "example": "sq_XK", "description": "CLDR locale of typed amounts; default from language and country"})
    policy = fields.Nested(PolicyChanges)


class GroupUpdate(Change, Strict):
    name = fields.String(validate=validate.Length(min=1, max=200))
    schedule = fields.String(validate=validate.Length(min=1, max=200))
    timezone = fields.String(validate=validate.Length(min=1, max=64))
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    region = fields.String(validate=validate.Length(max=100), allow_none=True)
    district = fields.String(validate=validate.Length(max=100), allow_none=True)
    village = fields.String(validate=validate.Length(max=100), allow_none=True)
    locale = fields.String(validate=validate.Length(min=2, max=32), metadata={
        "example": "sq_XK", "description": "CLDR locale of typed amounts; default from language and country"})
    policy = fields.Nested(PolicyChanges)


class MemberSchema(ma.Schema):
    id = fields.Integer(required=True)
    group_id = fields.Integer(required=True)
    number = fields.Integer(required=True, metadata={"description": "short number within the group"})
    name = fields.String(required=True)
    phone = fields.String(required=True, metadata={"example": "+254712345678"})
    gender = fields.String(allow_none=True)
    birth_year = fields.Integer(allow_none=True)
    disability = fields.Boolean(required=True)
    language = fields.String(required=True)
    role = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "active or left"})
    joined_on = fields.Date(required=True)
    left_on = fields.Date(allow_none=True)
    pin_set = fields.Function(lambda m: bool(m.pin_hash), required=True, metadata={"type": "boolean"})
    pin_must_change = fields.Boolean(required=True)


_PHONE = validate.Length(min=3, max=30)


class MemberCreate(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    phone = fields.String(required=True, validate=_PHONE, metadata={"example": "0712345678"})
    gender = fields.String(validate=validate.OneOf(GENDERS), allow_none=True)
    birth_year = fields.Integer(strict=True, validate=validate.Range(min=1900, max=2100), allow_none=True)
    disability = fields.Boolean()
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    role = fields.String(validate=validate.OneOf(MEMBER_ROLES))
    joined_on = fields.Date()
    pin = fields.String(validate=validate.Regexp(r"^\d{4}$"), load_only=True,
                        metadata={"description": "initial PIN (4 digits); the member must change it"})


class MemberUpdate(Change, Strict):
    name = fields.String(validate=validate.Length(min=1, max=200))
    phone = fields.String(validate=_PHONE)
    gender = fields.String(validate=validate.OneOf(GENDERS), allow_none=True)
    birth_year = fields.Integer(strict=True, validate=validate.Range(min=1900, max=2100), allow_none=True)
    disability = fields.Boolean()
    language = fields.String(validate=validate.OneOf(LANGUAGES))
    role = fields.String(validate=validate.OneOf(MEMBER_ROLES))


class PinSet(Strict):
    pin = fields.String(required=True, validate=validate.Regexp(r"^\d{4}$"), load_only=True)


class MemberExit(Strict):
    group_decision = fields.String(validate=validate.Length(max=2000), allow_none=True,
                                   metadata={"description": "the group's decision (needed in arrears)"})


class CycleSchema(ma.Schema):
    id = fields.Integer(required=True)
    group_id = fields.Integer(required=True)
    number = fields.Integer(required=True)
    status = fields.String(required=True)
    start_date = fields.Date(required=True)
    planned_shareout_date = fields.Date(required=True)
    weeks = fields.Integer(required=True)
    schedule = fields.String(required=True)
    share_price = MoneyField(required=True)
    social_fund_contribution = MoneyField(required=True)
    fines = fields.Dict(keys=fields.String(), values=MoneyField(), required=True)
    service_charge_bp = fields.Integer(required=True, metadata={"description": "per month; 1000 = 10%"})
    charge_method = fields.String(required=True)
    loan_term_months = fields.Integer(required=True)
    policy = fields.Dict(keys=fields.String(), required=True)
    opened_at = Timestamp(required=True)
    closed_at = Timestamp(allow_none=True)


class CycleCreate(Strict):
    share_price = fields.Nested(MoneyIn, required=True)
    social_fund_contribution = fields.Nested(MoneyIn, required=True)
    start_date = fields.Date(required=True)
    fines = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=40)),
                        values=fields.Nested(MoneyIn))
    service_charge_bp = fields.Integer(strict=True, validate=INT)
    charge_method = fields.String(validate=validate.OneOf(["flat", "declining"]))
    loan_term_months = fields.Integer(strict=True, validate=validate.Range(min=1, max=120))
    weeks = fields.Integer(strict=True, validate=validate.Range(min=1, max=520))
    schedule = fields.String(validate=validate.Length(min=1, max=200))
    policy = fields.Nested(PolicyChanges)

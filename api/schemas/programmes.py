"""Programmes (created by operators), their staff's first tokens, and a group's constitution."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate
from sqlalchemy.orm import object_session

from vision_ledger import currencies
from vision_ledger.models import Programme
from vision_ledger.programmes import LANGUAGES

from .common import Change, Strict, Timestamp
from .groups import PolicyChanges, PolicySchema, _policy_fields


def _digits(programme: Programme) -> int | None:
    session = object_session(programme)
    return currencies.recorded_digits(session, programme.currency) if session is not None else None


class ProgrammeSchema(ma.Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    country = fields.String(required=True)
    currency = fields.String(required=True)
    minor_digits = fields.Function(_digits, required=True, metadata={
        "type": "integer", "description": "the installation's digits for the currency"})
    timezone = fields.String(required=True, metadata={"description": "its groups' default"})
    languages = fields.List(fields.String(), required=True)
    usd_rate = fields.String(required=True, metadata={
        "example": "130", "description": "units of the currency per US dollar, at creation"})
    policy = fields.Nested(PolicySchema, required=True)
    created_at = Timestamp(required=True)
    closed_at = Timestamp(allow_none=True, metadata={
        "description": "when the programme was closed (its tokens stop working); null while open"})


class ProgrammeCreate(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{2}$"),
                            metadata={"example": "KE"})
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z]{3}$"),
                             metadata={"example": "KES"})
    timezone = fields.String(required=True, validate=validate.Length(min=1, max=64),
                             metadata={"example": "Africa/Nairobi"})
    languages = fields.List(fields.String(validate=validate.OneOf(LANGUAGES)),
                            validate=validate.Length(min=1, max=len(LANGUAGES)))
    usd_rate = fields.String(validate=validate.Regexp(r"^\d{1,12}(\.\d{1,6})?$"), metadata={
        "example": "130", "description": "units of the currency per US dollar (not for USD)"})
    minor_digits = fields.Integer(strict=True, validate=validate.Range(min=0, max=4), metadata={
        "description": "override Babel's digits (the first programme in a currency fixes them)"})
    policy = fields.Nested(PolicyChanges)


class ProgrammeTokenCreate(Strict):
    role = fields.String(required=True, validate=validate.OneOf(["admin", "auditor"]))
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ProgrammeTokenSchema(ma.Schema):
    id = fields.Integer(required=True)
    role = fields.String(required=True)
    name = fields.String(required=True)
    programme_id = fields.Integer(required=True)
    secret = fields.String(required=True, metadata={"description": "shown once"})


_GroupPolicyChanges = ma.Schema.from_dict(_policy_fields(required=False, allow_none=True),
                                          name="GroupPolicyChangesBase")


# A base made by Schema.from_dict at run time (see groups.PolicyChanges).
class GroupPolicyChanges(Change, _GroupPolicyChanges):  # type: ignore[misc,valid-type]
    """Settings the group chooses; null returns one to the programme's value."""

    class Meta:
        unknown = ma.RAISE


class GroupPolicySchema(ma.Schema):
    in_force = fields.Nested(PolicySchema, required=True,
                             metadata={"description": "programme, refined by group and open cycle"})
    programme = fields.Nested(PolicySchema, required=True)
    group = fields.Dict(keys=fields.String(), required=True,
                        metadata={"description": "the group's own choices"})
    cycle_id = fields.Integer(allow_none=True)
    cycle = fields.Dict(keys=fields.String(), allow_none=True,
                        metadata={"description": "the open cycle's refinements"})
    group_may_choose = fields.Dict(keys=fields.String(), required=True, metadata={
        "description": "per setting: minimum/maximum or allowed values under the programme"})

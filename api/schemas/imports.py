"""Bulk onboarding: the import's options and its report."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from .common import Strict


class ImportQuery(Strict):
    dry_run = fields.Boolean(load_default=False,
                             metadata={"description": "check every row and write nothing"})
    timezone = fields.String(validate=validate.Length(min=1, max=64),
                             metadata={"description": "time zone of new groups whose rows leave it empty",
                                       "example": "Africa/Nairobi"})
    schedule = fields.String(validate=validate.Length(min=1, max=200),
                             metadata={"description": "meeting schedule of new groups: a weekday or an "
                                                      "RRULE", "example": "Thursday"})
    group_language = fields.String(validate=validate.Length(min=1, max=20),
                                   metadata={"description": "language of new groups (default: the "
                                                            "language of the group's first member)"})


class RowErrorSchema(ma.Schema):
    row = fields.Integer(required=True, metadata={"description": "the spreadsheet's row (header = 1)"})
    column = fields.String(allow_none=True, required=True)
    code = fields.String(required=True, metadata={"example": "member.invalid_phone"})
    message = fields.String(required=True)


class GroupOutcomeSchema(ma.Schema):
    name = fields.String(required=True)
    village = fields.String(allow_none=True, required=True)
    row = fields.Integer(required=True, metadata={"description": "the first row naming the group"})
    status = fields.String(required=True, metadata={"description": "created or unchanged"})
    id = fields.Integer(allow_none=True, required=True,
                        metadata={"description": "null when a new group was not written"})
    members_created = fields.Integer(required=True)
    members_unchanged = fields.Integer(required=True)


class ImportReportSchema(ma.Schema):
    dry_run = fields.Boolean(required=True)
    rows = fields.Integer(required=True)
    written = fields.Boolean(required=True, metadata={"description": "whether anything was written"})
    groups_created = fields.Integer(required=True)
    groups_unchanged = fields.Integer(required=True)
    members_created = fields.Integer(required=True)
    members_unchanged = fields.Integer(required=True)
    errors = fields.List(fields.Nested(RowErrorSchema), required=True)
    groups = fields.List(fields.Nested(GroupOutcomeSchema), required=True)

"""Shared pieces: money as {"amount": "12.50", "currency": "KES"}, timestamps with their offset,
and the problem document."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from flask import g
from marshmallow import fields, validate

from vision_ledger.errors import DomainError
from vision_ledger.money import MAX_AMOUNT_MINOR, Money

# 15 whole digits hold the ledger's limit (10^13 minor units: 14 digits in a currency without
# minor units), so every amount the service itself shows can be typed back (a close's count).
DECIMAL = r"^-?\d{1,15}(\.\d{1,6})?$"


class Strict(ma.Schema):
    """Input schemas refuse fields they do not know."""

    class Meta:
        unknown = ma.RAISE


class Change:
    """Mixed into the body of a PATCH: a change must change something. No body, or an empty
    object, is refused (422 request.empty_change) before anything is read or written."""

    @ma.validates_schema
    def _something_to_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data:
            raise DomainError("request.empty_change",
                              "A PATCH must carry at least one field to change")


class MoneySchema(ma.Schema):
    amount = fields.String(required=True, metadata={"example": "12.50", "pattern": DECIMAL},
                           validate=validate.Regexp(DECIMAL))
    currency = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{3}$"),
                             metadata={"example": "KES"})


class MoneyIn(MoneySchema):
    """An amount given by the client; becomes a `Money` (the core refuses too many decimals)."""

    class Meta:
        unknown = ma.RAISE

    @ma.validates_schema
    def _parses(self, data: dict[str, str], **_: Any) -> None:
        try:
            money = Money.parse(data["amount"], data["currency"])
        except DomainError as exc:
            raise ma.ValidationError(exc.message, "amount") from exc
        if abs(money.minor) > MAX_AMOUNT_MINOR:
            # Past what the books hold at all: refused here, before the core (limits.py).
            limit = Money(MAX_AMOUNT_MINOR, money.currency)
            raise ma.ValidationError(f"At most {limit.decimal_string()} (the ledger's limit)", "amount")

    @ma.post_load
    def to_money(self, data: dict[str, str], **_: Any) -> Money:
        return Money.parse(data["amount"], data["currency"])


def _money_dict(value: Money) -> dict[str, str]:
    return {"amount": value.decimal_string(), "currency": value.currency}


class MoneyField(fields.Nested):
    """Dumps Money, or integer minor units in the currency of the request's group."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(MoneySchema, **kwargs)

    # marshmallow's Nested names Field._serialize's `value` `nested_obj`, so no name satisfies both
    # in mypy's eyes; marshmallow itself passes it by position.
    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if value is None:
            return None
        if not isinstance(value, Money):
            value = Money(int(value), g.currency)
        return _money_dict(value)


class Timestamp(fields.DateTime):
    """An ISO 8601 timestamp that always carries its offset (SQLite hands back naive UTC)."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


class FieldErrorSchema(ma.Schema):
    location = fields.String(metadata={"description": "json, query, path or headers"})
    field = fields.String()
    message = fields.String()


class ProblemSchema(ma.Schema):
    """A problem document (RFC 9457) with the domain error's code and facts."""

    type = fields.String(required=True, metadata={"example": "https://vision-ledger.org/problems/loan.above_maximum"})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True, metadata={"example": "loan.above_maximum"})
    facts = fields.Dict(keys=fields.String(), required=True,
                        metadata={"example": {"maximum": "2600.00", "requested": "3000.00"}})
    request_id = fields.String(required=True)
    errors = fields.List(fields.Nested(FieldErrorSchema), metadata={"description": "validation errors"})


class HealthSchema(ma.Schema):
    status = fields.String()
    database = fields.String()


class MeSchema(ma.Schema):
    role = fields.String(required=True)
    name = fields.String(required=True)
    programme_id = fields.Integer(allow_none=True)
    group_id = fields.Integer(allow_none=True)
    member_id = fields.Integer(allow_none=True)



def positive_id(**kwargs: Any) -> fields.Integer:
    return fields.Integer(validate=validate.Range(min=1, max=2**62), **kwargs)

"""Meetings, the business recorded at them, loans, share-out, the journal and the accounts."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import g
from marshmallow import fields, validate
from sqlalchemy import select

from vision_ledger.models import Account

from ..session import session
from .common import MoneyField, MoneyIn, Strict, Timestamp, positive_id


def account_keys() -> dict[int, str]:
    """Account id -> key for the request's group, read once per request."""
    keys = g.get("account_keys")
    if keys is None:
        keys = g.account_keys = dict(session().execute(
            select(Account.id, Account.key).where(Account.group_id == g.group.id)).all())
    return keys


# --- meetings -----------------------------------------------------------------------------------


class AttendanceSchema(ma.Schema):
    member_id = fields.Integer(required=True)
    present = fields.Boolean(required=True)


class MeetingSchema(ma.Schema):
    id = fields.Integer(required=True)
    cycle_id = fields.Integer(required=True)
    number = fields.Integer(required=True)
    date = fields.Date(required=True)
    status = fields.String(required=True, metadata={"description": "open or closed"})
    present_count = fields.Integer(required=True)
    active_count = fields.Integer(required=True)
    opening_loan_fund = MoneyField(required=True)
    opening_social_fund = MoneyField(required=True)
    counted_loan_fund = MoneyField(allow_none=True)
    counted_social_fund = MoneyField(allow_none=True)
    closing_loan_fund = MoneyField(allow_none=True)
    closing_social_fund = MoneyField(allow_none=True)
    variance_reason = fields.String(allow_none=True)
    opened_by = fields.String(required=True)
    closed_by = fields.String(allow_none=True)
    opened_at = Timestamp(required=True)
    closed_at = Timestamp(allow_none=True)


class MeetingDetail(MeetingSchema):
    expected_loan_fund = MoneyField(allow_none=True,
                                    metadata={"description": "open meeting: what the bag should hold"})
    expected_social_fund = MoneyField(allow_none=True)
    attendance = fields.List(fields.Nested(AttendanceSchema), required=True)


class MeetingOpen(Strict):
    absent_member_ids = fields.List(positive_id(), load_default=list,
                                    validate=validate.Length(max=100))
    date = fields.Date(metadata={"description": "the meeting's date (default today, group's time zone)"})


class MeetingClose(Strict):
    counted_loan_fund = fields.Nested(MoneyIn, required=True)
    counted_social_fund = fields.Nested(MoneyIn, required=True)
    variance_reason = fields.String(validate=validate.Length(max=2000), allow_none=True)


# --- business at a meeting ----------------------------------------------------------------------


class SharePurchase(Strict):
    member_id = positive_id(required=True)
    shares = fields.Integer(required=True, strict=True, validate=validate.Range(min=-1000, max=1000))


class SocialFundPayment(Strict):
    member_id = positive_id(required=True)


class FineCharge(Strict):
    member_id = positive_id(required=True)
    fine = fields.String(required=True, validate=validate.Length(min=1, max=40), metadata={"example": "late"})


class WelfarePayout(Strict):
    member_id = positive_id(required=True)
    amount = fields.Nested(MoneyIn, required=True)
    reason = fields.String(required=True, validate=validate.Length(max=2000))


class LoanDisbursement(Strict):
    member_id = positive_id(required=True)
    principal = fields.Nested(MoneyIn, required=True)
    term_months = fields.Integer(strict=True, validate=validate.Range(min=1, max=120), allow_none=True)
    purpose = fields.String(validate=validate.Length(min=1, max=40), allow_none=True, metadata={
        "description": "What the loan is for: a code of the programme's loan purposes "
                       "(GET /api/programmes/{id}/loan-purposes).", "example": "start_trade"})


class Repayment(Strict):
    member_id = positive_id(required=True)
    amount = fields.Nested(MoneyIn, required=True)


class WriteOff(Strict):
    loan_id = positive_id(required=True)
    reason = fields.String(required=True, validate=validate.Length(max=2000))


class Reversal(Strict):
    entry_id = positive_id(required=True)
    reason = fields.String(validate=validate.Length(max=2000), load_default="")


class GrantIn(Strict):
    amount = fields.Nested(MoneyIn, required=True)
    reference = fields.String(validate=validate.Length(max=200), allow_none=True)


# --- the journal ---------------------------------------------------------------------------------


class PostingSchema(ma.Schema):
    account = fields.Function(lambda p: account_keys().get(p.account_id, str(p.account_id)), required=True,
                              metadata={"type": "string", "example": "member_shares:12"})
    amount = MoneyField(required=True, metadata={"description": "debit positive, credit negative"})
    units = fields.Integer(required=True, metadata={"description": "shares, on member share accounts"})


class EntrySchema(ma.Schema):
    id = fields.Integer(required=True)
    seq = fields.Integer(required=True)
    kind = fields.String(required=True, metadata={"example": "share_purchase"})
    member_id = fields.Integer(allow_none=True)
    meeting_id = fields.Integer(allow_none=True)
    cycle_id = fields.Integer(allow_none=True)
    loan_id = fields.Integer(allow_none=True)
    reverses_id = fields.Integer(allow_none=True)
    effective_date = fields.Date(required=True)
    recorded_at = Timestamp(required=True)
    actor = fields.String(required=True)
    channel = fields.String(required=True)
    memo = fields.String(allow_none=True)
    details = fields.Dict(keys=fields.String(), required=True)
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)
    postings = fields.List(fields.Nested(PostingSchema), required=True)


class JournalQuery(Strict):
    since = fields.Date(metadata={"description": "first effective date (inclusive)"})
    until = fields.Date(metadata={"description": "last effective date (inclusive)"})
    kind = fields.String(validate=validate.Length(min=1, max=30))
    member_id = positive_id()
    meeting_id = positive_id()
    after = fields.Integer(validate=validate.Range(min=0, max=2**62),
                           metadata={"description": "cursor: entries after this sequence number"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class JournalPage(ma.Schema):
    items = fields.List(fields.Nested(EntrySchema), required=True)
    next_cursor = fields.Integer(allow_none=True, required=True,
                                 metadata={"description": "pass as `after` for the next page; null: end"})


class StatementQuery(Strict):
    since = fields.Date()
    until = fields.Date()


# --- loans -----------------------------------------------------------------------------------------


class LoanSchema(ma.Schema):
    id = fields.Integer(required=True)
    member_id = fields.Integer(required=True)
    cycle_id = fields.Integer(required=True)
    meeting_id = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"description": "active, repaid, written_off, cancelled"})
    principal = MoneyField(required=True)
    charge_bp = fields.Integer(required=True)
    method = fields.String(required=True)
    term_months = fields.Integer(required=True)
    issued_on = fields.Date(required=True)
    due_on = fields.Date(required=True)
    next_charge_on = fields.Date(required=True)
    charged = MoneyField(required=True, metadata={"description": "service charge added so far"})
    repaid_charge = MoneyField(required=True)
    repaid_principal = MoneyField(required=True)
    written_off = MoneyField(required=True)
    rollovers = fields.Integer(required=True)
    balance = MoneyField(required=True)
    charge_outstanding = MoneyField(required=True)
    principal_outstanding = MoneyField(required=True)
    closed_on = fields.Date(allow_none=True)
    write_off_reason = fields.String(allow_none=True)
    purpose = fields.String(allow_none=True, metadata={"description": "null: not recorded (loans "
                                                                       "recorded before purposes were kept)"})


class LoanDetail(LoanSchema):
    entries = fields.List(fields.Nested(EntrySchema), required=True,
                          metadata={"description": "issue, charges, repayments, write-off, reversals"})


class LoanQuery(Strict):
    status = fields.String(validate=validate.OneOf(["active", "repaid", "written_off", "cancelled"]))
    member_id = positive_id()


# --- accounts ----------------------------------------------------------------------------------------


def _natural(account: Any) -> int:
    return account.balance if account.type in ("asset", "expense") else -account.balance


class NaturalBalance(MoneyField):
    """An account's balance in its natural sign: assets and expenses positive, equity and income too."""

    # The parameter's name: see MoneyField._serialize.
    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return super()._serialize(_natural(obj), attr, obj, **kwargs)


class AccountSchema(ma.Schema):
    key = fields.String(required=True)
    code = fields.String(required=True)
    type = fields.String(required=True)
    member_id = fields.Integer(allow_none=True)
    balance = NaturalBalance(required=True, metadata={"description": "in the account's natural sign"})
    units = fields.Integer(required=True)


class TrialBalanceSchema(ma.Schema):
    accounts = fields.List(fields.Nested(AccountSchema), required=True)
    totals = fields.Dict(keys=fields.String(), values=MoneyField(), required=True,
                         metadata={"description": "debit-positive totals by type; they sum to zero"})
    balanced = fields.Boolean(required=True)


class BalancesSchema(ma.Schema):
    loan_fund_cash = MoneyField(required=True)
    social_fund_cash = MoneyField(required=True)
    loans_outstanding = MoneyField(required=True)
    savings = MoneyField(required=True)
    social_fund = MoneyField(required=True)
    seed_capital = MoneyField(required=True)
    service_charge_income = MoneyField(required=True)
    fine_income = MoneyField(required=True)
    loan_write_offs = MoneyField(required=True)
    cash_variance = MoneyField(required=True)
    carried_remainder = MoneyField(required=True)
    total_shares = fields.Integer(required=True)


class VerifySchema(ma.Schema):
    group_id = fields.Integer(required=True)
    entries_checked = fields.Integer(required=True)
    ok = fields.Boolean(required=True)
    problem = fields.Dict(keys=fields.String(), allow_none=True, required=True,
                          metadata={"description": "the first difference found"})
    problems = fields.List(fields.Dict(keys=fields.String()), required=True)


# --- statements and share-out -------------------------------------------------------------------------


class PositionSchema(ma.Schema):
    shares = fields.Integer(required=True)
    savings = MoneyField(required=True)
    social_fund_paid = MoneyField(required=True)
    loan_balance = MoneyField(required=True)
    loan_due_on = fields.Date(allow_none=True)
    next_meeting = fields.Date(allow_none=True)


class StatementLineSchema(ma.Schema):
    entry = fields.Nested(EntrySchema, required=True)
    amount = MoneyField(required=True, metadata={
        "description": "what the entry moved for the member; for a share-out or exit, her payout"})
    shares = fields.Integer(required=True, metadata={"description": "shares held after the entry"})
    savings = MoneyField(required=True, metadata={"description": "savings after the entry"})
    loan_balance = MoneyField(required=True, metadata={"description": "owed after the entry"})
    social_fund = MoneyField(required=True, metadata={
        "description": "social fund paid in the entry's cycle, after it"})


class StatementSchema(ma.Schema):
    member_id = fields.Function(lambda s: s["member"].id, required=True, metadata={"type": "integer"})
    name = fields.Function(lambda s: s["member"].name, required=True, metadata={"type": "string"})
    position = fields.Nested(PositionSchema, required=True)
    entries = fields.List(fields.Nested(EntrySchema), required=True, metadata={
        "description": "every entry about the member, share-out and exit included"})
    lines = fields.List(fields.Nested(StatementLineSchema), required=True, metadata={
        "description": "the same entries, each with the member's running totals after it"})


class PayoutSchema(ma.Schema):
    member_id = fields.Integer(required=True)
    name = fields.String(required=True)
    number = fields.Integer(required=True)
    shares = fields.Integer(required=True)
    savings = MoneyField(required=True)
    payout = MoneyField(required=True)


class ShareOutPlanSchema(ma.Schema):
    loan_fund_cash = MoneyField(required=True)
    retained_seed = MoneyField(required=True)
    distributable = MoneyField(required=True)
    total_shares = fields.Integer(required=True)
    value_per_share = fields.Function(lambda p: str(p.value_per_share), required=True,
                                      metadata={"type": "string", "description": "exact, in major units",
                                                "example": "56.40"})
    payouts = fields.List(fields.Nested(PayoutSchema), required=True)
    remainder = MoneyField(required=True)
    loans_outstanding = fields.Integer(required=True)
    savings = MoneyField(required=True, metadata={"description": "what members saved this cycle"})
    loss = MoneyField(required=True, metadata={
        "description": "savings less distributable: the losses members bear, in proportion to shares"})
    seed_loss = MoneyField(required=True, metadata={
        "description": "retained seed capital used up by losses the loan fund could not cover"})


class ShareOutSchema(ma.Schema):
    id = fields.Integer(required=True)
    cycle_id = fields.Integer(required=True)
    meeting_id = fields.Integer(required=True)
    entry_id = fields.Integer(required=True, allow_none=True, metadata={
        "description": "the share-out's journal entry; null when nothing moved in the cycle"})
    loan_fund_cash = MoneyField(required=True)
    retained_seed = MoneyField(required=True)
    distributable = MoneyField(required=True)
    total_shares = fields.Integer(required=True)
    value_per_share = fields.String(required=True)
    remainder = MoneyField(required=True)
    executed_at = Timestamp(required=True)

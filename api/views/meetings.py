"""Meetings (the only place money moves) and the business recorded at them."""

from __future__ import annotations

from typing import Any

from flask import g

from vision_ledger import groups, loans, meetings, savings
from vision_ledger.actors import can_read_group, can_record
from vision_ledger.errors import DomainError
from vision_ledger.models import Meeting

from .. import queries
from ..idempotency import HEADER_DOC, core_key, idempotent
from ..schemas import (
    EntrySchema,
    FineCharge,
    JournalPage,
    LoanDisbursement,
    LoanSchema,
    MeetingClose,
    MeetingDetail,
    MeetingOpen,
    MeetingSchema,
    Repayment,
    SharePurchase,
    SocialFundPayment,
    WelfarePayout,
    WriteOff,
)
from ..session import session
from . import ID, blueprint

blp = blueprint("meetings", "Meetings and the business recorded at them")

MEETINGS = f"/groups/<{ID}:group_id>/meetings"
MEETING = f"{MEETINGS}/<{ID}:meeting_id>"
KEY = {"parameters": [HEADER_DOC]}


def _detail(meeting: Meeting) -> dict[str, Any]:
    s = session()
    data: dict[str, Any] = {name: getattr(meeting, name) for name in MeetingSchema().fields}
    expected = meetings.expected_cash(s, g.group) if meeting.status == "open" else (None, None)
    data["expected_loan_fund"], data["expected_social_fund"] = expected
    data["attendance"] = [{"member_id": k, "present": v}
                          for k, v in sorted(meetings.attendance(s, meeting).items())]
    return data


def _the_open_meeting(meeting_id: int) -> Meeting:
    """The path's meeting, which must be the open one: business is never recorded into another.

    Who may record is checked first, so a role that may not record learns nothing about meetings."""
    can_record(g.actor, g.group)
    meeting = meetings.get_meeting(session(), g.group, meeting_id)
    if meeting.status != "open":
        raise DomainError("meeting.not_open", "This meeting is closed; money moves only at the open meeting",
                          meeting_id=meeting_id)
    return meeting


def _member(member_id: int) -> Any:
    return groups.get_member(session(), g.actor, g.group, member_id)


@blp.route(MEETINGS, methods=["GET"])
@blp.response(200, MeetingSchema(many=True))
def list_meetings(group_id: int) -> Any:
    """The group's meetings, oldest first."""
    return queries.meetings(session(), g.actor, g.group)


@blp.route(MEETINGS, methods=["POST"])
@blp.arguments(MeetingOpen)
@blp.response(201, MeetingDetail)
def open_meeting(data: dict[str, Any], group_id: int) -> Any:
    """Open the meeting (the treasurer): attendance as the list of absent members, quorum, expected cash."""
    return _detail(meetings.open_meeting(session(), g.actor, g.group,
                                         absent_member_ids=data["absent_member_ids"],
                                         meeting_date=data.get("date")))


@blp.route(MEETING, methods=["GET"])
@blp.response(200, MeetingDetail)
def get_meeting(group_id: int, meeting_id: int) -> Any:
    """A meeting with its attendance (and, while open, the cash each bag should hold)."""
    can_read_group(g.actor, g.group)
    return _detail(meetings.get_meeting(session(), g.group, meeting_id))


@blp.route(f"{MEETING}/close", methods=["POST"])
@blp.doc(**KEY)
@blp.arguments(MeetingClose)
@blp.response(200, MeetingDetail)
@idempotent
def close_meeting(data: dict[str, Any], group_id: int, meeting_id: int) -> Any:
    """Close the meeting with the counted cash of each bag; a difference needs a reason."""
    _the_open_meeting(meeting_id)
    return _detail(meetings.close_meeting(session(), g.actor, g.group, **data))


@blp.route(f"{MEETING}/entries", methods=["GET"])
@blp.response(200, JournalPage)
def meeting_entries(group_id: int, meeting_id: int) -> Any:
    """Every entry recorded at the meeting, in order."""
    meeting = meetings.get_meeting(session(), g.group, meeting_id)
    return queries.journal(session(), g.actor, g.group, meeting_id=meeting.id, limit=10_000)


# --- business ------------------------------------------------------------------------------------


@blp.route(f"{MEETING}/share-purchases", methods=["POST"])
@blp.doc(**KEY)
@blp.arguments(SharePurchase)
@blp.response(201, EntrySchema)
@idempotent
def buy_shares(data: dict[str, Any], group_id: int, meeting_id: int) -> Any:
    """A member buys shares: shares x the cycle's share price."""
    _the_open_meeting(meeting_id)
    return savings.buy_shares(session(), g.actor, g.group, _member(data["member_id"]), data["shares"],
                              idempotency_key=core_key())


@blp.route(f"{MEETING}/social-fund-payments", methods=["POST"])
@blp.doc(**KEY)
@blp.arguments(SocialFundPayment)
@blp.response(201, EntrySchema)
@idempotent
def pay_social_fund(data: dict[str, Any], group_id: int, meeting_id: int) -> Any:
    """A member's social-fund contribution for this meeting."""
    _the_open_meeting(meeting_id)
    return savings.pay_social_fund(session(), g.actor, g.group, _member(data["member_id"]),
                                   idempotency_key=core_key())


@blp.route(f"{MEETING}/fines", methods=["POST"])
@blp.doc(**KEY)
@blp.arguments(FineCharge)
@blp.response(201, EntrySchema)
@idempotent
def charge_fine(data: dict[str, Any], group_id: int, meeting_id: int) -> Any:
    """A fine from the cycle's schedule, paid into the loan fund."""
    _the_open_meeting(meeting_id)
    return savings.charge_fine(session(), g.actor, g.group, _member(data["member_id"]), data["fine"],
                               idempotency_key=core_key())


@blp.route(f"{MEETING}/welfare-payouts", methods=["POST"])
@blp.doc(**KEY)
@blp.arguments(WelfarePayout)
@blp.response(201, EntrySchema)
@idempotent
def pay_welfare(data: dict[str, Any], group_id: int, meeting_id: int) -> Any:
    """A welfare grant from the social fund, decided by the group."""
    _the_open_meeting(meeting_id)
    return savings.pay_welfare(session(), g.actor, g.group, _member(data["member_id"]), data["amount"],
                               data["reason"], idempotency_key=core_key())


@blp.route(f"{MEETING}/loans", methods=["POST"])
@blp.doc(**KEY)
@blp.arguments(LoanDisbursement)
@blp.response(201, LoanSchema)
@idempotent
def disburse_loan(data: dict[str, Any], group_id: int, meeting_id: int) -> Any:
    """Lend from the loan fund; the service charge is added at issue."""
    _the_open_meeting(meeting_id)
    return loans.disburse_loan(session(), g.actor, g.group, _member(data["member_id"]), data["principal"],
                               term_months=data.get("term_months"), purpose=data.get("purpose"),
                               idempotency_key=core_key())


@blp.route(f"{MEETING}/repayments", methods=["POST"])
@blp.doc(**KEY)
@blp.arguments(Repayment)
@blp.response(201, EntrySchema)
@idempotent
def repay_loan(data: dict[str, Any], group_id: int, meeting_id: int) -> Any:
    """A loan repayment: service charge first, then principal."""
    _the_open_meeting(meeting_id)
    return loans.repay_loan(session(), g.actor, g.group, _member(data["member_id"]), data["amount"],
                            idempotency_key=core_key())


@blp.route(f"{MEETING}/write-offs", methods=["POST"])
@blp.doc(**KEY)
@blp.arguments(WriteOff)
@blp.response(201, EntrySchema)
@idempotent
def write_off_loan(data: dict[str, Any], group_id: int, meeting_id: int) -> Any:
    """The group decides a loan will not be repaid: a loss shared by all, with its reason."""
    _the_open_meeting(meeting_id)
    loan = loans.get_loan(session(), g.group, data["loan_id"])
    return loans.write_off_loan(session(), g.actor, g.group, loan, data["reason"],
                                idempotency_key=core_key())

"""AT's callbacks: delivery reports and inbound SMS commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from sms.inbound import parse
from tests.factories import Factory
from tests.sms.conftest import SECRET
from vision_ledger import savings
from vision_ledger.db import Database
from vision_ledger.models import Member, OutboxMessage

STRANGER = "+254799999999"


@pytest.fixture
def client(db: Database, make_app: Callable[..., Flask]) -> FlaskClient:
    return make_app(db).test_client()


def outbox(session: Session, kind: str | None = None) -> list[OutboxMessage]:
    session.expire_all()
    stmt = select(OutboxMessage).order_by(OutboxMessage.id)
    if kind:
        stmt = stmt.where(OutboxMessage.kind == kind)
    return list(session.scalars(stmt))


def sent_message(session: Session, at_id: str = "ATXid_1") -> OutboxMessage:
    row = OutboxMessage(phone="+254711000111", language="en", kind="reply",
                        payload={"command": "help"}, status="sent", attempts=1,
                        at_message_id=at_id, text="Send BAL...")
    session.add(row)
    session.commit()
    return row


def report(client: FlaskClient, **form: str) -> Any:
    data = {"phoneNumber": "+254711000111", "networkCode": "63902", "retryCount": "0", **form}
    return client.post(f"/sms/{SECRET}/delivery", data=data)


# -- delivery reports --------------------------------------------------------------------------


def test_delivery_success_marks_the_message_delivered(client: FlaskClient, session: Session) -> None:
    row = sent_message(session)
    assert report(client, id="ATXid_1", status="Success").status_code == 200
    session.refresh(row)
    assert (row.status, row.delivery_status) == ("delivered", "Success")


def test_delivery_failure_keeps_the_reason(client: FlaskClient, session: Session) -> None:
    row = sent_message(session)
    report(client, id="ATXid_1", status="Failed", failureReason="UserIsInactive")
    session.refresh(row)
    assert (row.status, row.delivery_status) == ("failed", "Failed")
    assert row.failure_reason == "delivery Failed: UserIsInactive"


def test_delivery_reports_are_idempotent_and_the_first_final_one_wins(
    client: FlaskClient, session: Session
) -> None:
    row = sent_message(session)
    report(client, id="ATXid_1", status="Buffered")
    session.refresh(row)
    assert (row.status, row.delivery_status) == ("sent", "Buffered")
    for status in ("Success", "Success", "Buffered", "Failed"):
        assert report(client, id="ATXid_1", status=status).status_code == 200
    session.refresh(row)
    assert (row.status, row.delivery_status) == ("delivered", "Success")


def test_delivery_report_for_an_unknown_id_is_answered_200_and_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    assert report(client, id="ATXid_nobody", status="Success").status_code == 200
    assert "unknown message id ATXid_nobody" in caplog.text


def test_wrong_secret_is_refused_and_changes_nothing(client: FlaskClient, session: Session) -> None:
    row = sent_message(session)
    response = client.post("/sms/guess/delivery", data={"id": "ATXid_1", "status": "Failed"})
    assert response.status_code == 403
    response = client.post("/sms/guess/inbound", data={"from": STRANGER, "text": "BAL", "id": "x"})
    assert response.status_code == 403
    session.refresh(row)
    assert row.status == "sent" and len(outbox(session)) == 1


# -- inbound commands --------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "command"), [
    ("BAL", "balance"), ("  bal ", "balance"), ("Salio", "balance"), ("رصيد", "balance"),
    ("balance.", "balance"), ("LOAN", "loan"), ("mkopo", "loan"), ("قرض", "loan"),
    ("HELP", "help"), ("Msaada", "help"), ("مساعدة", "help"), ("", "help"), ("hello", "help"),
    ("LANG SW", "lang"), ("lugha   en", "lang"), ("لغة AR", "lang"), ("lang", "help"),
    ("LANG FR", "help"),
])
def test_commands_are_case_and_spacing_insensitive_in_three_languages(text: str, command: str) -> None:
    assert parse(text)[0] == command


def test_lang_argument_and_the_language_of_the_command() -> None:
    assert parse("lugha en") == ("lang", "en", "sw")
    assert parse("لغة العربية") == ("lang", "ar", "ar")
    assert parse("SALIO")[2] == "sw"


def sms(client: FlaskClient, phone: str, text: str, at_id: str) -> None:
    response = client.post(f"/sms/{SECRET}/inbound", data={
        "from": phone, "to": "40404", "text": text, "date": "2024-11-21 10:00:00", "id": at_id,
        "networkCode": "63902"})
    assert response.status_code == 200


@pytest.fixture
def member(factory: Factory, session: Session) -> Member:
    group = factory.ready(members=10)
    factory.meeting(group)
    asha = factory.members(group)[1]
    savings.buy_shares(session, factory.treasurer(group), group, asha, 3)
    session.commit()
    return asha


def test_bal_queues_a_statement_reply_to_the_sender(
    client: FlaskClient, session: Session, member: Member
) -> None:
    before = len(outbox(session))
    sms(client, member.phone, "bal", "ATin_1")
    [reply] = outbox(session)[before:]
    assert (reply.kind, reply.phone, reply.member_id) == ("reply", member.phone, member.id)
    assert reply.payload["command"] == "balance" and reply.payload["shares"] == 3


def test_the_same_at_id_is_handled_once(client: FlaskClient, session: Session, member: Member) -> None:
    before = len(outbox(session))
    sms(client, member.phone, "SALIO", "ATin_2")
    sms(client, member.phone, "SALIO", "ATin_2")
    assert len(outbox(session)) == before + 1


def test_loan_and_help_replies(client: FlaskClient, session: Session, member: Member) -> None:
    sms(client, member.phone, "LOAN", "ATin_3")
    sms(client, member.phone, "what?", "ATin_4")
    loan, help_ = outbox(session, "reply")
    assert loan.payload == {**loan.payload, "command": "loan", "loan_balance": 0}
    assert help_.payload["command"] == "help"


def test_lang_changes_the_members_language_and_answers_in_it(
    client: FlaskClient, session: Session, member: Member
) -> None:
    sms(client, member.phone, "lugha sw", "ATin_5")
    session.refresh(member)
    [reply] = outbox(session, "reply")
    assert member.language == "sw" and reply.language == "sw"


def test_a_stranger_gets_one_polite_reply_a_day(client: FlaskClient, session: Session) -> None:
    for i in range(3):
        sms(client, STRANGER, "SALIO", f"ATin_s{i}")
    [reply] = outbox(session)
    assert (reply.phone, reply.payload, reply.language) == (STRANGER, {"command": "stranger"}, "sw")
    assert reply.member_id is None and reply.group_id is None


def test_a_raw_plus_decoded_as_space_is_still_the_members_number(
    client: FlaskClient, session: Session, member: Member
) -> None:
    response = client.post(f"/sms/{SECRET}/inbound",
                           data=f"from= {member.phone[1:]}&text=BAL&id=ATin_9",
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    [reply] = outbox(session, "reply")
    assert reply.phone == member.phone and reply.payload["command"] == "balance"

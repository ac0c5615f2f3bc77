"""Operators see the outbox and retry failed messages: API (/api/outbox), CLI, scheduled jobs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from sms import cli, schedule
from tests.factories import Factory
from vision_ledger import loans
from vision_ledger.db import Database, utcnow
from vision_ledger.models import Group, OutboxMessage
from vision_ledger.settings import Settings


@pytest.fixture
def group(factory: Factory, session: Session) -> Group:
    group = factory.ready(members=10)
    for i, status in enumerate(("failed", "held", "sent", "pending")):
        session.add(OutboxMessage(group_id=group.id, phone=f"+25471100000{i}", language="en",
                                  kind="receipt", payload={}, status=status, attempts=1,
                                  failure_reason="InvalidPhoneNumber" if status == "failed" else None))
    session.commit()
    return group


def test_admin_and_auditor_see_counts_and_problems(
    db: Database, make_app: Callable[..., Flask], factory: Factory, group: Group
) -> None:
    for actor in (factory.admin(group.programme_id), factory.auditor(group.programme_id)):
        body = make_app(db, actor).test_client().get("/api/outbox").get_json()
        assert body["counts"]["failed"] == 1 and body["counts"]["held"] == 1
        assert body["counts"]["sent"] == 1
        assert {p["status"] for p in body["problems"]} == {"failed", "held"}
        assert any(p["reason"] == "InvalidPhoneNumber" for p in body["problems"])


def test_another_programme_sees_nothing_and_its_group_filter_is_404(
    db: Database, make_app: Callable[..., Flask], factory: Factory, group: Group
) -> None:
    other = factory.admin(factory.programme())
    client = make_app(db, other).test_client()
    assert client.get("/api/outbox").get_json()["counts"]["failed"] == 0
    assert client.get(f"/api/outbox?group_id={group.id}").status_code == 404
    assert client.post(f"/api/outbox/{_failed(db)}/retry").status_code == 404


def test_treasurers_do_not_see_the_outbox(
    db: Database, make_app: Callable[..., Flask], factory: Factory, group: Group
) -> None:
    assert make_app(db, factory.treasurer(group)).test_client().get("/api/outbox").status_code == 403


def _failed(db: Database) -> int:
    with db.unit_of_work(write=False) as s:
        return s.scalars(select(OutboxMessage.id).where(OutboxMessage.status == "failed")).one()


def test_admin_retries_a_failed_message_and_auditor_may_not(
    db: Database, make_app: Callable[..., Flask], factory: Factory, group: Group, session: Session
) -> None:
    mid = _failed(db)
    auditor = make_app(db, factory.auditor(group.programme_id)).test_client()
    assert auditor.post(f"/api/outbox/{mid}/retry").status_code == 403
    admin = make_app(db, factory.admin(group.programme_id)).test_client()
    response = admin.post(f"/api/outbox/{mid}/retry")
    assert response.status_code == 200 and response.get_json()["status"] == "pending"
    assert admin.post(f"/api/outbox/{mid}/retry").status_code == 409  # pending already
    row = session.get(OutboxMessage, mid)
    session.refresh(row)
    assert (row.status, row.attempts) == ("pending", 0)


def test_cli_status_and_retry(db: Database, group: Group, capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(group=group.id, limit=10, json=False, settings=Settings())
    assert cli._status(args, db) == 0
    out = capsys.readouterr().out
    assert "failed 1" in out and "InvalidPhoneNumber" in out
    mid = _failed(db)
    assert cli._retry(argparse.Namespace(id=mid), db) == 0
    assert cli._retry(argparse.Namespace(id=mid), db) == 1  # not failed any more
    assert cli._retry(argparse.Namespace(id=10**9), db) == 1


def test_cli_registers_worker_and_sms_commands() -> None:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    for argv in (["worker"], ["sms", "send-pending"], ["sms", "status"], ["sms", "retry", "5"],
                 ["sms", "jobs"]):
        assert callable(parser.parse_args(argv).func)


def test_loan_reminder_is_queued_once_within_the_policy_window(
    db: Database, factory: Factory, session: Session
) -> None:
    group = factory.ready(members=10)
    factory.meeting(group)
    member = factory.members(group)[2]
    from vision_ledger import savings

    treasurer = factory.treasurer(group)
    for someone in factory.members(group)[:4]:
        savings.buy_shares(session, treasurer, group, someone, 5)
    loan = loans.disburse_loan(session, treasurer, group, member, factory.money(group, "1000"))
    session.commit()
    far = utcnow()
    assert schedule.loan_reminders(session, group, far) == 0  # due in a month
    near = far + (timedelta(days=(loan.due_on - far.date()).days - 2))
    assert schedule.loan_reminders(session, group, near) == 1
    assert schedule.loan_reminders(session, group, near) == 0
    [reminder] = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder"))
    assert reminder.payload["loan_due_on"] == loan.due_on.isoformat()
    assert reminder.payload["loan_balance"] == loan.balance and reminder.phone == member.phone


def test_monthly_statements_go_out_once_in_the_first_week(
    db: Database, factory: Factory, session: Session
) -> None:
    group = factory.ready(members=10)
    first = utcnow().replace(day=3)
    assert schedule.monthly_statements(session, group, first) == 10
    assert schedule.monthly_statements(session, group, first) == 0
    assert schedule.monthly_statements(session, group, utcnow().replace(day=20)) == 0
    kinds = session.scalars(select(OutboxMessage.payload).where(OutboxMessage.kind == "statement"))
    assert {p["reason"] for p in kinds} == {"monthly"}

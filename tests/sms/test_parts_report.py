"""Every send records its SMS parts; the outbox reports a month's parts per kind and language."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update

from sms import cli, outbox
from sms.gateway import AfricasTalkingGateway
from sms.gsm import segments
from sms.models import SmsAttempt
from sms.worker import Worker
from tests.sms.conftest import FAST
from vision_ledger.actors import Actor
from vision_ledger.db import Database, utcnow
from vision_ledger.models import OutboxMessage
from vision_ledger.settings import Settings

Queue = Callable[..., list[int]]
LONG_AR = {"group": "مجموعة نساء قرية المخا الساحلية للادخار", "currency": "YER",
           "reason": "meeting", "meeting_date": "2024-09-30", "shares": 260, "savings": 987654321,
           "loan_balance": 987654321, "loan_due_on": "2024-09-30",
           "closing_loan_fund": 987654321, "closing_social_fund": 987654321}


def _send(db: Database, queue: Queue, gateway: AfricasTalkingGateway) -> list[int]:
    ids = queue(db, 3)  # receipts in en, sw, ar
    ids += queue(db, 1, start=3, kind="statement", language="ar", payload=LONG_AR)
    Worker(db, gateway, FAST).run(once=True)
    return ids


def test_each_send_records_the_parts_of_its_text(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway
) -> None:
    ids = _send(fresh_db, queue, at_gateway)
    with fresh_db.unit_of_work(write=False) as s:
        for mid in ids:
            row = s.get(OutboxMessage, mid)
            [attempt] = s.scalars(select(SmsAttempt).where(SmsAttempt.outbox_id == mid)).all()
            assert row is not None and row.text is not None
            assert attempt.parts == segments(row.text)
        assert s.get(OutboxMessage, ids[3]).text and segments(s.get(OutboxMessage, ids[3]).text) == 2


def test_the_month_report_counts_parts_per_kind_and_language(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway
) -> None:
    _send(fresh_db, queue, at_gateway)
    with fresh_db.unit_of_work(write=False) as s:
        report = outbox.parts_report(s)
        last_month = outbox.parts_report(s, (utcnow().replace(day=1) - timedelta(days=1)).strftime("%Y-%m"))
    lines = {(x["kind"], x["language"]): x for x in report["lines"]}
    assert set(lines) == {("receipt", "en"), ("receipt", "sw"), ("receipt", "ar"), ("statement", "ar")}
    assert lines[("statement", "ar")]["parts"] == 2 and lines[("receipt", "en")]["parts"] == 1
    assert report["total"] == {"messages": 4, "sends": 4, "parts": sum(x["parts"] for x in lines.values()),
                               "parts_uncertain": 0}
    assert last_month["lines"] == [] and last_month["total"]["parts"] == 0


def test_an_uncertain_send_counts_apart_and_a_resend_counts_again(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway
) -> None:
    [mid] = queue(fresh_db, 1)
    Worker(fresh_db, at_gateway, FAST).run(once=True)
    with fresh_db.unit_of_work() as s:
        # A second attempt whose outcome is unknown, then a resend that AT took.
        s.add(SmsAttempt(outbox_id=mid, attempt=2, outcome="uncertain", parts=1, at=utcnow()))
        s.add(SmsAttempt(outbox_id=mid, attempt=3, outcome="sent", parts=1, at=utcnow()))
    with fresh_db.unit_of_work(write=False) as s:
        [line] = outbox.parts_report(s)["lines"]
    assert (line["messages"], line["sends"], line["parts"], line["parts_uncertain"]) == (1, 2, 2, 1)


def test_outbox_api_and_cli_show_the_month(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway,
    make_app: Callable[..., Flask], capsys
) -> None:
    ids = _send(fresh_db, queue, at_gateway)
    with fresh_db.unit_of_work(write=False) as s:
        expected = sum(segments(s.get(OutboxMessage, mid).text) for mid in ids)
    client = make_app(fresh_db, Actor(role="system", channel="system")).test_client()
    body = client.get("/api/outbox").get_json()
    assert body["parts"]["month"] == utcnow().strftime("%Y-%m")
    assert body["parts"]["total"]["parts"] == expected > len(ids)
    assert client.get("/api/outbox?month=2024-13").status_code == 422
    assert client.get("/api/outbox?month=2024-1").status_code == 422
    args = argparse.Namespace(group=None, limit=10, json=False, month=None,
                              settings=Settings())
    assert cli._status(args, fresh_db) == 0
    out = capsys.readouterr().out
    assert "SMS parts in" in out and "statement" in out
    assert cli._status(argparse.Namespace(group=None, limit=10, json=False, month="May",
                                             settings=Settings()), fresh_db) == 2


def test_a_render_failure_records_no_parts(fresh_db: Database, queue: Queue,
                                           at_gateway: AfricasTalkingGateway) -> None:
    [mid] = queue(fresh_db, 1, payload={"kind": "share_purchase"})
    Worker(fresh_db, at_gateway, FAST).run(once=True)
    with fresh_db.unit_of_work() as s:
        [attempt] = s.scalars(select(SmsAttempt).where(SmsAttempt.outbox_id == mid)).all()
        assert attempt.outcome == "failed" and attempt.parts is None
        s.execute(update(OutboxMessage).where(OutboxMessage.id == mid).values(status="failed"))
        assert outbox.parts_report(s)["lines"] == []

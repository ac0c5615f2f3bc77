"""Inbound SMS replies per phone are limited (VISION_SMS_REPLY_LIMIT): past the limit the SMS is
recorded, logged and counted, and not answered, so a texter cannot spend the SMS budget."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sms.models import SmsInbound
from tests.factories import Factory
from tests.sms.conftest import SECRET
from vision_ledger.db import Database
from vision_ledger.models import Member, OutboxMessage, RateLimit
from vision_ledger.ratelimits import Limit
from vision_ledger.settings import Settings


@pytest.fixture
def app(db: Database, make_app: Callable[..., Flask]) -> Flask:
    return make_app(db)


@pytest.fixture
def member(factory: Factory, session: Session) -> Member:
    group = factory.ready(members=5)
    asha = factory.members(group)[1]
    session.commit()
    return asha


def sms(client: FlaskClient, phone: str, text: str, at_id: str) -> None:
    response = client.post(f"/sms/{SECRET}/inbound", data={
        "from": phone, "to": "40404", "text": text, "date": "2024-11-21 10:00:00", "id": at_id})
    assert response.status_code == 200


def replies(session: Session, phone: str) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(OutboxMessage)
                          .where(OutboxMessage.kind == "reply", OutboxMessage.phone == phone))


def test_replies_past_the_limit_are_logged_and_counted_not_answered(
        app: Flask, session: Session, member: Member, caplog: pytest.LogCaptureFixture) -> None:
    app.config["SETTINGS"] = replace(app.config["SETTINGS"], sms_reply_limit=Limit(3, 3600))
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="sms.inbound"):
        for i in range(5):
            sms(client, member.phone, "BAL", f"ATin_lim{i}")
    assert replies(session, member.phone) == 3
    assert sum("over the reply limit" in r.getMessage() for r in caplog.records) == 2
    hits = session.scalar(select(RateLimit.hits).where(RateLimit.key == f"sms:reply:{member.phone}"))
    assert hits == 5  # the excess is counted: hits past the limit's 3
    assert session.scalar(select(func.count()).select_from(SmsInbound)
                          .where(SmsInbound.phone == member.phone)) == 5  # and every SMS recorded


def test_the_reply_limit_is_per_phone(app: Flask, session: Session, factory: Factory) -> None:
    app.config["SETTINGS"] = replace(app.config["SETTINGS"], sms_reply_limit=Limit(1, 3600))
    group = factory.ready(members=5)
    asha, baraka = factory.members(group)[1:3]
    session.commit()
    client = app.test_client()
    sms(client, asha.phone, "BAL", "ATin_p1")
    sms(client, asha.phone, "BAL", "ATin_p2")
    sms(client, baraka.phone, "BAL", "ATin_p3")
    assert (replies(session, asha.phone), replies(session, baraka.phone)) == (1, 1)


def test_a_repeated_at_id_is_not_counted_against_the_limit(
        app: Flask, session: Session, member: Member) -> None:
    app.config["SETTINGS"] = replace(app.config["SETTINGS"], sms_reply_limit=Limit(1, 3600))
    client = app.test_client()
    for _ in range(3):
        sms(client, member.phone, "BAL", "ATin_same")
    assert replies(session, member.phone) == 1
    sms(client, member.phone, "BAL", "ATin_other")
    assert replies(session, member.phone) == 1


def test_the_default_reply_limit_is_ten_an_hour(app: Flask, session: Session, member: Member) -> None:
    limit = Settings().sms_reply_limit
    assert (limit.count, limit.seconds) == (10, 3600)
    client = app.test_client()
    for i in range(limit.count + 2):
        sms(client, member.phone, "HELP", f"ATin_d{i}")
    assert replies(session, member.phone) == limit.count


def test_meeting_commands_count_against_the_reply_limit_and_keep_no_pin_past_it(
        app: Flask, session: Session, member: Member, caplog: pytest.LogCaptureFixture) -> None:
    app.config["SETTINGS"] = replace(app.config["SETTINGS"], sms_reply_limit=Limit(2, 3600))
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="sms.inbound"):
        for i in range(4):  # anyone can text the short code: each preview or refusal is a reply
            sms(client, member.phone, "M 9999 S 1", f"ATin_meet{i}")
    assert replies(session, member.phone) == 2
    assert sum("over the reply limit" in r.getMessage() for r in caplog.records) == 2
    texts = session.scalars(select(SmsInbound.text).where(SmsInbound.phone == member.phone)).all()
    assert not any("9999" in t for t in texts)

"""The SMS door's own tables: the send-attempt log, inbound messages, and once-only keys.

Created by the hand-written revisions `0300_sms` (branch label "sms") and `0301_sms_reach`
(the parts of each send; treasurers' meeting commands waiting for their OK).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vision_ledger.db import Base, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")


class SmsAttempt(Base):
    """One send of an outbox row and what came of it (also a reclaimed send: outcome uncertain)."""

    __tablename__ = "sms_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(12))  # sent | retry | held | failed | uncertain
    status_code: Mapped[int | None] = mapped_column(Integer)
    at_message_id: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    # SMS parts of the text this attempt put on the wire (what AT bills); None when nothing was
    # sent (a text that could not be rendered).
    parts: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SmsInbound(Base):
    """An inbound SMS as AT posted it; the unique AT id makes a repeated callback a no-op."""

    __tablename__ = "sms_inbound"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at_id: Mapped[str] = mapped_column(String(100), unique=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    shortcode: Mapped[str | None] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    link_id: Mapped[str | None] = mapped_column(String(100))
    network_code: Mapped[str | None] = mapped_column(String(10))
    command: Mapped[str | None] = mapped_column(String(20))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SmsOnce(Base):
    """A key that may be acted on once: a stranger's daily reply, a loan reminder, a monthly statement."""

    __tablename__ = "sms_once"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)



class SmsMeetingCommand(Base):
    """A treasurer's meeting sent by SMS, understood and waiting for `OK <code>` from the same phone.

    The plan holds what was understood (member numbers, shares, social fund, repayments in minor
    units, the closing counts, the date); never the PIN, which is checked before the row exists.
    A code is used once: the row moves from `pending` to `posted`, `cancelled` or `expired`.
    """

    __tablename__ = "sms_meeting_commands"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    phone: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(8))
    plan: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    wrong_codes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_sms_meeting_commands_phone_status", "phone", "status"),)


class WorkerHeartbeat(Base):
    """A worker's last sign of life, written every few seconds while it runs (revision `0010_ops`);
    `vision-ledger sms status` shows it, and a beat older than a few intervals means a dead worker."""

    __tablename__ = "sms_worker_heartbeats"

    worker: Mapped[str] = mapped_column(String(100), primary_key=True)  # host:pid
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

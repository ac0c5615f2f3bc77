"""The USSD door's own tables. None of them holds menu state (a hop is a function of the text):

- `ussd_pin_proofs`: authentication state. A PIN checked in a session is remembered for 180 s,
  keyed by (session id, member, position), holding a random nonce and an HMAC of the PIN under a
  key derived from the PIN pepper (ussd/pin_auth.py), so a session that records many entries pays the
  slow scrypt check once; a wrong PIN is remembered at its position so a retried hop never counts
  a failure twice.
- `ussd_done`: once-only keys of actions that are not ledger entries (open/close a meeting, queue a
  statement, change a PIN or the language): a retried confirmation shows the same result.
- `ussd_skips`: the "0 = none" marker of the meeting round (a present member who buys nothing).
- `ussd_events`: AT's end-of-session notifications, with PINs redacted from `input`.

Created by the hand-written revision `0100_ussd` (branch label "ussd"); `0101_ussd_security`
gives the proofs their nonce.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vision_ledger.db import Base, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")


class PinProof(Base):
    __tablename__ = "ussd_pin_proofs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(20))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    pin_mac: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(32))
    # -1 for a success (valid at any position of the session); the input's index for a failure.
    position: Mapped[int] = mapped_column(Integer)
    ok: Mapped[bool] = mapped_column(Boolean)
    # Digest of the PIN hash the proof was made against: a changed PIN voids older proofs.
    stamp: Mapped[str] = mapped_column(String(32))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("uq_ussd_pin_proofs_position", "session_id", "member_id", "position", unique=True),
        Index("ix_ussd_pin_proofs_expires_at", "expires_at"),
    )


class Done(Base):
    __tablename__ = "ussd_done"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    session_id: Mapped[str] = mapped_column(String(100), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    kind: Mapped[str] = mapped_column(String(20))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Skip(Base):
    __tablename__ = "ussd_skips"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    session_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (Index("uq_ussd_skips_meeting_member", "meeting_id", "member_id", unique=True),)


class Event(Base):
    __tablename__ = "ussd_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(100), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), index=True)
    service_code: Mapped[str | None] = mapped_column(String(40))
    network_code: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str | None] = mapped_column(String(20))
    input_redacted: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    hops: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    last_response: Mapped[str | None] = mapped_column(Text)
    at_date: Mapped[str | None] = mapped_column(String(40))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

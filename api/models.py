"""The API's own table: responses stored under their idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from vision_ledger.db import Base, utcnow
from vision_ledger.models import BigId


class IdempotentResponse(Base):
    """The first response to a money-moving request, replayed for the same key and body.

    `scope` is the token's group or programme ("group:12", "programme:3"), `route` the method and
    path; `fingerprint` the SHA-256 of the request body's canonical JSON.
    """

    __tablename__ = "api_idempotency"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(40))
    route: Mapped[str] = mapped_column(String(300))
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    group_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("scope", "route", "key"),)

"""The API's own tables: responses stored under their idempotency keys, and bearer tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
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


class ApiToken(Base):
    """A bearer token of the API: stored as its SHA-256, shown once at creation (api/auth.py).

    The table is the core schema's (revision 0001_core); the mapping is the API's, which alone
    reads and writes it."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(12))
    programme_id: Mapped[int | None] = mapped_column(ForeignKey("programmes.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("role IN ('operator', 'admin', 'auditor', 'treasurer', 'member')",
                        name="role_known"),
        # An operator manages the installation: no programme, group or member scope.
        CheckConstraint("role <> 'operator' OR (programme_id IS NULL AND group_id IS NULL "
                        "AND member_id IS NULL)", name="operator_unscoped"),
    )

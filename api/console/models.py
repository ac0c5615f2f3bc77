"""The console's own tables: signed-in sessions and one-time sign-in links.

Neither keeps a secret: the browser holds the session's secret in its cookie and the operator the
link's; the database keeps their SHA-256, as it does for API tokens. A session acts with the API
token it was opened with, so revoking the token (or closing its scope) ends the session too.
Created by revision `0201_console`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from vision_ledger.db import Base, utcnow
from vision_ledger.models import BigId


class ConsoleSession(Base):
    """A staff member signed in to the console: whose token, which language, until when."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[int] = mapped_column(BigInteger, index=True)  # api_tokens.id (see 0201_console)
    language: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ConsoleLink(Base):
    """A one-time sign-in link issued from the command line for a token; used once or expired."""

    __tablename__ = "console_links"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_id: Mapped[int] = mapped_column(BigInteger, index=True)  # api_tokens.id (see 0201_console)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

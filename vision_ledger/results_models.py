"""The tables of programme results: the loan purposes a programme keeps, its indicators, their
targets by period, and the trail of every change to an indicator or a target.

Created by revision `0013_results`. Imported by `models` so the ORM knows them everywhere.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")


class LoanPurpose(Base):
    """One purpose on a programme's list, in the order the USSD menu shows it. A purpose taken off
    the list stays as a row (`active` false): loans recorded with it keep their title."""

    __tablename__ = "loan_purposes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    code: Mapped[str] = mapped_column(String(40))
    titles: Mapped[dict[str, str]] = mapped_column(JSON)  # language -> title
    business: Mapped[bool] = mapped_column(Boolean)  # an income-generating activity
    position: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (UniqueConstraint("programme_id", "code"),)


class Indicator(Base):
    """A programme's indicator: what it is called, the built-in measure it reads and how its
    actuals are broken down (vision_ledger.indicators)."""

    __tablename__ = "indicators"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    code: Mapped[str] = mapped_column(String(40))
    titles: Mapped[dict[str, str]] = mapped_column(JSON)  # language -> title
    measure: Mapped[str] = mapped_column(String(40))
    purposes: Mapped[list[str]] = mapped_column(JSON)  # loan measures: these purposes (empty: all)
    breakdowns: Mapped[list[str]] = mapped_column(JSON)  # gender | youth | disability | region
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (UniqueConstraint("programme_id", "code"),)


class IndicatorTarget(Base):
    """The target of an indicator for one period: a quarter ("2027Q1") or a year ("2027").

    `value` is in the measure's unit: a count, minor units of the programme's currency, or basis
    points of a ratio (1500 = 15%)."""

    __tablename__ = "indicator_targets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id"))
    period: Mapped[str] = mapped_column(String(6))
    value: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("indicator_id", "period"),
        CheckConstraint("value >= 0", name="value_not_negative"),
    )


class ResultsChange(Base):
    """Who changed an indicator or a target, when, from what to what. Never updated or deleted."""

    __tablename__ = "results_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    indicator_code: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(10))  # indicator | target
    action: Mapped[str] = mapped_column(String(10))  # create | update | delete
    period: Mapped[str | None] = mapped_column(String(6))  # targets only
    actor: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(10))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    old: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_results_changes_programme_changed", "programme_id", "changed_at"),
        CheckConstraint("subject IN ('indicator', 'target')", name="subject_known"),
        CheckConstraint("action IN ('create', 'update', 'delete')", name="action_known"),
    )

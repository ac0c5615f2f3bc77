"""Small helpers for core tests: a refusal is a DomainError with a stable code."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vision_ledger import ledger, savings
from vision_ledger.errors import DomainError
from vision_ledger.models import Entry, Group, OutboxMessage


@contextmanager
def refused(code: str, kind: type[DomainError] = DomainError) -> Iterator[None]:
    with pytest.raises(kind) as info:
        yield
    assert info.value.code == code, info.value


def ago(weeks: int = 0, days: int = 0) -> date:
    return date.today() - timedelta(weeks=weeks, days=days)


def entries(session: Session, group: Group) -> int:
    return session.scalar(select(func.count()).select_from(Entry).where(Entry.group_id == group.id)) or 0


def outbox(session: Session, group: Group, kind: str | None = None) -> int:
    stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.group_id == group.id)
    if kind:
        stmt = stmt.where(OutboxMessage.kind == kind)
    return session.scalar(stmt) or 0


def cash(session: Session, group: Group, bag: str = "loan_fund_cash") -> int:
    return ledger.balance(session, group, bag).minor


def save(session, factory, group, shares: int = 5, members=None) -> None:
    """Every (given) member buys `shares` shares at the open meeting."""
    t = factory.treasurer(group)
    for m in members if members is not None else factory.members(group):
        savings.buy_shares(session, t, group, m, shares)

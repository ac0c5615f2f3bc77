"""Reads of the stored balances: one indexed row per account, whatever the group's history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..models import Account, Group
from ..money import Money
from .chart import account_key

_accounts = Account.__table__
_BALANCE = select(_accounts.c.balance, _accounts.c.type).where(
    _accounts.c.group_id == bindparam("gid"), _accounts.c.key == bindparam("key"))
_UNITS = select(_accounts.c.units, _accounts.c.balance).where(
    _accounts.c.group_id == bindparam("gid"), _accounts.c.key == bindparam("key"))


def balance(session: Session, group: Group, code: str, member_id: int | None = None) -> Money:
    """A stored balance, one row read, in the account's natural sign (assets positive, equity positive)."""
    row = session.connection().execute(
        _BALANCE, {"gid": group.id, "key": account_key(code, member_id)}).first()
    if row is None:
        return Money.zero(group.currency)
    amount, kind = row
    return Money(amount if kind in ("asset", "expense") else -amount, group.currency)


def units(session: Session, group: Group, member_id: int) -> int:
    """Shares a member holds this cycle."""
    return holding(session, group, member_id)[0]


def holding(session: Session, group: Group, member_id: int) -> tuple[int, Money]:
    """A member's shares this cycle and their savings (what they paid for them), one row read."""
    row = session.connection().execute(
        _UNITS, {"gid": group.id, "key": account_key("member_shares", member_id)}).first()
    if row is None:
        return 0, Money.zero(group.currency)
    return int(row[0]), Money(-row[1], group.currency)


def balances(session: Session, group: Group) -> list[Account]:
    """The group's accounts, by key."""
    return list(session.scalars(select(Account).where(Account.group_id == group.id).order_by(Account.key)))


def trial_balance(session: Session, group: Group) -> dict[str, Any]:
    """Totals by account type; `balanced` says debits equal credits."""
    totals = {"asset": 0, "equity": 0, "income": 0, "expense": 0}
    accounts = balances(session, group)
    for account in accounts:
        totals[account.type] += account.balance
    return {
        "accounts": accounts,
        "totals": {k: Money(v, group.currency) for k, v in totals.items()},
        "balanced": sum(totals.values()) == 0,
    }

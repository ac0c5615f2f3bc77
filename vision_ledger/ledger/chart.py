"""The chart of accounts: which accounts a group keeps, which of them are cash, and the lines of
an entry (an account key, a signed amount, share units).

Sign convention: amounts are integer minor units, debit positive and credit negative, so every
entry's postings sum to zero and asset balances are positive, equity and income negative.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..errors import DomainError
from ..models import Account, Group, Member
from ..money import Money

CHART: dict[str, str] = {
    "loan_fund_cash": "asset",  # the main bag in the box
    "social_fund_cash": "asset",  # the second bag
    "loans_receivable": "asset",  # per member: principal plus service charge owed
    "member_shares": "equity",  # per member: savings bought as shares (units = shares)
    "social_fund": "equity",  # contributions less welfare payouts; carried across cycles
    "seed_capital": "equity",  # programme grants
    "carried_remainder": "equity",  # share-out rounding carried into the next cycle
    "service_charge_income": "income",
    "fine_income": "income",
    "loan_write_offs": "expense",
    "cash_variance": "expense",
}
MEMBER_ACCOUNTS = ("loans_receivable", "member_shares")
# The two bags in the box: never below zero (post() refuses ledger.cash_short; the schema's CHECK
# constraint on accounts stands behind it).
CASH_ACCOUNTS = ("loan_fund_cash", "social_fund_cash")
GROUP_ACCOUNTS = tuple(code for code in CHART if code not in MEMBER_ACCOUNTS)


def account_key(code: str, member_id: int | None = None) -> str:
    """The key of an account in a group's books ("loan_fund_cash", "member_shares:12").

    Raises ValueError for an account not in the chart, or a member account without a member.
    """
    if code not in CHART:
        raise ValueError(f"unknown account {code!r}")
    if code in MEMBER_ACCOUNTS:
        if member_id is None:
            raise ValueError(f"{code} is a member account")
        return f"{code}:{member_id}"
    return code


@dataclass(frozen=True, slots=True)
class Line:
    """One posting to be made: an account key, a signed Money (debit positive), share units."""

    key: str
    amount: Money
    units: int = 0


def debit(code: str, amount: Money, member_id: int | None = None, units: int = 0) -> Line:
    """A line adding `amount` to an account's debit side."""
    return Line(account_key(code, member_id), amount, units)


def credit(code: str, amount: Money, member_id: int | None = None, units: int = 0) -> Line:
    """Units are a plain quantity (shares held), not signed like money: a purchase adds them."""
    return Line(account_key(code, member_id), -amount, units)


def open_account(session: Session, group: Group, key: str) -> Account:
    """Open an account of the chart the first time an entry posts to it. Raises member.not_found."""
    code, _, member = key.partition(":")
    member_id = int(member) if member else None
    if member_id is not None:
        owner = session.get(Member, member_id)
        if owner is None or owner.group_id != group.id:
            raise DomainError("member.not_found", "No such member in this group", member_id=member_id)
    account = Account(group_id=group.id, key=key, code=code, type=CHART[code], member_id=member_id,
                      balance=0, units=0)
    session.add(account)
    session.flush()
    return account


def open_group_accounts(session: Session, group: Group) -> None:
    """Create the group's chart of accounts (member sub-accounts open with the member)."""
    for code in GROUP_ACCOUNTS:
        session.add(Account(group_id=group.id, key=code, code=code, type=CHART[code], balance=0,
                            units=0))


def open_member_accounts(session: Session, group: Group, member: Member) -> None:
    """Create a new member's own accounts (loans receivable, shares)."""
    for code in MEMBER_ACCOUNTS:
        session.add(Account(group_id=group.id, key=account_key(code, member.id), code=code,
                            type=CHART[code], member_id=member.id, balance=0, units=0))

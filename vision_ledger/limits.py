"""Amount limits: every amount that enters the books has an upper bound.

Two layers. The programme's policy gives a maximum for each kind of amount (a grant, a share price,
a fine, a social-fund contribution, a welfare payout, a loan), because a group's whole fund is a
few thousand US dollars and anything a million times that is a typing slip. Beneath them the
ledger keeps every posting, balance and running total within `MAX_AMOUNT_MINOR` (10^13 minor
units), so that nothing the books sum can come near a 64-bit overflow; the schema says the same
with CHECK constraints (revision 0005_amount_limits).
"""

from __future__ import annotations

from .errors import DomainError
from .money import MAX_AMOUNT_MINOR, Money


def check_maximum(code: str, what: str, amount: Money, maximum: int) -> None:
    """Refuse `amount` above a policy maximum (minor units of the amount's currency).

    Raises `code` (e.g. grant.above_maximum) with the facts maximum and requested.
    """
    if amount.minor > maximum:
        limit = Money(maximum, amount.currency)
        raise DomainError(code, f"{what} above the maximum of {limit}", maximum=limit,
                          requested=amount)


def within_ledger_limit(minor: int) -> bool:
    """Whether an amount, balance or running total stays within the ledger's ceiling."""
    return -MAX_AMOUNT_MINOR <= minor <= MAX_AMOUNT_MINOR

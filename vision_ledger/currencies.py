"""Currencies of the installation: any ISO 4217 code Babel knows, with one choice of minor digits
per currency for the whole installation.

CLDR (Babel) and ISO 4217 disagree for a few currencies: the Yemeni rial has 2 digits in ISO 4217
and 0 in CLDR's usage (no fils circulate). A programme may state the digits it keeps; the first
programme in a currency fixes them for every programme in that currency, recorded in the
`currencies` table, and a later programme asking for other digits is refused. The choice never
changes, so every process (the web workers, the SMS worker, the command line) can cache it: each
installs `install(database)` where it starts, and asks the database about a currency it has not
seen yet (a programme created after the process started).
"""

from __future__ import annotations

from babel.numbers import get_currency_precision
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from .db import Database
from .errors import DomainError
from .models import Currency, Programme
from .money import check_currency, use_minor_digits

MAX_DIGITS = 4  # the most any ISO 4217 currency has (CLF, UYW)


def recorded_digits(session: Session, currency: str) -> int | None:
    """The installation's recorded digits of a currency, or None before its first programme."""
    row = session.get(Currency, currency)
    return None if row is None else row.minor_digits


def fix_digits(session: Session, currency: str, digits: int | None = None) -> int:
    """The digits a new programme in `currency` keeps: the recorded choice, else `digits`, else
    Babel's. Writes nothing (`record` does, once the programme is valid).

    Raises money.unknown_currency, currency.invalid_digits, currency.digits_conflict (the
    currency is already kept with other digits by the installation's programmes).
    """
    currency = check_currency(currency)
    if digits is not None and (isinstance(digits, bool) or not isinstance(digits, int)
                               or not 0 <= digits <= MAX_DIGITS):
        raise DomainError("currency.invalid_digits",
                          f"Minor digits are a whole number from 0 to {MAX_DIGITS}",
                          currency=currency, digits=digits, minimum=0, maximum=MAX_DIGITS)
    recorded = recorded_digits(session, currency)
    if recorded is None:
        return get_currency_precision(currency) if digits is None else digits
    if digits is not None and digits != recorded:
        users = list(session.scalars(select(Programme.id).where(Programme.currency == currency)
                                     .order_by(Programme.id)))
        raise DomainError(
            "currency.digits_conflict",
            f"This installation keeps {currency} with {recorded} minor digits "
            f"(programmes {', '.join(map(str, users))}); one choice per currency",
            currency=currency, digits=digits, recorded=recorded, programmes=users)
    return recorded


def record(session: Session, currency: str, digits: int) -> None:
    """Record the installation's choice for a currency new to it (nothing if already recorded)."""
    if recorded_digits(session, currency) is None:
        session.add(Currency(code=currency, minor_digits=digits))
        session.flush()


def load(session: Session) -> dict[str, int]:
    """Every recorded choice."""
    return {row.code: row.minor_digits for row in session.scalars(select(Currency))}


def install(database: Database) -> None:
    """Make this process read and format every amount with the installation's digits: load the
    recorded choices now, and look up a currency first seen later (its programme is newer than
    the process). Call where a process starts (the app factory, the command line, the worker)."""

    def lookup(currency: str) -> int | None:
        with database.unit_of_work(write=False) as s:
            return recorded_digits(s, currency)

    try:
        with database.unit_of_work(write=False) as s:
            choices = load(s)
    except DBAPIError:  # not migrated yet (no programme, so no amount): the lookup covers later ones
        choices = {}
    use_minor_digits(choices, lookup)



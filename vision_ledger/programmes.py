"""Programmes: a livelihoods programme in one country and one currency, with the policy its groups
refine. Operators create them; their admins change the policy within the installation's bounds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.core import Locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import currencies
from .actors import Actor, can_administer, can_operate
from .errors import DomainError, NotFound
from .models import Cycle, Group, Programme
from .money import check_currency
from .policy import implied_usd_rate, parse_usd_rate, programme_policy, refine

LANGUAGES = ("en", "sw", "ar")  # the languages the USSD menus and SMS texts are written in


def check_timezone(tz: str, code: str = "group.invalid_timezone") -> str:
    """An IANA time zone ("Africa/Nairobi"). Raises `code`."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise DomainError(code, f"Unknown time zone {tz}", timezone=tz) from exc
    return tz


def check_languages(languages: Any) -> list[str]:
    """A programme's languages: one or more of LANGUAGES, no repeats. programme.invalid_languages."""
    if (not isinstance(languages, list | tuple) or not languages
            or any(lang not in LANGUAGES for lang in languages)
            or len(set(languages)) != len(languages)):
        raise DomainError("programme.invalid_languages",
                          f"Languages must be one or more of {', '.join(LANGUAGES)}",
                          languages=list(languages) if isinstance(languages, list | tuple)
                          else languages, allowed=list(LANGUAGES))
    return list(languages)


def _check_country(country: str) -> str:
    code = (country or "").upper()
    if len(code) != 2 or code not in Locale("en").territories:
        raise DomainError("programme.unknown_country", f"Unknown country code {country!r}",
                          country=country)
    return code


def create_programme(session: Session, actor: Actor, *, name: str, country: str, currency: str,
                     timezone: str = "UTC", languages: list[str] | None = None,
                     usd_rate: str | Decimal | None = None, minor_digits: int | None = None,
                     policy: dict[str, Any] | None = None) -> Programme:
    """Create a programme: its money defaults are DOMAIN.md's USD figures converted at `usd_rate`
    (units of the currency per USD) unless `policy` gives them; the first programme in a currency
    fixes the installation's minor digits for it. Operators (and the system) only.

    Raises permission.operator_only, programme.name_required, programme.unknown_country,
    programme.invalid_timezone, programme.invalid_languages, money.unknown_currency,
    currency.invalid_digits, currency.digits_conflict, policy.invalid_usd_rate,
    policy.loan_bounds_required, policy.unknown_setting, policy.out_of_range.
    """
    can_operate(actor)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise DomainError("programme.name_required", "A programme needs a name (at most 200 characters)")
    country = _check_country(country)
    currency = check_currency(currency)
    timezone = check_timezone(timezone, "programme.invalid_timezone")
    languages = check_languages(list(LANGUAGES) if languages is None else languages)
    rate = None if usd_rate is None else parse_usd_rate(usd_rate)
    if currency == "USD" and rate not in (None, Decimal(1)):
        raise DomainError("policy.invalid_usd_rate", "A USD programme's rate is 1",
                          usd_rate=str(usd_rate))
    digits = currencies.fix_digits(session, currency, minor_digits)
    full = programme_policy(currency, policy, usd_rate=rate, digits=digits)
    if rate is None:
        rate = Decimal(1) if currency == "USD" else implied_usd_rate(full.loan_max, digits)
    currencies.record(session, currency, digits)
    programme = Programme(name=name, country=country, currency=currency, policy=full.as_dict(),
                          timezone=timezone, languages=languages, usd_rate=format(rate, "f"))
    session.add(programme)
    session.flush()
    return programme


def list_programmes(session: Session, actor: Actor) -> list[Programme]:
    """Every programme of the installation (operators). Raises permission.operator_only."""
    can_operate(actor)
    return list(session.scalars(select(Programme).order_by(Programme.id)))


def get_programme(session: Session, actor: Actor, programme_id: int) -> Programme:
    """The programme's record: its staff, and the installation's operators.

    Raises programme.not_found (also when outside the actor's scope).
    """
    programme = session.get(Programme, programme_id)
    if programme is None or (actor.role not in ("system", "operator")
                             and actor.programme_id != programme_id):
        raise NotFound("programme.not_found", "No such programme", programme_id=programme_id)
    return programme


def update_programme_policy(session: Session, actor: Actor, programme: Programme,
                            changes: dict[str, Any]) -> Programme:
    """Change programme settings (admins), within the installation's bounds; every group's and
    open cycle's refinements must still fit. Raises policy.*, permission.*."""
    can_administer(actor, programme_id=programme.id)
    merged = {**programme.policy, **changes}
    digits = currencies.recorded_digits(session, programme.currency)
    full = programme_policy(programme.currency, merged, usd_rate=Decimal(programme.usd_rate),
                            digits=digits)
    rows = session.execute(
        select(Group, Cycle).outerjoin(Cycle, (Cycle.group_id == Group.id) & (Cycle.status == "open"))
        .where(Group.programme_id == programme.id)
    ).all()
    for group, cycle in rows:
        in_force = refine(full, group.policy)
        if cycle is not None:
            refine(in_force, cycle.policy)
    programme.policy = full.as_dict()
    session.flush()
    return programme

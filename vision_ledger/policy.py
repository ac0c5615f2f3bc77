"""Policy: every number of the domain is a setting of a programme, refinable per group and cycle
only within the programme's bounds.

A programme's policy is a full set of values. A group's and a cycle's `policy` hold refinements:
for a range setting a narrower range, for a ceiling a lower value, for a floor a higher one.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .errors import DomainError
from .money import MAX_AMOUNT_MINOR, minor_digits


@dataclass(frozen=True)
class Policy:
    members_min: int = 10  # below this a group is forming and may not hold meetings
    members_max: int = 20  # a 21st active member is refused
    loan_min: int = 0  # minor units of the programme's currency (USD 5 when the currency is USD)
    loan_max: int = 0
    # Upper bounds of every other kind of amount, in minor units of the programme's currency: a
    # group's whole fund is a few thousand US dollars, so anything beyond these is a typing slip.
    grant_max: int = 0  # one seed-capital grant
    share_price_max: int = 0  # the share price a cycle may set
    fine_max: int = 0  # one fine
    social_fund_max: int = 0  # the social-fund contribution per member per meeting
    welfare_max: int = 0  # one welfare payout from the social fund
    shares_min: int = 1  # shares a member buys at one meeting
    shares_max: int = 5
    service_charge_bp: int = 1000  # per month, in basis points (1000 = 10%)
    service_charge_min_bp: int = 100
    service_charge_max_bp: int = 2000
    charge_methods: tuple[str, ...] = ("flat", "declining")
    charge_method: str = "flat"
    loan_term_months: int = 1
    loan_term_max_months: int = 3
    savings_multiple: int = 3  # a loan is at most this many times the member's savings
    active_loans_max: int = 1
    quorum_percent: int = 50  # quorum: more than this share of active members present
    cycle_weeks: int = 52
    cycle_weeks_min: int = 36
    cycle_weeks_max: int = 52
    retain_seed_capital: bool = True  # seed capital stays with the group at share-out
    exit_share_of_profit: bool = False  # a member leaving mid-cycle takes back savings only
    pin_attempts: int = 3
    pin_lock_minutes: int = 30
    youth_age_max: int = 29  # "youth" in reports: under 30
    reminder_days_before_due: int = 3

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["charge_methods"] = list(self.charge_methods)
        return data


# USD 5-20 is the programme documents' bound; in any other currency the programme must say it.
USD_LOAN_BOUNDS = (500, 2000)

# Every setting that is an amount of money, with its default in US cents. A programme in another
# currency gets these converted at a rate its operator states (or, failing that, the rate its own
# loan bounds imply against USD 5-20).
USD_MONEY_DEFAULTS: dict[str, int] = {
    "loan_min": USD_LOAN_BOUNDS[0],
    "loan_max": USD_LOAN_BOUNDS[1],
    "grant_max": 500_000,  # USD 5,000: a seed-capital grant
    "share_price_max": 2_000,  # USD 20 a share
    "fine_max": 1_000,  # USD 10
    "social_fund_max": 500,  # USD 5 a meeting
    "welfare_max": 20_000,  # USD 200 from the social fund at once
}
MONEY_SETTINGS = tuple(USD_MONEY_DEFAULTS)

# How a refinement may move each setting: (kind, bound fields).
#   range    - (lo_field, hi_field): the refined pair must sit inside the programme's pair
#   ceiling  - a refined value may only be lower (stricter)
#   floor    - a refined value may only be higher (stricter)
#   within   - (lo_field, hi_field): the value must lie between two programme settings
#   choice   - a value from a list setting
#   fixed    - programme level only
_REFINE: dict[str, tuple[str, tuple[str, ...]]] = {
    "members_min": ("range", ("members_min", "members_max")),
    "members_max": ("range", ("members_min", "members_max")),
    "loan_min": ("range", ("loan_min", "loan_max")),
    "loan_max": ("range", ("loan_min", "loan_max")),
    "grant_max": ("ceiling", ()),
    "share_price_max": ("ceiling", ()),
    "fine_max": ("ceiling", ()),
    "social_fund_max": ("ceiling", ()),
    "welfare_max": ("ceiling", ()),
    "shares_min": ("range", ("shares_min", "shares_max")),
    "shares_max": ("range", ("shares_min", "shares_max")),
    "cycle_weeks_min": ("range", ("cycle_weeks_min", "cycle_weeks_max")),
    "cycle_weeks_max": ("range", ("cycle_weeks_min", "cycle_weeks_max")),
    "cycle_weeks": ("within", ("cycle_weeks_min", "cycle_weeks_max")),
    "service_charge_bp": ("within", ("service_charge_min_bp", "service_charge_max_bp")),
    "charge_method": ("choice", ("charge_methods",)),
    "loan_term_months": ("within", ("_one", "loan_term_max_months")),
    "loan_term_max_months": ("ceiling", ()),
    "savings_multiple": ("ceiling", ()),
    "active_loans_max": ("ceiling", ()),
    "quorum_percent": ("floor", ()),
    "retain_seed_capital": ("fixed", ()),
    "exit_share_of_profit": ("choice_bool", ()),
    "pin_attempts": ("ceiling", ()),
    "pin_lock_minutes": ("floor", ()),
    "youth_age_max": ("fixed", ()),
    "reminder_days_before_due": ("any_int", ()),
}

_FIELD_NAMES = {f.name for f in fields(Policy)}


def _refused(setting: str, value: Any, **facts: Any) -> DomainError:
    return DomainError(
        "policy.out_of_range", f"Setting {setting} = {value!r} is outside the allowed range",
        setting=setting, value=value, **facts,
    )


# --- the installation's bounds ----------------------------------------------------------------
# The hard numbers of the programme documents (DOMAIN.md): no programme's policy, and so no group's
# or cycle's refinement of it, may leave them. Settings not listed are bounded only by `validate`.
INSTALLATION_BOUNDS: dict[str, tuple[int, int]] = {
    "members_min": (10, 20),  # a group of 10 to 20 active members
    "members_max": (10, 20),
    "service_charge_bp": (100, 2000),  # 1 % to 20 % a month
    "service_charge_min_bp": (100, 2000),
    "service_charge_max_bp": (100, 2000),
    "loan_term_months": (1, 3),  # at most 3 months
    "loan_term_max_months": (1, 3),
    "cycle_weeks": (36, 52),  # a cycle of 36 to 52 weeks
    "cycle_weeks_min": (36, 52),
    "cycle_weeks_max": (36, 52),
}
# Every money setting lies between one minor unit and this many times its USD default converted at
# the programme's rate: a fine of USD 100 may be a programme's choice, USD 1,000 is a typing slip.
AMOUNT_BOUND_FACTOR = 10


def parse_usd_rate(rate: str | Decimal | int) -> Decimal:
    """Units of a currency per US dollar, from a decimal string ("130", "0.92").

    Raises policy.invalid_usd_rate (not a positive decimal of at most 12 digits and 6 decimals).
    """
    if isinstance(rate, float | bool):
        raise DomainError("policy.invalid_usd_rate", "Give the rate as a decimal string",
                          usd_rate=str(rate))
    text = str(rate).strip()
    if not _RATE.fullmatch(text) or Decimal(text) <= 0:
        raise DomainError("policy.invalid_usd_rate",
                          f"Not a rate (units of the currency per US dollar): {text!r}",
                          usd_rate=text)
    return Decimal(text)


_RATE = re.compile(r"\d{1,12}(\.\d{1,6})?")


def convert_usd(usd_cents: int, rate: Decimal, digits: int) -> int:
    """A USD amount (in cents) in a currency's minor units, rounded to two significant figures of
    the currency (half up), and to at least one minor unit.

    USD 20 at KES 130 is KES 2,600; at YER 530 it is YER 10,600, written YER 11,000; at EUR 0.92
    it is EUR 18.40, written EUR 18.
    """
    exact = Decimal(usd_cents) / 100 * rate  # major units of the currency
    if exact <= 0:
        return 1
    step = Decimal(1).scaleb(exact.adjusted() - 1)  # the second significant figure's place
    step = max(step, Decimal(1).scaleb(-digits))  # never finer than the minor unit
    rounded = (exact / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step
    return max(1, int(rounded.scaleb(digits)))


def implied_usd_rate(loan_max: int, digits: int) -> Decimal:
    """The rate a loan ceiling implies against USD 20 (programmes that gave loan bounds, no rate)."""
    return (Decimal(loan_max).scaleb(-digits) * 100 / USD_LOAN_BOUNDS[1]).normalize()


def money_defaults(rate: Decimal, digits: int) -> dict[str, int]:
    """Every money setting's USD default converted at `rate` (units per USD), in minor units."""
    return {name: convert_usd(usd, rate, digits) for name, usd in USD_MONEY_DEFAULTS.items()}


def amount_bounds(rate: Decimal, digits: int) -> dict[str, tuple[int, int]]:
    """The installation's bounds of every money setting at `rate`: one minor unit to
    AMOUNT_BOUND_FACTOR times the converted default."""
    return {name: (1, AMOUNT_BOUND_FACTOR * value)
            for name, value in money_defaults(rate, digits).items()}


def check_installation_bounds(p: Policy, rate: Decimal, digits: int) -> None:
    """Refuse a programme policy outside the installation's bounds. Raises policy.out_of_range
    (facts: setting, value, minimum, maximum, bound="installation")."""
    bounds = {**INSTALLATION_BOUNDS, **amount_bounds(rate, digits)}
    for name, (lo, hi) in bounds.items():
        value = getattr(p, name)
        if not lo <= value <= hi:
            raise DomainError(
                "policy.out_of_range",
                f"Setting {name} = {value!r} is outside the installation's bounds ({lo} to {hi})",
                setting=name, value=value, minimum=lo, maximum=hi, bound="installation",
            )


def programme_policy(currency: str, overrides: dict[str, Any] | None = None, *,
                     usd_rate: Decimal | None = None, digits: int | None = None) -> Policy:
    """A programme's full policy: the domain's defaults, the money ones converted from USD at
    `usd_rate` (units of the currency per USD), plus the programme's own numbers (which win).

    Without a rate, a non-USD programme must give its loan bounds and the other amounts follow
    at the rate its loan ceiling implies. The result must lie within the installation's bounds.
    Raises policy.unknown_setting, policy.out_of_range, policy.loan_bounds_required.
    """
    overrides = dict(overrides or {})
    _check_names(overrides)
    if "charge_methods" in overrides:
        overrides["charge_methods"] = tuple(overrides["charge_methods"])
    digits = minor_digits(currency) if digits is None else digits
    if currency == "USD" and usd_rate is None:
        usd_rate = Decimal(1)
    if usd_rate is None:
        if "loan_min" not in overrides or "loan_max" not in overrides:
            raise DomainError(
                "policy.loan_bounds_required",
                f"Give the rate of {currency} to the US dollar (usd_rate), or the loan bounds "
                f"(USD 5 to 20) in {currency}: loan_min and loan_max",
                currency=currency,
            )
        _check_amount(overrides["loan_max"], "loan_max")
        # The other amounts at the rate the loan ceiling implies against USD 20.
        for name, usd in USD_MONEY_DEFAULTS.items():
            overrides.setdefault(name, usd * overrides["loan_max"] // USD_LOAN_BOUNDS[1])
        usd_rate = implied_usd_rate(overrides["loan_max"], digits)
    for name, value in money_defaults(usd_rate, digits).items():
        overrides.setdefault(name, value)
    policy = Policy(**overrides)
    validate(policy)
    check_installation_bounds(policy, usd_rate, digits)
    return policy


def _check_amount(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _refused(name, value, minimum=1)


def _check_names(data: dict[str, Any]) -> None:
    unknown = sorted(set(data) - _FIELD_NAMES)
    if unknown:
        raise DomainError("policy.unknown_setting", f"Unknown settings: {', '.join(unknown)}",
                          settings=unknown)


def validate(p: Policy) -> None:
    """Sanity of a whole policy: ranges ordered, percentages possible, every number positive."""
    for f in fields(Policy):
        value = getattr(p, f.name)
        if f.name in ("charge_methods", "charge_method"):
            continue
        if f.name in ("retain_seed_capital", "exit_share_of_profit"):
            if not isinstance(value, bool):
                raise _refused(f.name, value)
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _refused(f.name, value, minimum=0)
    pairs = [
        ("members_min", "members_max"),
        ("loan_min", "loan_max"),
        ("shares_min", "shares_max"),
        ("service_charge_min_bp", "service_charge_max_bp"),
        ("cycle_weeks_min", "cycle_weeks_max"),
    ]
    for lo, hi in pairs:
        if getattr(p, lo) > getattr(p, hi):
            raise _refused(lo, getattr(p, lo), maximum=getattr(p, hi))
    checks = [
        ("members_min", p.members_min >= 1),
        ("loan_min", p.loan_min >= 1),
        *((name, getattr(p, name) >= 1) for name in MONEY_SETTINGS),
        # No kind of amount may be allowed past what the ledger can hold (see limits.py).
        *((name, getattr(p, name) <= MAX_AMOUNT_MINOR) for name in MONEY_SETTINGS),
        ("shares_min", p.shares_min >= 1),
        ("service_charge_max_bp", p.service_charge_max_bp <= 10000),
        ("service_charge_bp",
         p.service_charge_min_bp <= p.service_charge_bp <= p.service_charge_max_bp),
        ("charge_method", p.charge_method in p.charge_methods),
        ("charge_methods", set(p.charge_methods) <= {"flat", "declining"} and p.charge_methods),
        ("loan_term_months", 1 <= p.loan_term_months <= p.loan_term_max_months),
        ("loan_term_max_months", p.loan_term_max_months <= 12),
        ("savings_multiple", p.savings_multiple >= 1),
        ("active_loans_max", p.active_loans_max >= 1),
        ("quorum_percent", 0 <= p.quorum_percent < 100),
        ("cycle_weeks_min", p.cycle_weeks_min >= 1),
        ("cycle_weeks_max", p.cycle_weeks_max <= 104),
        ("cycle_weeks", p.cycle_weeks_min <= p.cycle_weeks <= p.cycle_weeks_max),
        ("pin_attempts", p.pin_attempts >= 1),
    ]
    for name, ok in checks:
        if not ok:
            raise _refused(name, getattr(p, name))


def refine(base: Policy, refinements: dict[str, Any] | None) -> Policy:
    """Apply a group's or a cycle's refinements to `base`, refusing any that leave its bounds.

    Raises policy.unknown_setting, policy.out_of_range.
    """
    refinements = dict(refinements or {})
    if not refinements:
        return base
    _check_names(refinements)
    for name, value in refinements.items():
        kind, bounds = _REFINE.get(name, ("fixed", ()))
        current = getattr(base, name)
        if kind == "fixed":
            if value != current:
                raise _refused(name, value, allowed=current)
        elif kind in ("choice_bool",):
            if not isinstance(value, bool):
                raise _refused(name, value)
        elif kind == "any_int":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise _refused(name, value)
        elif (not isinstance(value, int) and kind != "choice") or isinstance(value, bool):
            raise _refused(name, value)
        elif kind == "range":
            lo, hi = getattr(base, bounds[0]), getattr(base, bounds[1])
            if not lo <= value <= hi:
                raise _refused(name, value, minimum=lo, maximum=hi)
        elif kind == "within":
            lo = 1 if bounds[0] == "_one" else getattr(base, bounds[0])
            hi = getattr(base, bounds[1])
            hi = refinements.get(bounds[1], hi) if bounds[1] in _REFINE else hi
            if not lo <= value <= hi:
                raise _refused(name, value, minimum=lo, maximum=hi)
        elif kind == "ceiling":
            if not 1 <= value <= current:
                raise _refused(name, value, maximum=current)
        elif kind == "floor":
            if value < current:
                raise _refused(name, value, minimum=current)
        elif kind == "choice" and value not in base.charge_methods:
            raise _refused(name, value, allowed=list(base.charge_methods))
    refined = replace(base, **refinements)
    validate(refined)
    return refined


def from_dict(data: dict[str, Any]) -> Policy:
    """A stored policy; amount limits a policy stored before they existed are derived as at
    creation (from the loan ceiling's rate against USD 20)."""
    data = dict(data)
    if data.get("loan_max"):
        for name, usd in USD_MONEY_DEFAULTS.items():
            data.setdefault(name, usd * data["loan_max"] // USD_LOAN_BOUNDS[1])
    if "charge_methods" in data:
        data["charge_methods"] = tuple(data["charge_methods"])
    return Policy(**{k: v for k, v in data.items() if k in _FIELD_NAMES})


def refinement_bounds(base: Policy) -> dict[str, dict[str, Any]]:
    """What a group (or a cycle) may choose for each setting under `base`: a minimum and/or
    maximum, or the allowed values."""
    out: dict[str, dict[str, Any]] = {}
    for name, (kind, bounds) in _REFINE.items():
        current = getattr(base, name)
        if kind in ("range", "within"):
            lo = 1 if bounds[0] == "_one" else getattr(base, bounds[0])
            out[name] = {"minimum": lo, "maximum": getattr(base, bounds[1])}
        elif kind == "ceiling":
            out[name] = {"minimum": 1, "maximum": current}
        elif kind == "floor":
            out[name] = {"minimum": current}
        elif kind == "any_int":
            out[name] = {"minimum": 0}
        elif kind == "choice":
            out[name] = {"allowed": list(base.charge_methods)}
        elif kind == "choice_bool":
            out[name] = {"allowed": [True, False]}
        else:
            out[name] = {"allowed": [current]}
    return out

"""Policy: every number of the domain is a setting of a programme, refinable per group and cycle
only within the programme's bounds.

A programme's policy is a full set of values. A group's and a cycle's `policy` hold refinements:
for a range setting a narrower range, for a ceiling a lower value, for a floor a higher one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from .errors import DomainError
from .money import MAX_AMOUNT_MINOR


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


def programme_policy(currency: str, overrides: dict[str, Any] | None = None) -> Policy:
    """A programme's full policy: the domain's defaults plus the programme's own numbers.

    Raises policy.unknown_setting, policy.out_of_range, policy.loan_bounds_required.
    """
    overrides = dict(overrides or {})
    _check_names(overrides)
    if "charge_methods" in overrides:
        overrides["charge_methods"] = tuple(overrides["charge_methods"])
    if currency == "USD":
        for name, usd in USD_MONEY_DEFAULTS.items():
            overrides.setdefault(name, usd)
    elif "loan_min" not in overrides or "loan_max" not in overrides:
        raise DomainError(
            "policy.loan_bounds_required",
            f"Give the loan bounds (USD 5 to 20) in {currency}: loan_min and loan_max",
            currency=currency,
        )
    else:
        # The other amounts at the rate the loan ceiling implies against USD 20.
        for name, usd in USD_MONEY_DEFAULTS.items():
            overrides.setdefault(name, usd * overrides["loan_max"] // USD_LOAN_BOUNDS[1])
    policy = Policy(**overrides)
    validate(policy)
    return policy


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

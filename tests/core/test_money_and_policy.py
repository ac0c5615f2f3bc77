"""Money (integer minor units + ISO 4217) and policy (programme bounds, refinable within them)."""

from decimal import Decimal

import pytest

from vision_ledger import cycles, groups
from vision_ledger.errors import DomainError
from vision_ledger.money import Money
from vision_ledger.policy import Policy, programme_policy, refine

from .helpers import refused

# --- Money ------------------------------------------------------------------------------------


def test_money_is_integer_minor_units_from_decimal_strings():
    assert Money.parse("12.50", "KES") == Money(1250, "KES")
    assert Money.parse("1250", "kes") == Money(125000, "KES")
    assert Money.parse(Decimal("0.05"), "USD").minor == 5
    assert Money.parse("500", "JPY").minor == 500  # no minor unit


def test_money_from_float_is_refused():
    with pytest.raises(TypeError):
        Money.parse(12.5, "KES")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(12.5, "KES")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "KES")
    with pytest.raises(TypeError):
        Money(100, "KES") * 1.5  # type: ignore[operator]


def test_money_more_precise_than_the_currency_is_refused():
    with refused("money.too_precise"):
        Money.parse("12.505", "KES")
    with refused("money.too_precise"):
        Money.parse("1.5", "JPY")


def test_money_that_is_not_an_amount_is_refused():
    for text in ("", "abc", "1e5", "12.", "NaN", "1.2.3"):
        with refused("money.invalid_amount"):
            Money.parse(text, "KES")


def test_unknown_currency_is_refused():
    with refused("money.unknown_currency"):
        Money.parse("1", "XYZ")
    with refused("money.unknown_currency"):
        Money.parse("1", "KSH")


def test_cross_currency_arithmetic_is_refused():
    kes, usd = Money(100, "KES"), Money(100, "USD")
    for op in (lambda: kes + usd, lambda: kes - usd, lambda: kes < usd, lambda: kes >= usd):
        with refused("money.currency_mismatch"):
            op()
    assert kes != usd


def test_money_arithmetic_stays_exact():
    assert Money(1000, "KES").basis_points(1000) == Money(100, "KES")  # 10% of 10.00
    assert Money(1005, "KES").basis_points(1000) == Money(101, "KES")  # 100.5 rounds half up
    assert Money(1000, "KES").basis_points(1000, 3) == Money(300, "KES")
    assert Money(1000, "KES").ratio_floor(1, 3) == Money(333, "KES")
    assert Money(-1000, "KES").ratio_floor(1, 3) == Money(-334, "KES")  # floor, never up


def test_money_formats_with_babel():
    assert Money.parse("1250", "KES").format("en") == "KES 1,250.00"
    assert Money.parse("1250.5", "KES").format("sw") == "KES 1,250.50"
    assert Money.parse("1250", "KES").format("en", with_minor=False) == "KES 1,250"
    assert Money.parse("1250.5", "KES").format("en", with_minor=False) == "KES 1,250.50"
    assert str(Money.parse("3609.6", "KES")) == "KES 3609.60"


def test_money_formats_with_arabic_digits_where_the_locale_uses_them():
    assert Money.parse("1250", "KES").format("ar") == "KES ١٬٢٥٠٫٠٠"
    assert Money.parse("1250", "YER").format("ar") == "YER ١٬٢٥٠"
    assert Money.parse("1250", "EUR").format("de_DE") == "EUR 1.250,00"


def test_domain_error_facts_are_plain():
    error = DomainError("x.y", "m", amount=Money(1250, "KES"))
    assert error.facts == {"amount": "12.50"}
    assert not hasattr(error, "status")  # an HTTP status is the API door's to map (api/problems.py)


# --- Policy -----------------------------------------------------------------------------------


def test_programme_defaults_are_the_domains():
    p = programme_policy("USD")
    assert (p.members_min, p.members_max) == (10, 20)
    assert (p.loan_min, p.loan_max) == (500, 2000)  # USD 5 to 20
    assert (p.shares_min, p.shares_max) == (1, 5)
    assert (p.service_charge_bp, p.service_charge_min_bp, p.service_charge_max_bp) == (1000, 100, 2000)
    assert p.charge_method == "flat"
    assert (p.loan_term_months, p.loan_term_max_months) == (1, 3)
    assert (p.savings_multiple, p.active_loans_max, p.quorum_percent) == (3, 1, 50)
    assert (p.cycle_weeks, p.cycle_weeks_min, p.cycle_weeks_max) == (52, 36, 52)
    assert p.retain_seed_capital is True and p.exit_share_of_profit is False


def test_programme_in_another_currency_must_state_its_loan_bounds():
    with refused("policy.loan_bounds_required"):
        programme_policy("KES")
    assert programme_policy("KES", {"loan_min": 65000, "loan_max": 260000}).loan_max == 260000


def test_unknown_setting_is_refused():
    with refused("policy.unknown_setting"):
        programme_policy("USD", {"interest": 5})
    with refused("policy.unknown_setting"):
        refine(Policy(loan_min=1, loan_max=2), {"interest": 5})


@pytest.mark.parametrize("refinement", [
    {"members_max": 21},
    {"members_min": 9},
    {"loan_max": 2001},
    {"loan_min": 499},
    {"shares_max": 6},
    {"shares_min": 0},
    {"service_charge_bp": 2100},  # above 20%
    {"service_charge_bp": 50},  # below 1%
    {"cycle_weeks": 53},
    {"cycle_weeks": 35},
    {"loan_term_months": 4},
    {"loan_term_max_months": 6},
    {"savings_multiple": 4},
    {"active_loans_max": 2},
    {"quorum_percent": 40},
    {"charge_method": "compound"},
    {"retain_seed_capital": False},
    {"shares_min": 4, "shares_max": 3},
    {"shares_max": True},
])
def test_policy_refinement_outside_programme_bounds_is_refused(refinement):
    with refused("policy.out_of_range"):
        refine(programme_policy("USD"), refinement)


def test_policy_refinement_within_programme_bounds_is_accepted():
    p = refine(programme_policy("USD"), {"shares_max": 3, "service_charge_bp": 500, "cycle_weeks": 40,
                                         "charge_method": "declining", "quorum_percent": 66,
                                         "loan_max": 1500, "savings_multiple": 2})
    assert (p.shares_max, p.service_charge_bp, p.cycle_weeks, p.charge_method) == (3, 500, 40, "declining")


def test_group_refinement_outside_programme_bounds_is_refused(session, factory):
    programme = factory.programme()
    with refused("policy.out_of_range"):
        factory.group(programme, members=0, policy={"members_max": 25})
    group = factory.group(programme, members=0, policy={"shares_max": 3})
    with refused("policy.out_of_range"):
        groups.update_group(session, factory.admin(programme), group, policy={"savings_multiple": 5})
    # the cycle may refine the group's refinement, never loosen it
    with refused("policy.out_of_range"):
        factory.cycle(group, policy={"shares_max": 4})


def test_programme_policy_change_that_breaks_a_group_refinement_is_refused(session, factory):
    programme = factory.programme()
    factory.group(programme, members=0, policy={"shares_max": 4})
    with refused("policy.out_of_range"):
        groups.update_programme_policy(session, factory.admin(programme), programme, {"shares_max": 3})


def test_service_charge_outside_1_to_20_percent_is_refused(session, factory):
    group = factory.group(members=10)
    for bp in (99, 2001):
        with refused("policy.out_of_range"):
            factory.cycle(group, service_charge_bp=bp)
    assert factory.cycle(group, service_charge_bp=2000).service_charge_bp == 2000


def test_cycle_length_outside_36_to_52_weeks_is_refused(session, factory):
    group = factory.group(members=10)
    for weeks in (35, 53):
        with refused("policy.out_of_range"):
            factory.cycle(group, weeks=weeks)
    cycle = factory.cycle(group, weeks=36)
    assert cycle.weeks == 36
    assert (cycle.planned_shareout_date - cycle.start_date).days <= 36 * 7


def test_cycle_default_length_is_52_weekly_meetings(session, factory):
    group = factory.group(members=10)
    cycle = factory.cycle(group)
    assert cycle.weeks == 52
    dates = cycles.schedule_dates(cycle.schedule, cycle.start_date, 52)
    assert dates[-1] == cycle.planned_shareout_date
    assert all(d.weekday() == 3 for d in dates)  # every Thursday


def test_second_open_cycle_is_refused(session, factory):
    group = factory.ready()
    with refused("cycle.already_open"):
        factory.cycle(group)


def test_cycle_with_a_foreign_currency_share_price_is_refused(session, factory):
    group = factory.group(members=10)
    with refused("money.currency_mismatch"):
        cycles.start_cycle(session, factory.system, group, share_price=Money(100, "USD"),
                           social_fund_contribution=Money(0, "KES"), start_date=factory_today())
    with refused("cycle.invalid_share_price"):
        cycles.start_cycle(session, factory.system, group, share_price=Money(0, "KES"),
                           social_fund_contribution=Money(0, "KES"), start_date=factory_today())


def factory_today():
    from datetime import date

    return date.today()


def test_amount_limits_default_to_usd_figures_converted_at_the_loan_ceilings_rate():
    usd = programme_policy("USD")
    assert (usd.grant_max, usd.share_price_max, usd.fine_max) == (500_000, 2_000, 1_000)
    kes = programme_policy("KES", {"loan_min": 65000, "loan_max": 260000})  # KES 130 = USD 1
    assert kes.grant_max == 500_000 * 130 and kes.welfare_max == 20_000 * 130


def test_a_stored_policy_without_amount_limits_gets_them_derived():
    from vision_ledger.policy import from_dict

    stored = programme_policy("KES", {"loan_min": 65000, "loan_max": 260000}).as_dict()
    del stored["share_price_max"]
    assert from_dict(stored).share_price_max == 2_000 * 130

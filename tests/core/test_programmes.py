"""Programmes: creation by operators, USD defaults at the operator's rate, the installation's
bounds, one choice of minor digits per currency, and the group's constitution."""

from __future__ import annotations

from decimal import Decimal

import pytest

from vision_ledger import constitution, currencies, groups, money, programmes
from vision_ledger.actors import Actor, can_administer
from vision_ledger.db import Database
from vision_ledger.errors import DomainError, NotFound, PermissionDenied
from vision_ledger.models import Programme
from vision_ledger.money import Money
from vision_ledger.policy import convert_usd, money_defaults

from ..conftest import fresh_database_url
from .helpers import refused

OPERATOR = Actor(role="operator", channel="cli", name="ops")


def _create(session, **kw):
    kw.setdefault("name", "Programme")
    kw.setdefault("country", "KE")
    kw.setdefault("currency", "KES")
    kw.setdefault("timezone", "Africa/Nairobi")
    if kw["currency"] != "USD":
        kw.setdefault("usd_rate", "130")
    return programmes.create_programme(session, OPERATOR, **kw)


# --- conversion of the USD defaults -------------------------------------------------------------


@pytest.mark.parametrize(("rate", "digits", "usd_cents", "expected"), [
    ("130", 2, 500, 65000),  # USD 5 = KES 650
    ("130", 2, 2000, 260000),  # USD 20 = KES 2,600
    ("530", 0, 500, 2700),  # YER 2,650 -> 2,700 (two significant figures, half up)
    ("530", 0, 2000, 11000),  # YER 10,600 -> 11,000
    ("1600", 0, 2000, 32000),
    ("0.92", 2, 500, 460),  # EUR 4.60
    ("0.92", 2, 2000, 1800),  # EUR 18.40 -> 18
    ("15.5", 2, 2000, 31000),  # GHS 310
    ("2600", 2, 2000, 5200000),  # TZS 52,000
    ("3700", 0, 500, 19000),  # UGX 18,500 -> 19,000
    ("0.0001", 2, 500, 1),  # never below one minor unit
])
def test_usd_default_is_converted_and_rounded_to_two_significant_figures(rate, digits, usd_cents,
                                                                          expected):
    assert convert_usd(usd_cents, Decimal(rate), digits) == expected


def test_programme_money_defaults_are_the_usd_ones_at_the_operators_rate(session):
    p = _create(session, currency="EUR", country="XK", timezone="Europe/Belgrade", usd_rate="0.92")
    assert (p.policy["loan_min"], p.policy["loan_max"]) == (460, 1800)
    assert p.policy["fine_max"] == 920 and p.usd_rate == "0.92"
    assert {k: p.policy[k] for k in money_defaults(Decimal("0.92"), 2)} == money_defaults(
        Decimal("0.92"), 2)


def test_explicit_policy_values_win_over_converted_defaults(session):
    p = _create(session, policy={"fine_max": 50000, "shares_max": 3})
    assert (p.policy["fine_max"], p.policy["shares_max"], p.policy["loan_max"]) == (50000, 3, 260000)


def test_programme_from_loan_bounds_records_the_rate_they_imply(session):
    p = programmes.create_programme(session, OPERATOR, name="x", country="KE", currency="KES",
                                    policy={"loan_min": 65000, "loan_max": 260000})
    assert p.usd_rate == "130"


# --- refusals at creation --------------------------------------------------------------------------


def test_programme_without_rate_or_loan_bounds_is_refused(session):
    with refused("policy.loan_bounds_required"):
        programmes.create_programme(session, OPERATOR, name="x", country="KE", currency="KES")


@pytest.mark.parametrize("rate", ["abc", "0", "-1", "1e3", "1.1234567", ""])
def test_usd_rate_that_is_not_a_positive_decimal_is_refused(session, rate):
    with refused("policy.invalid_usd_rate"):
        _create(session, usd_rate=rate)


def test_usd_rate_given_as_float_is_refused(session):
    with refused("policy.invalid_usd_rate"):
        _create(session, usd_rate=130.0)


def test_usd_programme_rate_other_than_one_is_refused(session):
    with refused("policy.invalid_usd_rate"):
        _create(session, currency="USD", usd_rate="2")


@pytest.mark.parametrize(("field", "value", "code"), [
    ("currency", "XYZ", "money.unknown_currency"),
    ("country", "QQ", "programme.unknown_country"),
    ("timezone", "Africa/Atlantis", "programme.invalid_timezone"),
    ("languages", ["en", "fr"], "programme.invalid_languages"),
    ("languages", [], "programme.invalid_languages"),
    ("languages", ["en", "en"], "programme.invalid_languages"),
    ("name", "  ", "programme.name_required"),
    ("minor_digits", 5, "currency.invalid_digits"),
    ("minor_digits", -1, "currency.invalid_digits"),
])
def test_programme_with_bad_field_is_refused_and_nothing_is_recorded(session, field, value, code):
    with refused(code):
        _create(session, **{field: value})
    assert currencies.load(session) == {}


def test_programmes_are_created_and_listed_by_operators_only(session, factory):
    p = _create(session)
    with refused("permission.operator_only", PermissionDenied):
        programmes.list_programmes(session, factory.admin(p))
    with refused("permission.operator_only", PermissionDenied):
        _create_as(session, factory.admin(p))
    assert [x.id for x in programmes.list_programmes(session, OPERATOR)] == [p.id]


def _create_as(session, actor):
    return programmes.create_programme(session, actor, name="x", country="KE", currency="KES",
                                       timezone="UTC", usd_rate="130")


# --- installation bounds ---------------------------------------------------------------------------


@pytest.mark.parametrize(("setting", "value"), [
    ("members_min", 9), ("members_max", 21), ("service_charge_max_bp", 2100),
    ("service_charge_min_bp", 50), ("loan_term_max_months", 4), ("cycle_weeks_max", 53),
    ("cycle_weeks_min", 30), ("fine_max", 10 * 130000 + 1), ("grant_max", 10 * 65000000 + 1),
])
def test_programme_policy_outside_the_installation_bounds_is_refused(session, factory, setting, value):
    with refused("policy.out_of_range"):
        _create(session, policy={setting: value})
    p = _create(session)
    with refused("policy.out_of_range"):
        programmes.update_programme_policy(session, factory.admin(p), p, {setting: value})


def test_installation_bound_refusal_names_the_bound(session):
    with pytest.raises(DomainError) as info:
        _create(session, policy={"fine_max": 10 * 130000 + 1})
    assert info.value.facts == {"setting": "fine_max", "value": 1300001, "minimum": 1,
                                "maximum": 1300000, "bound": "installation"}


def test_admin_changes_the_policy_within_the_installation_bounds(session, factory):
    p = _create(session)
    programmes.update_programme_policy(session, factory.admin(p), p, {"fine_max": 1300000,
                                                                       "members_min": 12})
    assert (p.policy["fine_max"], p.policy["members_min"]) == (1300000, 12)


# --- minor digits: one choice per currency per installation ---------------------------------------


def test_yer_programme_keeps_babels_zero_digits_by_default(session, db):
    p = _create(session, currency="YER", country="YE", timezone="Asia/Aden", usd_rate="530",
                languages=["ar", "en"])
    currencies.install(db)
    assert currencies.recorded_digits(session, "YER") == 0
    assert p.policy["loan_max"] == 11000  # YER 11,000 = USD 20 at 530, rounded
    with refused("money.too_precise"):
        Money.parse("12.50", "YER")
    assert Money.parse("1250", "YER").format("en") == "YER 1,250"


def test_yer_programme_with_two_digits_reads_and_formats_fils(session, db):
    p = _create(session, currency="YER", country="YE", timezone="Asia/Aden", usd_rate="530",
                minor_digits=2)
    currencies.install(db)
    assert p.policy["loan_max"] == 1100000  # YER 11,000.00
    assert Money.parse("12.50", "YER").minor == 1250
    assert Money(1250, "YER").format("en") == "YER 12.50"
    # a second YER programme keeps the installation's choice; another choice is refused
    assert currencies.recorded_digits(session, _create(session, currency="YER", country="YE",
                                                         usd_rate="1600").currency) == 2
    with refused("currency.digits_conflict"):
        _create(session, currency="YER", country="YE", usd_rate="530", minor_digits=0)


def test_a_process_started_before_the_programme_reads_amounts_with_its_digits(tmp_path_factory):
    url = fresh_database_url(tmp_path_factory, "digits")
    worker, operator = Database(url), Database(url)
    try:
        currencies.install(worker)  # the worker starts: no programme in YER yet
        assert money.minor_digits("YER") == 0
        with operator.unit_of_work() as s:
            _create(s, currency="YER", country="YE", usd_rate="530", minor_digits=2)
        assert money.minor_digits("YER") == 2  # learned from the database, not Babel
        assert Money.parse("12.50", "YER").minor == 1250
    finally:
        worker.engine.dispose()
        operator.engine.dispose()


# --- programme time zone and languages --------------------------------------------------------------


def test_group_takes_the_programmes_time_zone_and_first_language(session, factory):
    p = _create(session, timezone="Asia/Aden", country="YE", currency="USD", languages=["ar", "en"])
    group = groups.create_group(session, factory.admin(p), p, name="Aden VSLA",
                                schedule="FREQ=WEEKLY;BYDAY=SU")
    assert (group.timezone, group.language, group.currency) == ("Asia/Aden", "ar", "USD")


def test_group_language_outside_the_programmes_languages_is_refused(session, factory):
    p = _create(session, languages=["en", "sw"])
    with refused("group.language_not_in_programme"):
        groups.create_group(session, factory.admin(p), p, name="x", schedule="FREQ=WEEKLY",
                            language="ar")
    group = groups.create_group(session, factory.admin(p), p, name="x", schedule="FREQ=WEEKLY")
    with refused("group.language_not_in_programme"):
        groups.update_group(session, factory.admin(p), group, language="ar")


# --- the operator ---------------------------------------------------------------------------------


def test_operator_reads_programme_records_never_their_books(session, factory):
    group = factory.group(members=0)
    assert programmes.get_programme(session, OPERATOR, group.programme_id).id == group.programme_id
    with refused("permission.staff_only", PermissionDenied):
        can_administer(OPERATOR, programme_id=group.programme_id)
    with refused("group.not_found", NotFound):
        groups.get_group(session, OPERATOR, group.id)


def test_operator_has_no_scope():
    with pytest.raises(ValueError):
        Actor(role="operator", programme_id=1)


# --- the group's constitution -------------------------------------------------------------------------


def test_group_constitution_is_refined_within_the_programme_bounds(session, factory):
    group = factory.ready()
    treasurer = factory.treasurer(group)
    constitution.change_constitution(session, treasurer, group, {"shares_max": 3, "quorum_percent": 60})
    view = constitution.policy_view(session, treasurer, group)
    assert view["group"] == {"shares_max": 3, "quorum_percent": 60}
    assert (view["in_force"]["shares_max"], view["programme"]["shares_max"]) == (3, 5)
    assert view["group_may_choose"]["shares_max"] == {"minimum": 1, "maximum": 5}
    constitution.change_constitution(session, treasurer, group, {"shares_max": None})
    assert group.policy == {"quorum_percent": 60}  # back to the programme's shares_max
    with refused("policy.out_of_range"):
        constitution.change_constitution(session, treasurer, group, {"shares_max": 6})
    with refused("policy.unknown_setting"):
        constitution.change_constitution(session, treasurer, group, {"interest": 6})


def test_group_constitution_that_leaves_the_open_cycle_outside_is_refused(session, factory):
    group = factory.ready()  # share price KES 100, fines up to KES 100
    admin = factory.admin(group.programme_id)
    with refused("policy.open_cycle_outside"):
        constitution.change_constitution(session, admin, group, {"share_price_max": 5000})
    with refused("policy.open_cycle_outside"):
        constitution.change_constitution(session, admin, group, {"fine_max": 6000})
    assert group.policy == {}


def test_members_and_auditors_do_not_change_the_constitution(session, factory):
    group = factory.ready()
    member = factory.members(group)[1]
    with refused("permission.denied", PermissionDenied):
        constitution.change_constitution(session, factory.member_actor(member), group, {"shares_max": 3})
    with refused("permission.read_only", PermissionDenied):
        constitution.change_constitution(session, factory.auditor(group.programme_id), group,
                                         {"shares_max": 3})
    assert constitution.policy_view(session, factory.member_actor(member), group)["group"] == {}


def test_programme_change_that_breaks_an_open_cycle_refinement_is_refused(session, factory):
    group = factory.ready()
    p = session.get(Programme, group.programme_id)
    cycle = groups.open_cycle(session, group.id)
    cycle.policy = {"shares_max": 4}
    session.flush()
    with refused("policy.out_of_range"):
        programmes.update_programme_policy(session, factory.admin(p), p, {"shares_max": 3})

"""Indicators and targets: the rules of their definitions, periods and target values, the trail
of changes, who may do what, and how actuals are counted and broken down."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from vision_ledger import indicators, loans, purposes, reversals, savings
from vision_ledger.actors import Actor
from vision_ledger.errors import Conflict, DomainError, NotFound, PermissionDenied
from vision_ledger.indicators_report import indicator_table
from vision_ledger.models import Entry, Group, Loan
from vision_ledger.results_models import Indicator, IndicatorTarget, ResultsChange

TITLES = {"en": "Members reached", "sw": "Wanachama", "ar": "الأعضاء"}


def _quarter(day: date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


@pytest.mark.parametrize(("text", "start", "end"), [
    ("2027Q1", date(2027, 1, 1), date(2027, 3, 31)), ("2027Q4", date(2027, 10, 1), date(2027, 12, 31)),
    ("2028Q1", date(2028, 1, 1), date(2028, 3, 31)), ("2027", date(2027, 1, 1), date(2027, 12, 31))])
def test_a_period_is_a_year_or_a_quarter(text, start, end):
    period = indicators.parse_period(text)
    assert (period.label, period.start, period.end) == (text, start, end)


@pytest.mark.parametrize("text", ["2027q1", "2027Q5", "2027Q0", "27Q1", " 2027Q1", "2027-Q1", "2027Q1 ",
                                  "Q1 2027", "", "1999", "2027H1", "２０２７", None, 2027])
def test_any_other_period_is_refused_with_the_forms_that_work(text):
    with pytest.raises(DomainError) as refused:
        indicators.parse_period(text)
    assert refused.value.code == "period.invalid"
    assert refused.value.facts["examples"] == ["2027", "2027Q1"]


@pytest.fixture
def programme(factory):
    return factory.ready().programme


def _create(session, factory, programme, **kw):
    kw = {"code": "reach", "titles": TITLES, "measure": "members_reached", **kw}
    return indicators.create_indicator(session, factory.admin(programme), programme.id, **kw)


def test_targets_are_read_in_the_measures_unit(session, factory, programme):
    admin = factory.admin(programme)
    _create(session, factory, programme)
    _create(session, factory, programme, code="savings", measure="savings_mobilised")
    _create(session, factory, programme, code="ros", measure="return_on_savings")
    for code, given, stored in (("reach", "120", 120), ("savings", "50000.50", 5_000_050),
                                ("ros", "0.15", 1500), ("ros", "0.0725", 725)):
        assert indicators.set_target(session, admin, programme.id, code, period="2027Q1",
                                     value=given).value == stored


@pytest.mark.parametrize(("code", "value"), [
    ("reach", "12.5"), ("reach", "-3"), ("reach", "1e3"), ("reach", ""), ("reach", 120),
    ("savings", "12.345"), ("savings", "1,000"), ("savings", "abc"), ("ros", "15%"), ("ros", "0.12345"),
    ("ros", "-0.1"), ("reach", "9" * 16)])
def test_a_bad_target_is_refused_and_changes_nothing(session, factory, programme, code, value):
    admin = factory.admin(programme)
    _create(session, factory, programme)
    _create(session, factory, programme, code="savings", measure="savings_mobilised")
    _create(session, factory, programme, code="ros", measure="return_on_savings")
    indicators.set_target(session, admin, programme.id, code, period="2027Q1", value="1")
    before = session.scalar(select(func.count()).select_from(ResultsChange))
    with pytest.raises(DomainError) as refused:
        indicators.set_target(session, admin, programme.id, code, period="2027Q1", value=value)
    assert refused.value.code == "target.invalid_value"
    assert session.scalar(select(func.count()).select_from(ResultsChange)) == before
    target = session.scalars(select(IndicatorTarget).join(Indicator).where(Indicator.code == code)).one()
    assert target.value == (100 if code == "savings" else 10000 if code == "ros" else 1)


def test_every_change_is_recorded_with_who_when_and_the_old_and_new_value(session, factory, programme):
    admin = factory.admin(programme)
    _create(session, factory, programme, breakdowns=["gender"])
    indicators.set_target(session, admin, programme.id, "reach", period="2027Q1", value="100")
    indicators.set_target(session, admin, programme.id, "reach", period="2027Q1", value="100")  # no change
    indicators.set_target(session, admin, programme.id, "reach", period="2027Q1", value="120")
    indicators.update_indicator(session, admin, programme.id, "reach", {"breakdowns": ["gender", "youth"]})
    indicators.delete_indicator(session, admin, programme.id, "reach")
    trail = list(reversed(indicators.changes(session, factory.auditor(programme), programme.id)))
    assert [(c.subject, c.action, c.period, c.old, c.new) for c in trail] == [
        ("indicator", "create", None, None, {"code": "reach", "titles": TITLES, "measure": "members_reached",
                                             "purposes": [], "breakdowns": ["gender"]}),
        ("target", "create", "2027Q1", None, {"value": "100"}),
        ("target", "update", "2027Q1", {"value": "100"}, {"value": "120"}),
        ("indicator", "update", None, {"code": "reach", "titles": TITLES, "measure": "members_reached",
                                       "purposes": [], "breakdowns": ["gender"]},
         {"code": "reach", "titles": TITLES, "measure": "members_reached", "purposes": [],
          "breakdowns": ["gender", "youth"]}),
        ("target", "delete", "2027Q1", {"value": "120"}, None),
        ("indicator", "delete", None, {"code": "reach", "titles": TITLES, "measure": "members_reached",
                                       "purposes": [], "breakdowns": ["gender", "youth"]}, None),
    ]
    assert {(c.actor, c.channel) for c in trail} == {("admin:officer", "api")}
    assert all(c.changed_at is not None for c in trail)
    assert session.scalar(select(func.count()).select_from(Indicator)) == 0


def test_auditors_read_admins_write_and_others_see_nothing(session, factory, programme):
    _create(session, factory, programme)
    other = factory.ready().programme
    auditor, admin = factory.auditor(programme), factory.admin(programme)
    assert indicators.get_indicator(session, auditor, programme.id, "reach").code == "reach"
    assert indicator_table(session, auditor, programme.id, "2027").lines[0].code == "reach"
    with pytest.raises(PermissionDenied):
        indicators.set_target(session, auditor, programme.id, "reach", period="2027", value="5")
    with pytest.raises(PermissionDenied):
        indicators.create_indicator(session, auditor, programme.id, code="x", titles=TITLES,
                                    measure="groups_formed")
    with pytest.raises(PermissionDenied):
        indicators.delete_indicator(session, auditor, programme.id, "reach")
    for outsider in (factory.admin(other), factory.auditor(other)):
        with pytest.raises(NotFound):
            indicators.get_indicator(session, outsider, programme.id, "reach")
        with pytest.raises(NotFound):
            indicators.set_target(session, outsider, programme.id, "reach", period="2027", value="5")
    group_id = session.scalars(select(Group.id).where(Group.programme_id == programme.id)).first()
    with pytest.raises(NotFound):  # the programme's own treasurer: not staff
        indicator_table(session, Actor(role="treasurer", group_id=group_id), programme.id, "2027")
    with pytest.raises(NotFound):
        indicators.changes(session, Actor(role="treasurer", group_id=group_id), programme.id)
    with pytest.raises(NotFound):
        indicators.get_indicator(session, admin, programme.id, "nope")


@pytest.mark.parametrize(("kw", "code"), [
    ({"code": "Reach"}, "indicator.invalid_code"), ({"code": "1st"}, "indicator.invalid_code"),
    ({"measure": "happiness"}, "indicator.unknown_measure"),
    ({"titles": {"en": "Only English"}}, "indicator.title_required"),
    ({"titles": {**TITLES, "sw": "  "}}, "indicator.title_required"),
    ({"breakdowns": ["caste"]}, "indicator.invalid_breakdowns"),
    ({"breakdowns": ["gender", "gender"]}, "indicator.invalid_breakdowns"),
    ({"measure": "groups_active", "breakdowns": ["gender"]}, "indicator.breakdown_not_applicable"),
    ({"purposes": ["school_fees"]}, "indicator.purposes_not_applicable"),
    ({"measure": "loans_disbursed_count", "purposes": ["yachts"]}, "indicator.unknown_purpose"),
])
def test_a_bad_definition_is_refused_and_nothing_is_kept(session, factory, programme, kw, code):
    with pytest.raises(DomainError) as refused:
        _create(session, factory, programme, **kw)
    assert refused.value.code == code
    assert session.scalar(select(func.count()).select_from(Indicator)) == 0
    assert session.scalar(select(func.count()).select_from(ResultsChange)) == 0


def test_an_indicator_code_is_taken_once_per_programme(session, factory, programme):
    _create(session, factory, programme)
    with pytest.raises(Conflict):
        _create(session, factory, programme, measure="groups_formed")
    _create(session, factory, factory.ready().programme)  # another programme may use it


# --- actuals ---------------------------------------------------------------------------------------


@pytest.fixture
def books(session, factory):
    """Two groups of one programme (Coast, and no region), members with and without attributes,
    shares and loans at a meeting a week ago."""
    first = factory.ready()
    programme = first.programme
    second = factory.ready(programme=programme)
    second.region = None
    on = date.today() - timedelta(days=7)
    for group in (first, second):
        members = factory.members(group)
        for i, m in enumerate(members):
            m.gender = {0: "female", 1: "other", 2: None}.get(i, "male")
            m.birth_year = on.year - 20 if i == 1 else None
            m.disability = i == 2
        session.flush()
        factory.meeting(group, on=on)
        t = factory.treasurer(group)
        for m in members:
            savings.buy_shares(session, t, group, m, 4)
    return programme, first, second, on


def _table(session, factory, programme, on):
    return {line.code: line for line in indicator_table(
        session, factory.auditor(programme), programme.id, _quarter(on), today=on).lines}


def test_each_breakdown_adds_up_to_the_total(session, factory, books):
    programme, _, _, on = books
    for code, measure in (("reach", "members_reached"), ("savings", "savings_mobilised"),
                          ("active", "members_active")):
        _create(session, factory, programme, code=code, measure=measure,
                breakdowns=["gender", "youth", "disability", "region"])
    _create(session, factory, programme, code="groups", measure="groups_formed", breakdowns=["region"])
    table = _table(session, factory, programme, on)
    assert table["reach"].actual == 30 and table["savings"].actual == 2 * 15 * 4 * 10_000
    assert table["groups"].breakdown == {"region:Coast": 1, "region:not_recorded": 1}
    for line in table.values():
        for dimension in ("gender", "youth", "disability", "region"):
            parts = [v for k, v in line.breakdown.items() if k.startswith(dimension + ":")]
            if parts:
                assert sum(parts) == line.actual, (line.code, dimension)
    reach = table["reach"].breakdown
    assert (reach["gender:female"], reach["gender:other"], reach["gender:not_recorded"]) == (2, 2, 2)
    assert (reach["youth:yes"], reach["disability:yes"], reach["region:Coast"]) == (2, 2, 15)
    assert table["savings"].breakdown["gender:other"] == 2 * 4 * 10_000


def test_reversed_loans_and_share_purchases_do_not_count_and_no_purpose_is_not_recorded(
        session, factory, books):
    programme, first, _, on = books
    t = factory.treasurer(first)
    members = factory.members(first)
    school = loans.disburse_loan(session, t, first, members[0], factory.money(first, "1000"),
                                 purpose="school_fees")
    loans.disburse_loan(session, t, first, members[1], factory.money(first, "900"))  # no purpose
    trade = loans.disburse_loan(session, t, first, members[2], factory.money(first, "800"),
                                purpose="start_trade")
    bought = savings.buy_shares(session, t, first, members[3], 1)
    reversals.reverse_entry(session, t, first, session.scalars(select(Entry).where(
        Entry.loan_id == trade.id, Entry.kind == "loan")).one(), "typed for the wrong member")
    reversals.reverse_entry(session, t, first, bought, "typed twice")
    _create(session, factory, programme, code="all", measure="loans_disbursed_count")
    _create(session, factory, programme, code="unrecorded", measure="loans_disbursed_value",
            purposes=[purposes.NOT_RECORDED])
    _create(session, factory, programme, code="school", measure="loans_disbursed_value",
            purposes=["school_fees", "health"])
    _create(session, factory, programme, code="business", measure="members_business_loan")
    _create(session, factory, programme, code="savings", measure="savings_mobilised")
    table = _table(session, factory, programme, on)
    assert school.purpose == "school_fees"
    assert table["all"].actual == 2  # the reversed start-up loan is cancelled
    assert (table["unrecorded"].actual, table["school"].actual) == (90_000, 100_000)
    assert table["business"].actual == 0
    assert table["savings"].actual == 2 * 15 * 4 * 10_000  # the reversed purchase nets to nothing


def test_a_loan_for_a_purpose_off_the_list_is_refused_and_posts_nothing(session, factory, books):
    _, first, _, _ = books
    t = factory.treasurer(first)
    member = factory.members(first)[0]
    seq = first.last_seq
    with pytest.raises(DomainError) as refused:
        loans.disburse_loan(session, t, first, member, factory.money(first, "1000"), purpose="yachts")
    assert refused.value.code == "loan.unknown_purpose"
    assert "start_trade" in refused.value.facts["allowed"]
    assert first.last_seq == seq and session.scalars(select(Loan)).all() == []


def test_a_loan_with_a_purpose_replays_and_a_changed_purpose_is_a_reused_key(session, factory, books):
    _, first, _, _ = books
    t = factory.treasurer(first)
    member = factory.members(first)[0]
    amount = factory.money(first, "1000")
    loan = loans.disburse_loan(session, t, first, member, amount, purpose="health", idempotency_key="k1")
    again = loans.disburse_loan(session, t, first, member, amount, purpose="health", idempotency_key="k1")
    assert again.id == loan.id
    with pytest.raises(Conflict):
        loans.disburse_loan(session, t, first, member, amount, purpose="household", idempotency_key="k1")


def test_a_programme_list_replaces_the_defaults_and_keeps_what_loans_used(session, factory, books):
    programme, first, _, on = books
    admin = factory.admin(programme)
    t = factory.treasurer(first)
    members = factory.members(first)
    loans.disburse_loan(session, t, first, members[0], factory.money(first, "1000"), purpose="start_trade")
    listed = purposes.set_purposes(session, admin, programme, [
        {"code": "boda", "titles": {"en": "Motorbike", "sw": "Pikipiki", "ar": "دراجة"}, "business": True}])
    assert [p.code for p in listed] == ["boda"]
    with pytest.raises(DomainError):
        loans.disburse_loan(session, t, first, members[1], factory.money(first, "1000"),
                            purpose="start_trade")
    loans.disburse_loan(session, t, first, members[1], factory.money(first, "1000"), purpose="boda")
    known = purposes.programme_purposes(session, programme.id, include_inactive=True)
    assert {"boda", "start_trade", "other"} <= {p.code for p in known}
    _create(session, factory, programme, code="business", measure="members_business_loan")
    assert _table(session, factory, programme, on)["business"].actual == 2  # start-up still business


@pytest.mark.parametrize(("items", "code"), [
    ([], "purpose.invalid_list"),
    ([{"code": "Trade", "titles": {"en": "T", "sw": "T", "ar": "T"}, "business": True}],
     "purpose.invalid_code"),
    ([{"code": "a", "titles": {"en": "T", "sw": "T", "ar": "T"}, "business": True}] * 2,
     "purpose.duplicate_code"),
    ([{"code": "a", "titles": {"en": "T", "sw": "T"}, "business": True}], "purpose.title_required"),
    ([{"code": "a", "titles": {"en": "T", "sw": "T", "ar": "T"}}], "purpose.business_required"),
    ([{"code": "a", "titles": {"en": "T" * 41, "sw": "T", "ar": "T"}, "business": False}],
     "purpose.title_too_long"),
])
def test_a_bad_purpose_list_is_refused_and_the_defaults_stay(session, factory, programme, items, code):
    with pytest.raises(DomainError) as refused:
        purposes.set_purposes(session, factory.admin(programme), programme, items)
    assert refused.value.code == code
    assert purposes.programme_purposes(session, programme.id) == list(purposes.DEFAULTS)


def test_the_results_tables_are_migrated_as_the_models_declare_them(engine):
    from sqlalchemy import inspect

    from .test_schema_indexes import _declared, _migrated

    with engine.connect() as conn:
        inspector = inspect(conn)
        for table in ("loan_purposes", "indicators", "indicator_targets", "results_changes"):
            assert _migrated(inspector, table) == _declared(table), table
            declared = {c.name for c in Indicator.metadata.tables[table].columns}
            assert {c["name"] for c in inspector.get_columns(table)} == declared, table
        assert "purpose" in {c["name"] for c in inspector.get_columns("loans")}

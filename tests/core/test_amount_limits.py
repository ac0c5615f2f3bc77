"""Every amount is bounded: the policy's maximum for each kind of amount, the ledger's ceiling
(MAX_AMOUNT_MINOR) on every posting, balance and share count, and the schema's CHECK constraints
behind both. Each refusal changes nothing.

The factory's KES programme has loan_max KES 2,600 (USD 20), so its other maxima are the USD
defaults at 130 KES to the dollar: grant KES 650,000, share price KES 2,600, fine KES 1,300,
social fund KES 650, welfare KES 26,000.
"""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from migrations import upgrade
from tests.api.conftest import build_side
from tests.conftest import is_postgres
from tests.factories import Factory
from vision_ledger import cycles, grants, groups, ledger, meetings, policy, savings
from vision_ledger.db import Database
from vision_ledger.ledger import credit, debit
from vision_ledger.models import Account, Cycle, Meeting
from vision_ledger.money import MAX_AMOUNT_MINOR, Money

from .helpers import ago, cash, entries, refused


def _kes(text_: str) -> Money:
    return Money.parse(text_, "KES")


def _start(session, factory, group, **kw):
    kw.setdefault("share_price", _kes("100"))
    kw.setdefault("social_fund_contribution", _kes("20"))
    kw.setdefault("start_date", ago(1))
    return cycles.start_cycle(session, factory.system, group, **kw)


def test_kes_programme_maxima_are_the_usd_defaults_converted():
    p = policy.programme_policy("KES", {"loan_min": 65000, "loan_max": 260000})
    assert (p.grant_max, p.share_price_max, p.fine_max, p.social_fund_max, p.welfare_max) == (
        65_000_000, 260_000, 130_000, 65_000, 2_600_000)


# --- the policy's maxima -------------------------------------------------------------------------


def test_grant_above_programme_maximum_is_refused(session, factory):
    group = factory.ready()
    admin = factory.admin(group.programme_id)
    before = entries(session, group), cash(session, group)
    with refused("grant.above_maximum"):
        grants.record_grant(session, admin, group, _kes("650000.01"))
    assert (entries(session, group), cash(session, group)) == before
    grants.record_grant(session, admin, group, _kes("650000"))  # at the maximum: accepted
    assert cash(session, group) == before[1] + 65_000_000


def test_grant_above_maximum_states_the_maximum_and_the_request(session, factory):
    group = factory.ready()
    with pytest.raises(Exception) as info:
        grants.record_grant(session, factory.admin(group.programme_id), group,
                            _kes("999999999999999.99"))
    assert info.value.code == "grant.above_maximum"
    assert info.value.facts == {"maximum": "650000.00", "requested": "999999999999999.99"}


def test_grant_above_a_groups_lower_ceiling_is_refused(session, factory):
    group = factory.ready(policy={"grant_max": 1_000_000})
    with refused("grant.above_maximum"):
        grants.record_grant(session, factory.admin(group.programme_id), group, _kes("10000.01"))


def test_share_price_above_maximum_is_refused(session, factory):
    group = factory.group()
    with refused("cycle.share_price_above_maximum"):
        _start(session, factory, group, share_price=_kes("2600.01"))
    with refused("cycle.share_price_above_maximum"):
        _start(session, factory, group, share_price=_kes("999999999999999.99"))
    assert groups.open_cycle(session, group.id) is None
    assert _start(session, factory, group, share_price=_kes("2600")).share_price == 260_000


def test_social_fund_contribution_above_maximum_is_refused(session, factory):
    group = factory.group()
    with refused("cycle.social_fund_above_maximum"):
        _start(session, factory, group, social_fund_contribution=_kes("650.01"))
    assert groups.open_cycle(session, group.id) is None


def test_fine_above_maximum_at_cycle_start_is_refused(session, factory):
    group = factory.group()
    with refused("cycle.fine_above_maximum"):
        _start(session, factory, group, fines={"late": _kes("50"), "lost book": _kes("1300.01")})
    assert groups.open_cycle(session, group.id) is None


def test_a_fine_ceiling_below_the_open_cycles_fine_waits_for_the_next_cycle(session, factory):
    group = factory.ready(fines={"late": _kes("1000")})
    with refused("policy.open_cycle_outside"):
        groups.update_group(session, factory.admin(group.programme_id), group,
                            policy={"fine_max": 50_000})


def test_fine_above_a_ceiling_lowered_since_the_cycle_began_is_refused(session, factory):
    group = factory.ready(fines={"late": _kes("1000")})
    factory.meeting(group, on=ago(1))
    # A ceiling stored lower than the cycle's fine (a policy written before the constitution
    # checked open cycles): the fine is still refused when it is charged.
    programme = group.programme
    programme.policy = {**programme.policy, "fine_max": 50_000}
    session.flush()
    before = entries(session, group)
    with refused("fine.above_maximum"):
        savings.charge_fine(session, factory.treasurer(group), group, factory.members(group)[2], "late")
    assert entries(session, group) == before


def test_welfare_payout_above_maximum_is_refused(session, factory):
    group = factory.ready()
    factory.meeting(group, on=ago(1))
    t = factory.treasurer(group)
    member = factory.members(group)[2]
    before = entries(session, group)
    with refused("welfare.above_maximum"):
        savings.pay_welfare(session, t, group, member, _kes("26000.01"), "funeral")
    with refused("welfare.above_maximum"):
        savings.pay_welfare(session, t, group, member, _kes("999999999999999.99"), "funeral")
    assert entries(session, group) == before


def test_policy_maximum_beyond_the_ledger_limit_is_refused():
    with refused("policy.out_of_range"):
        policy.programme_policy("KES", {"loan_min": 65000, "loan_max": 260000,
                                        "grant_max": MAX_AMOUNT_MINOR + 1})
    # The installation's bounds (10x the converted USD default) sit far below the ledger's limit.
    with refused("policy.out_of_range"):
        policy.programme_policy("KES", {"loan_min": 65000, "loan_max": 260000,
                                        "grant_max": MAX_AMOUNT_MINOR})


# --- the meeting's count -------------------------------------------------------------------------


def test_count_above_the_ledger_limit_is_refused(session, factory):
    group = factory.ready()
    factory.meeting(group, on=ago(1))
    _, social = meetings.expected_cash(session, group)
    with refused("meeting.count_above_limit"):
        meetings.close_meeting(session, factory.treasurer(group), group,
                               counted_loan_fund=Money(MAX_AMOUNT_MINOR + 1, "KES"),
                               counted_social_fund=social, variance_reason="counted twice")
    assert meetings.current_meeting(session, group.id) is not None
    factory.close(group)


# --- the ledger's ceiling ------------------------------------------------------------------------


def _post(session, factory, group, amount: int, into="fine_income"):
    ledger.lock_group(session, group.id)
    m = Money(amount, group.currency)
    return ledger.post(session, group, factory.system, kind="grant", request={"op": "test", "a": amount},
                       effective_date=ago(0), lines=[debit("loan_fund_cash", m), credit(into, m)])


def test_posting_past_the_ledger_limit_is_refused(session, factory):
    group = factory.ready()
    before = entries(session, group)
    with refused("ledger.amount_limit"):
        _post(session, factory, group, MAX_AMOUNT_MINOR + 1)
    with refused("ledger.amount_limit"):
        _post(session, factory, group, 10**19)  # past 64 bits: refused before any SQL
    assert entries(session, group) == before


def test_balance_past_the_ledger_limit_is_refused(session, factory):
    group = factory.ready()
    _post(session, factory, group, MAX_AMOUNT_MINOR)  # a balance at the limit is allowed
    before = entries(session, group), cash(session, group)
    with pytest.raises(Exception) as info:
        _post(session, factory, group, 1, into="seed_capital")
    assert info.value.code == "ledger.amount_limit"
    assert info.value.facts["account"] == "loan_fund_cash"
    assert info.value.facts["limit"] == "100000000000.00"
    assert (entries(session, group), cash(session, group)) == before
    assert ledger.verify(session, group).ok


def test_a_credit_balance_past_the_ledger_limit_is_refused(session, factory):
    group = factory.ready()
    _post(session, factory, group, MAX_AMOUNT_MINOR - 5, into="seed_capital")
    ledger.lock_group(session, group.id)
    m = Money(6, "KES")
    with refused("ledger.amount_limit"):  # seed capital (a credit) would pass -10^13
        ledger.post(session, group, factory.system, kind="grant", request={"op": "t2"},
                    effective_date=ago(0),
                    lines=[debit("social_fund_cash", m), credit("seed_capital", m)])
    assert ledger.verify(session, group).ok


# --- the schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "column", "value", "constraint"), [
    (Account, "balance", MAX_AMOUNT_MINOR + 1, "ck_accounts_balance_within_limit"),
    (Account, "balance", -MAX_AMOUNT_MINOR - 1, "ck_accounts_balance_within_limit"),
    (Account, "units", MAX_AMOUNT_MINOR + 1, "ck_accounts_units_within_limit"),
    (Cycle, "share_price", MAX_AMOUNT_MINOR + 1, "ck_cycles_share_price_within_limit"),
    (Cycle, "social_fund_contribution", MAX_AMOUNT_MINOR + 1,
     "ck_cycles_social_fund_within_limit"),
    (Meeting, "counted_loan_fund", MAX_AMOUNT_MINOR + 1, "ck_meetings_cash_within_limit"),
])
def test_schema_refuses_amounts_past_the_ledger_limit(session, factory, model, column, value,
                                                      constraint):
    group = factory.ready()
    factory.meeting(group, on=ago(1))
    target = {Account: Account.group_id, Cycle: Cycle.group_id, Meeting: Meeting.group_id}[model]
    session.flush()
    with pytest.raises(IntegrityError) as info, session.begin_nested():
        session.execute(update(model).where(target == group.id).values({column: value}))
    assert constraint in str(info.value)


def test_schema_refuses_a_posting_past_the_ledger_limit(session, factory):
    group = factory.ready()
    factory.meeting(group, on=ago(1))
    savings.buy_shares(session, factory.treasurer(group), group, factory.members(group)[1], 1)
    posting = session.execute(text(
        "SELECT id, entry_id, account_id FROM postings WHERE group_id = :g LIMIT 1"),
        {"g": group.id}).first()
    # PostgreSQL refuses UPDATE of postings by trigger; an INSERT meets the CHECK on both.
    with pytest.raises(IntegrityError) as info, session.begin_nested():
        session.execute(text(
            "INSERT INTO postings (group_id, entry_id, account_id, amount, units)"
            " VALUES (:g, :e, :a, :amt, 0)"),
            {"g": group.id, "e": posting.entry_id, "a": posting.account_id,
             "amt": MAX_AMOUNT_MINOR + 1})
    assert "ck_postings_amount_within_limit" in str(info.value)


@pytest.mark.skipif(is_postgres(), reason="the table rebuild is SQLite's; PostgreSQL adds constraints")
def test_migration_rebuilds_sqlite_tables_keeping_their_rows_and_the_ledger_guards(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    from alembic.script import ScriptDirectory

    from migrations import alembic_config

    # Every other branch at its head (the models the factory writes with need their columns).
    for revision in ScriptDirectory.from_config(alembic_config(url)).get_heads():
        if revision != "0005_amount_limits":
            upgrade(url, revision)
    db = Database(url)
    with db.session() as s:
        build_side(s, Factory(s))
        s.commit()
    db.engine.dispose()
    tables = ("accounts", "postings", "meetings", "cycles", "loans")
    with sqlite3.connect(tmp_path / "old.sqlite3") as c:
        before = {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
    upgrade(url)  # every head, 0005_amount_limits among them
    with sqlite3.connect(tmp_path / "old.sqlite3") as c:
        after = {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}
        assert c.execute("PRAGMA foreign_key_check").fetchall() == []
        with pytest.raises(sqlite3.IntegrityError, match="ck_accounts_balance_within_limit"):
            c.execute("UPDATE accounts SET balance = ?", (MAX_AMOUNT_MINOR + 1,))
        with pytest.raises(sqlite3.IntegrityError, match="UPDATE of postings is refused"):
            c.execute("UPDATE postings SET amount = 1")
    assert after == before and before["postings"] > 0

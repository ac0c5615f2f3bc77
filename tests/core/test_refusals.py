"""Refusals that had no test named for their rule: cycle settings, the social fund, PINs,
corrections after a member left, and the ledger's own guard against empty postings."""

from vision_ledger import cycles, groups, ledger, pins, reversals, savings, shareout
from vision_ledger.errors import LedgerFault
from vision_ledger.ledger import Line
from vision_ledger.models import Member
from vision_ledger.money import Money

from .helpers import ago, entries, refused


def _kes(text):
    return Money.parse(text, "KES")


def _start(session, factory, group, **kw):
    kw.setdefault("share_price", _kes("100"))
    kw.setdefault("social_fund_contribution", _kes("20"))
    kw.setdefault("start_date", ago(1))
    return cycles.start_cycle(session, factory.system, group, **kw)


# --- cycle settings ------------------------------------------------------------------------------


def test_negative_social_fund_contribution_is_refused(session, factory):
    group = factory.group()
    with refused("cycle.invalid_social_fund"):
        _start(session, factory, group, social_fund_contribution=_kes("-20"))
    assert groups.open_cycle(session, group.id) is None


def test_fine_that_is_not_a_positive_amount_in_the_groups_currency_is_refused(session, factory):
    group = factory.group()
    with refused("cycle.invalid_fine"):
        _start(session, factory, group, fines={"late": _kes("0")})
    with refused("cycle.invalid_fine"):
        _start(session, factory, group, fines={"late": Money.parse("5", "USD")})
    assert groups.open_cycle(session, group.id) is None


def test_schedule_that_ends_before_the_cycle_is_refused(session, factory):
    group = factory.group()
    with refused("cycle.schedule_too_short"):
        _start(session, factory, group, schedule="FREQ=WEEKLY;BYDAY=TH;COUNT=10")
    assert groups.open_cycle(session, group.id) is None


def test_social_fund_payment_is_refused_when_the_cycle_set_no_contribution(session, factory):
    group = factory.ready(social="0")
    factory.meeting(group, on=ago(1))
    before = entries(session, group)
    with refused("social_fund.none_set"):
        savings.pay_social_fund(session, factory.treasurer(group), group, factory.members(group)[1])
    assert entries(session, group) == before


# --- PINs ----------------------------------------------------------------------------------------


def _member_with_pin(factory, pin="1234"):
    member = factory.members(factory.ready())[1]
    pins.set_initial_pin(member, pin)
    return member


def test_pin_that_is_not_four_digits_is_refused(session, factory):
    member = _member_with_pin(factory)
    for bad in ("123", "12345", "12a4", ""):
        with refused("pin.invalid_format"):
            pins.change_pin(member, "1234", bad)
    pins.check_pin(member, "1234")  # unchanged


def test_new_pin_equal_to_the_old_is_refused(session, factory):
    member = _member_with_pin(factory)
    with refused("pin.same"):
        pins.change_pin(member, "1234", "1234")
    assert member.pin_must_change


def test_wrong_pin_is_refused_and_counted(session, factory):
    member = _member_with_pin(factory)
    with refused("pin.wrong"):
        pins.check_pin(member, "9999", attempts=3)
    assert member.pin_failures == 1
    pins.check_pin(member, "1234", attempts=3)
    assert member.pin_failures == 0


# --- corrections ---------------------------------------------------------------------------------


def test_reversal_of_a_purchase_of_a_member_who_left_is_refused(session, factory):
    group = factory.ready()
    factory.meeting(group, on=ago(1))
    t = factory.treasurer(group)
    member = factory.members(group)[3]
    purchase = savings.buy_shares(session, t, group, member, 2)
    shareout.exit_member(session, t, group, member)
    assert session.get(Member, member.id).status != "active"
    before = entries(session, group)
    with refused("reversal.member_left"):
        reversals.reverse_entry(session, factory.admin(group.programme_id), group, purchase,
                                "recorded for the wrong member")
    assert entries(session, group) == before


# --- the ledger ----------------------------------------------------------------------------------


def test_a_posting_of_nothing_is_a_fault_of_the_core(session, factory):
    group = factory.ready()
    before = entries(session, group)
    with refused("ledger.empty_posting", LedgerFault):
        ledger.post(session, group, factory.system, kind="cash_variance", request={"op": "test"},
                    effective_date=ago(0),
                    lines=[Line("loan_fund_cash", _kes("0"), 0), Line("loan_fund_cash", _kes("0"), 0)])
    assert entries(session, group) == before

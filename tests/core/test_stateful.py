"""Random meetings, money, losses and corrections; after every step the books must still hold.

Each step runs in a SAVEPOINT: a domain refusal rolls it back and must have changed nothing, and
it must be one of the refusals that step can legitimately meet (a refusal outside that list is a
bug reading like a user's mistake). A LedgerFault (a broken invariant of the core) is never
caught: it fails the test.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from vision_ledger import cycles, grants, ledger, loans, meetings, reversals, savings, shareout
from vision_ledger.errors import DomainError
from vision_ledger.models import Account, Entry, Loan
from vision_ledger.money import Money

from ..conftest import OneConnectionDatabase
from ..factories import Factory

# A heavy system test: marked slow, still run by scripts/test.sh.
pytestmark = pytest.mark.slow

MEMBERS = 14
member_index = st.integers(0, MEMBERS - 1)
amounts = st.integers(1, 150_000)

# Refusals any meeting business can meet: no meeting open, or the open one belongs to the
# previous cycle (the share-out closed it).
AT_MEETING = frozenset({"meeting.not_open", "meeting.other_cycle"})
MEMBER = frozenset({"member.not_active"})
LOAN = frozenset({"loan.below_minimum", "loan.above_maximum", "loan.above_savings_multiple",
                  "loan.active_loan_exists", "loan.above_cash_on_hand", "loan.term_too_long",
                  "loan.due_after_shareout"})
REVERSAL = frozenset({"reversal.already_reversed", "reversal.cycle_closed",
                      "reversal.loan_has_later_entries", "reversal.member_left",
                      "reversal.not_reversible", "reversal.outside_open_meeting",
                      "reversal.reason_required", "ledger.cash_short"})
SHARE_OUT = frozenset({"shareout.loans_outstanding"})


class Books(RuleBasedStateMachine):
    engine = None  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.conn = self.engine.connect()
        self.outer = self.conn.begin()
        self.session = OneConnectionDatabase(self.conn).session()
        self.f = Factory(self.session)
        self.day = date.today() - timedelta(weeks=45)
        self.group = self.f.ready(members=MEMBERS, start=self.day)
        self.members = self.f.members(self.group)
        self.t = self.f.treasurer(self.group)
        self.admin = self.f.admin(self.group.programme_id)
        self.f.meeting(self.group, on=self.day)
        for m in self.members:  # KES 500 each, so loans are possible from the start
            savings.buy_shares(self.session, self.t, self.group, m, 5)
        self.session.commit()
        self.keyed: list[tuple[str, object, int]] = []  # (key, replay call, id it returned)
        self.n = 0

    def teardown(self) -> None:
        self.session.close()
        self.outer.rollback()
        self.conn.close()

    # --- the harness: one step, all or nothing ------------------------------------------------
    def snapshot(self) -> tuple[int, dict[str, tuple[int, int]]]:
        g = ledger.lock_group(self.session, self.group.id)
        accounts = self.session.execute(select(Account.key, Account.balance, Account.units)
                                        .where(Account.group_id == g.id)).all()
        return g.last_seq, {k: (b, u) for k, b, u in accounts}

    def step(self, call, allowed=frozenset()):
        """Run one operation; a refusal must be in `allowed` and must change nothing."""
        before = self.snapshot()
        nested = self.session.begin_nested()
        try:
            result = call()
        except DomainError as refusal:
            nested.rollback()
            assert refusal.code in allowed, f"unexpected refusal {refusal!r}"
            assert self.snapshot() == before, "a refusal changed the books"
            return None
        nested.commit()
        return result

    def keyed_step(self, name, make, allowed=frozenset()):
        """Run make(key) with a fresh idempotency key; remember it for replays."""
        self.n += 1
        key = f"{name}-{self.n}"
        result = self.step(lambda: make(key), allowed)
        if result is not None:
            self.keyed.append((key, make, result.id))

    def money(self, minor: int) -> Money:
        return Money(minor, self.group.currency)

    # --- meetings -----------------------------------------------------------------------------
    @rule(weeks=st.integers(0, 5), absent=st.sets(member_index, max_size=6))
    def open_meeting(self, weeks, absent):
        """Close the open meeting (if any, with the right count) and open the next one."""
        self.day = min(self.day + timedelta(weeks=weeks), date.today())
        ids = tuple(self.members[i].id for i in absent if self.members[i].status == "active")

        def next_meeting():
            if meetings.current_meeting(self.session, self.group.id) is not None:
                self.f.close(self.group)
            return meetings.open_meeting(self.session, self.t, self.group, absent_member_ids=ids,
                                         meeting_date=self.day)
        self.step(next_meeting, {"meeting.no_quorum"})

    @rule(short=st.integers(0, 500), reason=st.booleans(), weeks=st.integers(0, 3))
    def close_meeting(self, short, reason, weeks):
        """Close with the money counters' count (short of the books, or not), then meet again."""
        def close():
            loan_fund, social = meetings.expected_cash(self.session, self.group)
            counted = Money(max(loan_fund.minor - short, 0), loan_fund.currency)
            return meetings.close_meeting(self.session, self.t, self.group, counted_loan_fund=counted,
                                          counted_social_fund=social,
                                          variance_reason="a note missing" if reason else None)
        if self.step(close, {"meeting.not_open", "meeting.cash_mismatch"}) is not None:
            self.open_meeting(weeks, set())

    @rule(left=st.sampled_from([0, 0, 1, 100, 5_000]), weeks=st.integers(0, 3))
    def box_stolen(self, left, weeks):
        """The box is stolen or robbed between count and bank: the money counters find only
        `left` in the loan-fund bag, and the group records the loss as a cash variance."""
        def close():
            loan_fund, social = meetings.expected_cash(self.session, self.group)
            return meetings.close_meeting(self.session, self.t, self.group,
                                          counted_loan_fund=Money(min(left, loan_fund.minor), "KES"),
                                          counted_social_fund=social, variance_reason="box stolen")
        if self.step(close, {"meeting.not_open"}) is not None:
            self.open_meeting(weeks, set())

    # --- money --------------------------------------------------------------------------------
    @rule(i=member_index, shares=st.integers(0, 6))
    def buy(self, i, shares):
        m = self.members[i]
        self.keyed_step("buy", lambda k: savings.buy_shares(self.session, self.t, self.group, m, shares,
                                                            idempotency_key=k),
                        AT_MEETING | MEMBER | {"shares.below_minimum", "shares.above_maximum"})

    @rule(i=member_index)
    def social(self, i):
        m = self.members[i]
        self.keyed_step("social", lambda k: savings.pay_social_fund(self.session, self.t, self.group, m,
                                                                    idempotency_key=k),
                        AT_MEETING | MEMBER | {"social_fund.already_paid"})

    @rule(i=member_index, fine=st.sampled_from(["late", "absent", "rude"]))
    def fine(self, i, fine):
        m = self.members[i]
        self.step(lambda: savings.charge_fine(self.session, self.t, self.group, m, fine),
                  AT_MEETING | MEMBER | {"fine.unknown"})

    @rule(i=member_index, amount=st.integers(0, 40_000))
    def welfare(self, i, amount):
        m = self.members[i]
        self.step(lambda: savings.pay_welfare(self.session, self.t, self.group, m, self.money(amount),
                                              "illness"),
                  AT_MEETING | MEMBER | {"welfare.invalid_amount", "welfare.above_social_fund"})

    @rule(i=member_index, amount=st.integers(60_000, 200_000), term=st.integers(1, 4))
    def loan(self, i, amount, term):
        m = self.members[i]
        self.keyed_step("loan", lambda k: loans.disburse_loan(
            self.session, self.t, self.group, m, self.money(amount), term_months=term, idempotency_key=k),
            AT_MEETING | MEMBER | LOAN)

    @rule(i=member_index, amount=amounts, whole=st.booleans())
    def repay(self, i, amount, whole):
        m = self.members[i]
        # The amount is fixed when the step is drawn: a replay must repeat the same request (a
        # "whole balance" recomputed after the first payment would be another request).
        loan = loans.active_loan(self.session, m.id)
        owed = (loan.balance if loan is not None and whole else amount) or 1

        def pay(key):
            return loans.repay_loan(self.session, self.t, self.group, m, self.money(owed),
                                    idempotency_key=key)
        self.keyed_step("repay", pay, AT_MEETING | {"loan.none_active", "repayment.above_balance"})

    @rule(i=member_index)
    def write_off(self, i):
        loan = loans.active_loan(self.session, self.members[i].id)
        if loan is not None:
            self.step(lambda: loans.write_off_loan(self.session, self.t, self.group, loan, "group decided"),
                      AT_MEETING)

    @rule(amount=st.integers(1, 200_000))
    def grant(self, amount):
        self.keyed_step("grant", lambda k: grants.record_grant(self.session, self.admin, self.group,
                                                               self.money(amount), idempotency_key=k))

    @rule(i=member_index, decision=st.booleans())
    def exit(self, i, decision):
        from vision_ledger.groups import active_count

        if active_count(self.session, self.group.id) <= 10:
            return  # keep the group able to meet
        m = self.members[i]
        self.step(lambda: shareout.exit_member(self.session, self.t, self.group, m,
                                               group_decision="agreed" if decision else None),
                  AT_MEETING | MEMBER | {"member.exit_in_arrears", "member.exit_debt_exceeds_savings",
                                         "ledger.cash_short"})

    # --- corrections --------------------------------------------------------------------------
    @rule()
    def treasurer_undoes_the_last_entry(self):
        entry = reversals.last_reversible_entry(self.session, self.group)
        if entry is not None:
            self.step(lambda: reversals.reverse_entry(self.session, self.t, self.group, entry, ""),
                      AT_MEETING | REVERSAL)

    @rule(pick=st.integers(0, 10_000), reason=st.sampled_from(["", "wrong member"]))
    def staff_reverse_any_entry(self, pick, reason):
        ids = self.session.scalars(select(Entry.id).where(Entry.group_id == self.group.id)
                                   .order_by(Entry.seq)).all()
        if ids:
            entry = self.session.get(Entry, ids[pick % len(ids)])
            self.step(lambda: reversals.reverse_entry(self.session, self.admin, self.group, entry, reason),
                      AT_MEETING | REVERSAL)

    @rule(pick=st.integers(0, 10_000))
    def replay(self, pick):
        if not self.keyed:
            return
        key, make, first_id = self.keyed[pick % len(self.keyed)]
        seq = self.snapshot()[0]
        again = self.step(lambda: make(key))
        assert again is not None and again.id == first_id
        assert self.snapshot()[0] == seq, "a replay posted something"

    # --- the end of a cycle -------------------------------------------------------------------
    def share_out_and_start(self, price):
        shareout.execute(self.session, self.t, self.group)
        self.f.close(self.group)
        return cycles.start_cycle(self.session, self.f.system, self.group,
                                  share_price=Money.parse(price, "KES"),
                                  social_fund_contribution=Money.parse("20", "KES"),
                                  start_date=self.day, fines={"late": Money.parse("50", "KES")})

    @rule(price=st.sampled_from(["50", "100", "200"]))
    def share_out_and_start_again(self, price):
        self.step(lambda: self.share_out_and_start(price), AT_MEETING | SHARE_OUT)

    @rule(price=st.sampled_from(["50", "100"]))
    def write_off_everything_and_share_out(self, price):
        """The group writes off every loan still owed and shares out whatever is left, however
        little (a cycle of losses): the cycle must close."""
        def whole():
            for loan in self.session.scalars(select(Loan).where(Loan.group_id == self.group.id,
                                                                Loan.status == "active")).all():
                loans.write_off_loan(self.session, self.t, self.group, loan, "the group decided")
            return self.share_out_and_start(price)
        self.step(whole, AT_MEETING)

    # --- after every step ---------------------------------------------------------------------
    @invariant()
    def books_hold(self):
        report = ledger.verify(self.session, self.group)
        assert report.ok, report.problems
        assert ledger.trial_balance(self.session, self.group)["balanced"]
        for bag in ledger.CASH_ACCOUNTS:
            assert ledger.balance(self.session, self.group, bag).minor >= 0
        # every member's receivable account holds exactly what their active loan owes
        owed: dict[int, int] = {}
        for loan in self.session.scalars(select(Loan).where(Loan.group_id == self.group.id,
                                                            Loan.status == "active")):
            assert loan.member_id not in owed, "two active loans"
            owed[loan.member_id] = loan.balance
        receivable = dict(self.session.execute(
            select(Account.member_id, Account.balance).where(Account.group_id == self.group.id,
                                                              Account.code == "loans_receivable")).all())
        assert {k: v for k, v in receivable.items() if v} == {k: v for k, v in owed.items() if v}


def run_books(machine: type[Books], engine, *, examples: int, steps: int) -> None:
    """Run a machine built on `Books` against `engine` (tests/core/test_totals.py and
    test_series.py add their own rules to it)."""
    machine.engine = engine
    try:
        run_state_machine_as_test(machine, settings=settings(
            max_examples=examples, stateful_step_count=steps, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    finally:
        machine.engine = None


def test_books_hold_whatever_the_meetings_do(engine):
    Books.engine = engine
    run_state_machine_as_test(Books, settings=settings(
        max_examples=30, stateful_step_count=40, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))


@pytest.fixture(autouse=True)
def _forget_engine():
    yield
    Books.engine = None

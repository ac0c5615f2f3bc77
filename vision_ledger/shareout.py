"""Share-out at the end of a cycle, and a member's exit in the middle of one."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import ledger
from .actors import Actor, can_read_group, can_record
from .business import Business, local_today
from .cycles import require_open_cycle
from .db import utcnow
from .errors import DomainError
from .groups import get_member, group_policy, open_cycle
from .ledger import Line, credit, debit
from .loans import active_loan, outstanding_loans
from .models import Account, Cycle, Entry, Group, Loan, Member, ShareOut, ShareOutPayout
from .money import Money, minor_digits

# Accounts closed into the share-out (all that belongs to members this cycle). Not the social
# fund (it carries over), nor seed capital when the programme retains it.
_CLOSED_CODES = ("member_shares", "service_charge_income", "fine_income", "loan_write_offs",
                 "cash_variance", "carried_remainder")


@dataclass(frozen=True)
class Payout:
    member_id: int
    name: str
    number: int
    shares: int
    savings: Money
    payout: Money


@dataclass(frozen=True)
class ShareOutPlan:
    loan_fund_cash: Money
    retained_seed: Money
    distributable: Money
    total_shares: int
    value_per_share: Decimal  # major units, exact to 10 decimal places
    payouts: list[Payout]
    remainder: Money
    loans_outstanding: int
    savings: Money  # what members saved this cycle (shares x share price)
    loss: Money  # savings - distributable when losses ate into them, else zero
    seed_loss: Money  # retained seed capital that the losses used up (borne by the programme)


def plan(session: Session, group: Group, cycle: Cycle) -> ShareOutPlan:
    """The share-out as it would be now: distributable = loan-fund cash - retained seed capital;
    value per share = distributable / shares; each payout rounded down; the rest carried over.

    Losses (cash variances, write-offs) come out of the distributable amount, so members bear
    them in proportion to shares, down to a payout of zero. When the loan fund holds less than
    the seed capital to retain, the distributable amount would be negative: members cannot be
    asked to pay in at a share-out and the cycle must close, so the retained seed capital
    absorbs the shortfall (`seed_loss`: the programme's grant lost) and nothing is distributed.
    """
    policy = group_policy(session, group, cycle)
    cash = ledger.balance(session, group, "loan_fund_cash")
    seed = ledger.balance(session, group, "seed_capital")
    zero = Money.zero(group.currency)
    retained = Money(max(0, min(seed.minor, cash.minor)), group.currency) \
        if policy.retain_seed_capital else zero
    seed_loss = Money(max(0, seed.minor - cash.minor), group.currency) \
        if policy.retain_seed_capital else zero
    distributable = cash - retained
    holdings = session.execute(
        select(Member, Account.units, Account.balance)
        .join(Account, Account.member_id == Member.id)
        .where(Account.group_id == group.id, Account.code == "member_shares", Account.units > 0)
        .order_by(Member.number)
    ).all()
    total = sum(int(u) for _, u, _ in holdings)
    payouts = [
        Payout(member_id=m.id, name=m.name, number=m.number, shares=int(u),
               savings=Money(-int(bal), group.currency),
               payout=distributable.ratio_floor(int(u), total))
        for m, u, bal in holdings
    ] if total else []
    paid = sum(p.payout.minor for p in payouts)
    value = (Decimal(distributable.minor) / total).scaleb(-minor_digits(group.currency)) if total \
        else Decimal(0)
    saved = Money(sum(p.savings.minor for p in payouts), group.currency)
    return ShareOutPlan(
        loan_fund_cash=cash, retained_seed=retained, distributable=distributable, total_shares=total,
        value_per_share=value.quantize(Decimal("0.0000000001")) if total else Decimal(0),
        payouts=payouts, remainder=distributable - Money(paid, group.currency),
        loans_outstanding=outstanding_loans(session, group.id),
        savings=saved, loss=Money(max(0, saved.minor - distributable.minor), group.currency),
        seed_loss=seed_loss,
    )


def preview(session: Session, actor: Actor, group: Group) -> ShareOutPlan:
    """What each member would receive if the share-out happened now. Raises cycle.none_open."""
    can_read_group(actor, group)
    return plan(session, group, require_open_cycle(session, group))


def execute(session: Session, actor: Actor, group: Group, *,
            idempotency_key: str | None = None) -> ShareOut:
    """Share out at the open meeting and close the cycle; social fund, retained seed capital and
    the rounding remainder carry into the next cycle. Every member is told their payout.

    Every cycle can close: when losses leave nothing to distribute each member is paid zero (the
    entry still closes their shares and the losses), and when the loan fund holds less than the
    retained seed capital, the seed capital absorbs the shortfall (see `plan`). With no shares
    bought, whatever the cycle earned is carried into the next one.

    A cycle in which nothing at all was saved, earned, lost or carried closes too: its share-out
    record has no entry, since there is nothing to post.

    Raises meeting.not_open, shareout.loans_outstanding.
    """
    b = Business(session, actor, group, idempotency_key, {"op": "share_out"})
    if b.replay:
        found = session.scalars(select(ShareOut).where(ShareOut.entry_id == b.replay.id)).first()
        assert found is not None
        return found
    assert b.cycle is not None and b.meeting is not None
    cycle = session.get(Cycle, b.cycle.id)  # the share-out closes it
    assert cycle is not None
    p = plan(session, b.group, cycle)
    if p.loans_outstanding:
        raise DomainError("shareout.loans_outstanding",
                          "Every loan must be repaid or written off before the share-out",
                          loans=p.loans_outstanding)
    currency = b.group.currency
    lines: list[Line] = []
    accounts = session.scalars(select(Account).where(
        Account.group_id == b.group.id, Account.code.in_(_CLOSED_CODES)).order_by(Account.key)).all()
    for account in accounts:
        if account.balance or account.units:
            lines.append(Line(account.key, Money(-account.balance, currency), -account.units))
    # Seed capital beyond what is retained (all of it when the programme does not retain it, or
    # what losses ate into) is shared out with the rest, or absorbs the losses.
    seed_balance = ledger.balance(session, b.group, "seed_capital")
    if seed_balance > p.retained_seed:
        lines.append(debit("seed_capital", seed_balance - p.retained_seed))
    total_paid = Money(sum(x.payout.minor for x in p.payouts), currency)
    if total_paid.minor:
        lines.append(credit("loan_fund_cash", total_paid))
    if p.remainder.minor:
        lines.append(credit("carried_remainder", p.remainder))
    if not lines:
        return _close_empty_cycle(session, b, cycle, p)
    entry = b.post(
        kind="share_out", lines=lines,
        details={"distributable": p.distributable.minor, "retained_seed": p.retained_seed.minor,
                 "total_shares": p.total_shares, "value_per_share": str(p.value_per_share),
                 "remainder": p.remainder.minor, "savings": p.savings.minor, "loss": p.loss.minor,
                 "seed_loss": p.seed_loss.minor,
                 "payouts": {str(x.member_id): x.payout.minor for x in p.payouts}},
    )
    record = ShareOut(
        group_id=b.group.id, cycle_id=b.cycle.id, meeting_id=b.meeting.id, entry_id=entry.id,
        loan_fund_cash=p.loan_fund_cash.minor, retained_seed=p.retained_seed.minor,
        distributable=p.distributable.minor, total_shares=p.total_shares,
        value_per_share=str(p.value_per_share), remainder=p.remainder.minor,
    )
    session.add(record)
    session.flush()
    for x in p.payouts:
        session.add(ShareOutPayout(group_id=b.group.id, share_out_id=record.id, member_id=x.member_id,
                                   shares=x.shares, savings=x.savings.minor, payout=x.payout.minor))
        ledger.queue_message(session, b.group, x.member_id, "share_out", entry=entry,
                             payload={"shares": x.shares, "payout": x.payout.minor,
                                      "value_per_share": str(p.value_per_share),
                                      "date": entry.effective_date.isoformat()})
    cycle.status = "closed"
    cycle.closed_at = utcnow()
    session.flush()
    return record


def _close_empty_cycle(session: Session, b: Business, cycle: Cycle, p: ShareOutPlan) -> ShareOut:
    """Nothing moved this cycle: record the share-out of nothing and close the cycle."""
    assert b.meeting is not None
    record = ShareOut(
        group_id=b.group.id, cycle_id=cycle.id, meeting_id=b.meeting.id, entry_id=None,
        loan_fund_cash=p.loan_fund_cash.minor, retained_seed=p.retained_seed.minor,
        distributable=p.distributable.minor, total_shares=p.total_shares,
        value_per_share=str(p.value_per_share), remainder=p.remainder.minor,
    )
    session.add(record)
    cycle.status = "closed"
    cycle.closed_at = utcnow()
    session.flush()
    return record


def exit_member(session: Session, actor: Actor, group: Group, member: Member, *,
                group_decision: str | None = None,
                idempotency_key: str | None = None) -> Entry | ledger.Posted | None:
    """A member leaves mid-cycle: takes back shares x share price, less any loan balance owed.

    A member in arrears (a loan past its due date) may leave only by a recorded group decision.
    Raises meeting.not_open, member.not_active, member.exit_in_arrears,
    member.exit_debt_exceeds_savings, ledger.cash_short.
    """
    request = {"op": "exit", "member": member.id, "decision": group_decision}
    if open_cycle(session, group.id) is None:
        _exit_between_cycles(session, actor, group, member)
        return None
    b = Business(session, actor, group, idempotency_key, request)
    if b.replay:
        return b.replay
    get_member(session, actor, b.group, member.id)
    if member.status != "active":
        raise DomainError("member.not_active", f"{member.name} has already left", member_id=member.id)
    assert b.meeting is not None and b.cycle is not None and b.policy is not None
    currency = b.group.currency
    savings = ledger.balance(session, b.group, "member_shares", member.id)
    shares = ledger.units(session, b.group, member.id)
    loan: Loan | None = active_loan(session, member.id)
    owed = Money(loan.balance if loan else 0, currency)
    decision = (group_decision or "").strip()
    # In arrears: past the due date, or rolled over at a meeting because it was not repaid by then
    # (a roll-over moves the due date forward; the arrears remain).
    in_arrears = loan is not None and owed.minor > 0 and (loan.due_on < b.meeting.date or loan.rollovers > 0)
    if loan is not None and in_arrears and not decision:
        raise DomainError("member.exit_in_arrears",
                          f"{member.name} owes {owed} past the due date; settle first or record the "
                          "group's decision", owed=owed, due_on=loan.due_on)
    if owed > savings:
        raise DomainError("member.exit_debt_exceeds_savings",
                          f"{member.name} owes {owed}, more than the {savings} saved; repay first",
                          owed=owed, savings=savings)
    profit = _exit_profit(session, b.group, shares) if b.policy.exit_share_of_profit \
        else Money.zero(currency)
    payout = savings + profit - owed
    if payout.minor < 0:
        raise DomainError("member.exit_debt_exceeds_savings",
                          f"{member.name} owes {owed}, more than the {savings} saved; repay first",
                          owed=owed, savings=savings)
    lines: list[Line] = []
    if savings.minor or shares:
        lines.append(debit("member_shares", savings, member.id, -shares))
    if profit.minor:
        # The member's share of this cycle's net income so far leaves with them.
        lines.append(debit("service_charge_income", profit))
    if owed.minor:
        lines.append(credit("loans_receivable", owed, member.id))
    if payout.minor:
        lines.append(credit("loan_fund_cash", payout))
    if loan is not None and owed.minor:
        to_charge = min(owed.minor, loan.charge_outstanding)
        loan.repaid_charge += to_charge
        loan.repaid_principal += owed.minor - to_charge
        loan.status = "repaid"
        loan.closed_on = b.meeting.date
    member.status = "left"
    member.left_on = b.meeting.date
    if not lines:
        # Nothing saved and nothing owed: the exit is recorded on the member; no money moves.
        ledger.queue_message(session, b.group, member.id, "exit",
                             payload={"amount": 0, "savings": 0, "owed": 0,
                                      "date": b.meeting.date.isoformat()})
        session.flush()
        return None
    return b.post(
        kind="member_exit", member_id=member.id, loan_id=loan.id if loan else None, lines=lines,
        memo=decision or None,
        details={"savings": savings.minor, "shares": shares, "owed": owed.minor,
                 "profit": profit.minor, "payout": payout.minor,
                 "loan_id": loan.id if loan else None},
        receipt={"amount": payout.minor, "savings": savings.minor, "owed": owed.minor},
    )


def _exit_profit(session: Session, group: Group, shares: int) -> Money:
    """A leaving member's share of the cycle's net income so far (when the policy grants one):
    (service charges + fines - write-offs - cash variance) x shares / all shares, rounded down."""
    total = session.scalar(select(func.coalesce(func.sum(Account.units), 0)).where(
        Account.group_id == group.id, Account.code == "member_shares")) or 0
    if not shares or not total:
        return Money.zero(group.currency)
    net = -int(session.scalar(select(func.coalesce(func.sum(Account.balance), 0)).where(
        Account.group_id == group.id,
        Account.code.in_(("service_charge_income", "fine_income", "loan_write_offs", "cash_variance"))
    )) or 0)
    return Money(net, group.currency).ratio_floor(shares, int(total))


def _exit_between_cycles(session: Session, actor: Actor, group: Group, member: Member) -> None:
    """After the share-out (no open cycle) a member leaves with nothing to pay: everything they
    saved was shared out. Raises member.not_active, member.exit_unsettled."""
    can_record(actor, group)
    group = ledger.lock_group(session, group.id)
    get_member(session, actor, group, member.id)
    if member.status != "active":
        raise DomainError("member.not_active", f"{member.name} has already left", member_id=member.id)
    savings = ledger.balance(session, group, "member_shares", member.id)
    if savings.minor or active_loan(session, member.id) is not None:
        raise DomainError("member.exit_unsettled", "Settle the member's savings and loan at a meeting",
                          savings=savings)
    member.status = "left"
    member.left_on = local_today(group)
    ledger.queue_message(session, group, member.id, "exit",
                         payload={"amount": 0, "savings": 0, "owed": 0,
                                  "date": member.left_on.isoformat()})
    session.flush()

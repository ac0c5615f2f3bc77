"""Loans: from the loan fund's cash at a meeting, within the programme's bounds and the member's
savings; a service charge (flat or declining), repayments charge-first, roll-over, write-off.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from dateutil.relativedelta import relativedelta
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from . import ledger, purposes
from .actors import Actor, can_record
from .business import Business, OpenCycle
from .errors import DomainError, NotFound
from .groups import get_member
from .ledger import credit, debit
from .models import Cycle, Entry, Group, Loan, Meeting, Member
from .money import Money
from .policy import Policy


@dataclass(frozen=True)
class LoanQuote:
    """What a loan will cost, shown to the group before it approves."""

    principal: Money
    charge: Money
    total: Money
    due_on: date
    term_months: int
    charge_bp: int
    method: str


def months_after(start: date, months: int) -> date:
    return start + relativedelta(months=months)


def _months_between(start: date, later: date) -> int:
    return (later.year - start.year) * 12 + later.month - start.month


def active_loans(session: Session, member_id: int) -> list[Loan]:
    return list(session.scalars(
        select(Loan).where(Loan.member_id == member_id, Loan.status == "active").order_by(Loan.id)))


def active_loan(session: Session, member_id: int) -> Loan | None:
    loans = active_loans(session, member_id)
    return loans[0] if loans else None


def loan_facts(loan: Loan | None) -> dict[str, object]:
    """A loan as messages state it ("Loan due 19 Dec: KES 1,100"); empty when nothing is owed."""
    return owed_facts(loan.balance, loan.due_on) if loan is not None else {}


def owed_facts(balance: int | None, due_on: date | None) -> dict[str, object]:
    """`loan_facts` of an active loan's balance and due date as read (None: no active loan)."""
    if balance is None or due_on is None or balance <= 0:
        return {}
    return {"loan_balance": balance, "loan_due_on": due_on.isoformat()}


# An active loan's balance (`Loan.balance` of an active loan) and due date, as scalar subqueries
# of the member's first active loan (`active_loan`), for reads that state them beside others.
_loans = Loan.__table__
_first_active = select(_loans.c.id).where(
    _loans.c.member_id == bindparam("member_id"), _loans.c.status == "active",
).order_by(_loans.c.id).limit(1).scalar_subquery()
ACTIVE_LOAN_BALANCE = select(
    _loans.c.charged - _loans.c.repaid_charge + _loans.c.principal - _loans.c.repaid_principal,
).where(_loans.c.id == _first_active).scalar_subquery()
ACTIVE_LOAN_DUE_ON = select(_loans.c.due_on).where(_loans.c.id == _first_active).scalar_subquery()


def get_loan(session: Session, group: Group, loan_id: int) -> Loan:
    loan = session.get(Loan, loan_id)
    if loan is None or loan.group_id != group.id:
        raise NotFound("loan.not_found", "No such loan", loan_id=loan_id)
    return loan


def quote(cycle: Cycle | OpenCycle, policy: Policy, principal: Money, issued_on: date,
          term_months: int | None = None) -> LoanQuote:
    """The charge at issue and the due date: flat charges the whole term now, declining one month."""
    term = cycle.loan_term_months if term_months is None else term_months
    periods = term if cycle.charge_method == "flat" else 1
    charge = principal.basis_points(cycle.service_charge_bp, periods)
    return LoanQuote(principal=principal, charge=charge, total=principal + charge,
                     due_on=months_after(issued_on, term), term_months=term,
                     charge_bp=cycle.service_charge_bp, method=cycle.charge_method)


def check_loan(  # noqa: PLR0917  (doors call it positionally; the signature is public)
        session: Session, group: Group, cycle: Cycle | OpenCycle, policy: Policy, member: Member,
        principal: Money, issued_on: date, term_months: int | None = None) -> LoanQuote:
    """Every rule a new loan must satisfy, without posting. Raises loan.* (see disburse_loan)."""
    if member.status != "active":
        raise DomainError("member.not_active", f"{member.name} has left the group", member_id=member.id)
    if principal.currency != group.currency:
        raise DomainError("money.currency_mismatch", f"The group keeps its books in {group.currency}",
                          expected=group.currency, given=principal.currency)
    minimum, maximum = Money(policy.loan_min, group.currency), Money(policy.loan_max, group.currency)
    if principal < minimum:
        raise DomainError("loan.below_minimum", f"Loan below the group minimum of {minimum}",
                          minimum=minimum, requested=principal)
    if principal > maximum:
        raise DomainError("loan.above_maximum", f"Loan above the group maximum of {maximum}",
                          maximum=maximum, requested=principal)
    term = cycle.loan_term_months if term_months is None else term_months
    if isinstance(term, bool) or not isinstance(term, int) or term < 1:
        raise DomainError("loan.invalid_term", "A loan term is a whole number of months", term=term)
    if term > policy.loan_term_max_months:
        raise DomainError("loan.term_too_long", f"A loan is for at most {policy.loan_term_max_months} "
                          "months", maximum=policy.loan_term_max_months, requested=term)
    if len(active_loans(session, member.id)) >= policy.active_loans_max:
        raise DomainError("loan.active_loan_exists", f"{member.name} must repay the current loan first",
                          maximum=policy.active_loans_max)
    savings = ledger.balance(session, group, "member_shares", member.id)
    cap = savings * policy.savings_multiple
    if principal > cap:
        raise DomainError("loan.above_savings_multiple",
                          f"Loan above {policy.savings_multiple}x savings ({cap})",
                          maximum=cap, savings=savings, multiple=policy.savings_multiple,
                          requested=principal)
    cash = ledger.balance(session, group, "loan_fund_cash")
    if principal > cash:
        raise DomainError("loan.above_cash_on_hand", f"The loan fund holds only {cash}",
                          available=cash, requested=principal)
    q = quote(cycle, policy, principal, issued_on, term)
    if q.due_on > cycle.planned_shareout_date:
        raise DomainError("loan.due_after_shareout", "The loan would fall due after the share-out",
                          due_on=q.due_on, share_out=cycle.planned_shareout_date)
    return q


def disburse_loan(session: Session, actor: Actor, group: Group, member: Member, principal: Money,
                  *, term_months: int | None = None, purpose: str | None = None,
                  idempotency_key: str | None = None) -> Loan:
    """Lend from the loan fund at the open meeting, the service charge added at issue; `purpose`
    is a code of the programme's list (vision_ledger.purposes), named on the member's receipt.

    Raises meeting.not_open, member.not_active, loan.below_minimum, loan.above_maximum,
    loan.above_savings_multiple, loan.active_loan_exists, loan.above_cash_on_hand,
    loan.term_too_long, loan.due_after_shareout, loan.unknown_purpose.
    """
    request = {"op": "loan", "member": member.id, "principal": principal.minor,
               "currency": principal.currency, "term": term_months}
    if purpose is not None:  # absent otherwise: requests made before purposes replay unchanged
        request["purpose"] = purpose
    b = Business(session, actor, group, idempotency_key, request)
    if b.replay:
        loan = session.get(Loan, b.replay.loan_id)
        assert loan is not None
        return loan
    get_member(session, actor, b.group, member.id)
    assert b.cycle is not None and b.meeting is not None and b.policy is not None
    q = check_loan(session, b.group, b.cycle, b.policy, member, principal, b.meeting.date, term_months)
    chosen = None if purpose is None else purposes.check_purpose(session, b.group.programme_id, purpose)
    loan = Loan(
        group_id=b.group.id, cycle_id=b.cycle.id, member_id=member.id, meeting_id=b.meeting.id,
        principal=principal.minor, charge_bp=q.charge_bp, method=q.method, term_months=q.term_months,
        issued_on=b.meeting.date, due_on=q.due_on,
        next_charge_on=q.due_on if q.method == "flat" else months_after(b.meeting.date, 1),
        charged=q.charge.minor, repaid_charge=0, repaid_principal=0, written_off=0, rollovers=0,
        status="active", purpose=purpose,
    )
    session.add(loan)
    session.flush()
    b.post(
        kind="loan", member_id=member.id, loan_id=loan.id,
        lines=[debit("loans_receivable", q.total, member.id), credit("loan_fund_cash", principal),
               credit("service_charge_income", q.charge)] if q.charge else
              [debit("loans_receivable", q.total, member.id), credit("loan_fund_cash", principal)],
        details={"principal": principal.minor, "charge": q.charge.minor, "due_on": q.due_on.isoformat(),
                 "term_months": q.term_months, "charge_bp": q.charge_bp, "method": q.method,
                 **({"purpose": purpose} if purpose is not None else {})},
        receipt={"amount": principal.minor, "charge": q.charge.minor, "owed": q.total.minor,
                 "due_on": q.due_on.isoformat(),
                 **({"purpose": chosen.title(member.language)} if chosen is not None else {})},
    )
    return loan


def repay_loan(session: Session, actor: Actor, group: Group, member: Member, amount: Money, *,
               idempotency_key: str | None = None) -> Entry | ledger.Posted:
    """A repayment at the meeting: service charge first, then principal; never more than owed.

    Raises meeting.not_open, loan.none_active, repayment.invalid_amount, repayment.above_balance.
    """
    request = {"op": "repayment", "member": member.id, "amount": amount.minor,
               "currency": amount.currency}
    b = Business(session, actor, group, idempotency_key, request)
    if b.replay:
        return b.replay
    get_member(session, actor, b.group, member.id)
    loan = active_loan(session, member.id)
    if loan is None:
        raise DomainError("loan.none_active", f"{member.name} has no loan to repay")
    if amount.currency != b.group.currency:
        raise DomainError("money.currency_mismatch", f"The group keeps its books in {b.group.currency}",
                          expected=b.group.currency, given=amount.currency)
    if amount.minor <= 0:
        raise DomainError("repayment.invalid_amount", "A repayment must be more than zero")
    owed = b.money(loan.balance)
    if amount > owed:
        raise DomainError("repayment.above_balance", f"More than the {owed} owed", owed=owed,
                          requested=amount)
    to_charge = min(amount.minor, loan.charge_outstanding)
    to_principal = amount.minor - to_charge
    loan.repaid_charge += to_charge
    loan.repaid_principal += to_principal
    assert b.meeting is not None
    if loan.balance == 0:
        loan.status = "repaid"
        loan.closed_on = b.meeting.date
    return b.post(
        kind="repayment", member_id=member.id, loan_id=loan.id,
        lines=[debit("loan_fund_cash", amount), credit("loans_receivable", amount, member.id)],
        details={"charge": to_charge, "principal": to_principal},
        receipt={"amount": amount.minor, "owed": loan.balance, "due_on": loan.due_on.isoformat()},
    )


def apply_due_charges(session: Session, actor: Actor, group: Group,
                      meeting: Meeting) -> list[ledger.Posted]:
    """Add each period's service charge that has fallen due by the meeting's date.

    A loan still owed at its due date rolls over: one more month's charge (on the original
    principal when flat, on the outstanding balance when declining) and a due date a month later.
    Declining loans of more than a month are also charged monthly on the balance within the term.
    Idempotent per loan and period.
    """
    can_record(actor, group)
    ledger.lock_group(session, group.id)
    entries: list[ledger.Posted] = []
    loans = session.scalars(
        select(Loan).where(Loan.group_id == group.id, Loan.status == "active",
                           Loan.next_charge_on <= meeting.date).order_by(Loan.id)
    ).all()
    for loan in loans:
        while loan.status == "active" and loan.next_charge_on <= meeting.date and loan.balance > 0:
            base = loan.principal if loan.method == "flat" else loan.balance
            charge = Money(base, group.currency).basis_points(loan.charge_bp)
            period = loan.next_charge_on
            rollover = period >= loan.due_on
            previous_due = loan.due_on
            if rollover:
                loan.rollovers += 1
                loan.due_on = months_after(loan.issued_on, loan.term_months + loan.rollovers)
            loan.next_charge_on = months_after(loan.issued_on, _months_between(loan.issued_on, period) + 1)
            if charge.minor == 0:
                continue
            loan.charged += charge.minor
            entries.append(ledger.post(
                session, group, actor, kind="rollover" if rollover else "service_charge",
                lines=[debit("loans_receivable", charge, loan.member_id),
                       credit("service_charge_income", charge)],
                request={"op": "charge", "loan": loan.id, "period": period.isoformat()},
                idempotency_key=f"loan:{loan.id}:charge:{period.isoformat()}",
                effective_date=meeting.date, member_id=loan.member_id, meeting_id=meeting.id,
                cycle_id=meeting.cycle_id, loan_id=loan.id,
                details={"charge": charge.minor, "period": period.isoformat(),
                         "previous_due_on": previous_due.isoformat(),
                         "due_on": loan.due_on.isoformat(), "rollover": rollover},
                receipt={"amount": charge.minor, "owed": loan.balance,
                         "due_on": loan.due_on.isoformat()},
            ))
    return entries


def write_off_loan(session: Session, actor: Actor, group: Group, loan: Loan, reason: str, *,
                   idempotency_key: str | None = None) -> Entry | ledger.Posted:
    """The group decides, at a meeting, that a loan will not be repaid: a loss shared by all.

    Raises meeting.not_open, loan.not_active, write_off.reason_required.
    """
    request = {"op": "write_off", "loan": loan.id, "reason": reason}
    b = Business(session, actor, group, idempotency_key, request)
    if b.replay:
        return b.replay
    if loan.group_id != b.group.id:
        raise NotFound("loan.not_found", "No such loan", loan_id=loan.id)
    if loan.status != "active":
        raise DomainError("loan.not_active", "Only an active loan can be written off", status=loan.status)
    if not (reason or "").strip():
        raise DomainError("write_off.reason_required", "A write-off needs the group's reason")
    assert b.meeting is not None
    amount = b.money(loan.balance)
    loan.written_off = amount.minor
    loan.status = "written_off"
    loan.closed_on = b.meeting.date
    loan.write_off_reason = reason.strip()
    return b.post(
        kind="write_off", member_id=loan.member_id, loan_id=loan.id,
        lines=[debit("loan_write_offs", amount), credit("loans_receivable", amount, loan.member_id)],
        memo=reason.strip(), details={"amount": amount.minor},
        receipt={"amount": amount.minor},
    )


def loan_entries(session: Session, loan: Loan) -> list[Entry]:
    return list(session.scalars(select(Entry).where(Entry.group_id == loan.group_id,
                                                    Entry.loan_id == loan.id).order_by(Entry.seq)))


def outstanding_loans(session: Session, group_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Loan).where(
        Loan.group_id == group_id, Loan.status == "active")) or 0

"""The loan register proved against the ledger.

`Loan` rows (principal, `charged`, `repaid_charge`, `repaid_principal`, `written_off`, `status`)
are a second record of what members owe, changed beside `ledger.post` rather than by it. This
module recomputes, from the postings to the `loans_receivable` accounts of the entries that carry
each loan's id, what the register must say, and reports every difference to a `VerifyReport`:

- per loan: what was lent and charged (loan, service-charge and roll-over entries, less their
  reversals) = principal + charged (nothing for a cancelled loan); what was repaid (repayments and
  exits, less reversals) = repaid_charge + repaid_principal; what was written off = written_off;
  and the status agrees with the balance (repaid and written-off loans owe nothing, an active
  loan has not been written off);
- per member: the member's loans_receivable balance = the sum of their loans' balances.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from .models import Account, Entry, Loan, Posting

if TYPE_CHECKING:  # the ledger's verify calls this module: its report type is only named here
    from .ledger import VerifyReport

_ISSUED = ("loan", "service_charge", "rollover")
_REPAID = ("repayment", "member_exit")
_WRITTEN = ("write_off",)


def check_loans(session: Session, scope: Any, reports: dict[int, VerifyReport]) -> None:
    """Compare the register of every group in `scope` (a SELECT of group ids) with its postings."""
    reversed_entry = aliased(Entry)
    kind = case((Entry.reverses_id.is_not(None), reversed_entry.kind), else_=Entry.kind)
    posted: dict[int, dict[str, int]] = defaultdict(lambda: {"issued": 0, "repaid": 0, "written": 0,
                                                             "other": 0})
    posted_group: dict[int, int] = {}
    rows = session.execute(
        select(Entry.group_id, Entry.loan_id, kind.label("kind"), func.sum(Posting.amount))
        .join(Posting, Posting.entry_id == Entry.id)
        .join(Account, Account.id == Posting.account_id)
        .outerjoin(reversed_entry, reversed_entry.id == Entry.reverses_id)
        .where(Entry.group_id.in_(scope), Entry.loan_id.is_not(None),
               Account.code == "loans_receivable")
        .group_by(Entry.group_id, Entry.loan_id, kind))
    for group_id, loan_id, what, total in rows:
        sums = posted[loan_id]
        posted_group[loan_id] = group_id
        amount = int(total or 0)
        if what in _ISSUED:
            sums["issued"] += amount
        elif what in _REPAID:
            sums["repaid"] -= amount
        elif what in _WRITTEN:
            sums["written"] -= amount
        else:
            sums["other"] += amount
    owed_by_member: dict[tuple[int, int | None], int] = defaultdict(int)
    seen: set[int] = set()
    for loan in session.scalars(select(Loan).where(Loan.group_id.in_(scope)).order_by(Loan.id)):
        seen.add(loan.id)
        owed_by_member[(loan.group_id, loan.member_id)] += loan.balance
        _check_loan(reports[loan.group_id], loan, posted.get(loan.id))
    for loan_id in sorted(set(posted) - seen):
        reports[posted_group[loan_id]].fail(problem="loan_missing", loan_id=loan_id,
                                            expected=posted[loan_id], found=None)
    for group_id, member_id, balance in session.execute(
            select(Account.group_id, Account.member_id, Account.balance)
            .where(Account.group_id.in_(scope), Account.code == "loans_receivable")
            .order_by(Account.group_id, Account.member_id)):
        register = owed_by_member.get((group_id, member_id), 0)
        if register != balance:
            reports[group_id].fail(problem="member_loans_mismatch", member_id=member_id,
                                   expected=balance, found=register)


def _check_loan(report: VerifyReport, loan: Loan, sums: dict[str, int] | None) -> None:
    sums = sums or {"issued": 0, "repaid": 0, "written": 0, "other": 0}
    facts = {"problem": "loan_register_mismatch", "loan_id": loan.id, "member_id": loan.member_id}
    issued = 0 if loan.status == "cancelled" else loan.principal + loan.charged
    repaid = loan.repaid_charge + loan.repaid_principal
    outstanding = loan.principal + loan.charged - repaid - loan.written_off
    checks = [
        ("charged", sums["issued"] - loan.principal if loan.status != "cancelled" else 0,
         loan.charged if loan.status != "cancelled" else 0),
        ("principal + charged", sums["issued"], issued),
        ("repaid", sums["repaid"], repaid),
        ("written_off", sums["written"], loan.written_off),
        ("other postings", sums["other"], 0),
    ]
    for name, expected, found in checks:
        if expected != found:
            report.fail(**facts, field=name, expected=expected, found=found)
            return
    balance_posted = sums["issued"] - sums["repaid"] - sums["written"]
    settled = loan.status in ("repaid", "written_off", "cancelled")
    if (settled and balance_posted != 0) or (loan.status == "active" and loan.written_off) or (
            loan.status != "cancelled" and outstanding != balance_posted):
        report.fail(**facts, field="status", expected=balance_posted, found=loan.status,
                    outstanding=outstanding)

"""verify proves the loan register (Loan rows, changed beside post) against loans_receivable."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from vision_ledger import audit, ledger, loans, reversals
from vision_ledger.actors import Actor
from vision_ledger.models import Group
from vision_ledger.money import Money


def kes(text_):
    return Money.parse(text_, "KES")


@pytest.fixture
def lent(session, factory, meeting_group):
    """Member 1 borrowed KES 1,000 (owes 1,100) and repaid 300; member 2 borrowed and was written off."""
    t = factory.treasurer(meeting_group)
    a, b = factory.members(meeting_group)[:2]
    first = loans.disburse_loan(session, t, meeting_group, a, kes("1000"))
    loans.repay_loan(session, t, meeting_group, a, kes("300"))
    second = loans.disburse_loan(session, t, meeting_group, b, kes("800"))
    loans.write_off_loan(session, t, meeting_group, second, "moved away")
    session.flush()
    return first, second


def tamper(session, connection, sql, loan):
    """Change a Loan row behind the core's back, then verify the group."""
    connection.execute(text(f"UPDATE loans SET {sql} WHERE id = :id"), {"id": loan.id})
    session.expire_all()
    return ledger.verify(session, session.get(Group, loan.group_id))


def test_verify_passes_when_the_register_matches_the_postings(session, meeting_group, lent):
    report = ledger.verify(session, meeting_group)
    assert report.ok, report.problems


def test_verify_names_the_loan_whose_charge_was_changed_behind_the_cores_back(
        session, connection, meeting_group, lent):
    first, _ = lent
    report = tamper(session, connection, "charged = charged + 5000", first)
    assert report.problem == {"problem": "loan_register_mismatch", "loan_id": first.id,
                              "member_id": first.member_id, "field": "charged",
                              "expected": 10000, "found": 15000}
    # the member's total disagrees too
    assert {"problem": "member_loans_mismatch", "member_id": first.member_id,
            "expected": 80000, "found": 85000} in report.problems


def test_verify_names_a_repayment_the_register_forgot(session, connection, meeting_group, lent):
    first, _ = lent
    report = tamper(session, connection, "repaid_principal = 0", first)
    assert report.problem["loan_id"] == first.id and report.problem["field"] == "repaid"
    assert (report.problem["expected"], report.problem["found"]) == (30000, 10000)


def test_verify_names_a_written_off_loan_set_back_to_active(session, connection, meeting_group, lent):
    _, second = lent
    report = tamper(session, connection, "status = 'active', written_off = 0", second)
    assert report.problem == {"problem": "loan_register_mismatch", "loan_id": second.id,
                              "member_id": second.member_id, "field": "written_off",
                              "expected": 88000, "found": 0}


def test_verify_names_a_loan_marked_repaid_while_still_owed(session, connection, meeting_group, lent):
    first, _ = lent
    report = tamper(session, connection, "status = 'repaid'", first)
    assert report.problem["loan_id"] == first.id and report.problem["field"] == "status"
    assert report.problem["found"] == "repaid"


def test_a_reversed_loan_and_reversed_repayments_still_verify(session, factory, meeting_group, lent):
    first, _ = lent
    admin = factory.admin(meeting_group.programme_id)
    for entry in reversed(loans.loan_entries(session, first)):
        reversals.reverse_entry(session, admin, meeting_group, entry, "recorded for the wrong member")
    session.flush()
    assert session.get(type(first), first.id).status == "cancelled"
    report = ledger.verify(session, meeting_group)
    assert report.ok, report.problems


def test_the_auditors_verifier_names_the_same_loan(session, connection, meeting_group, lent):
    first, _ = lent
    tamper(session, connection, "charged = charged + 5000", first)
    many = audit.verify_many(session, Actor.system(), group_ids=[meeting_group.id])
    assert not many.ok
    assert many.first_problem["loan_id"] == first.id and many.first_problem["field"] == "charged"
    assert audit.describe(many.first_problem) == f"loan_register_mismatch on loan {first.id} (charged)"

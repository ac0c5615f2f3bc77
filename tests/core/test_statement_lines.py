"""A member's statement: every entry about her, payouts included, with running totals."""

from __future__ import annotations

from sms.gsm import segments
from sms.texts import render
from vision_ledger import loans, reversals, savings, shareout, statements
from vision_ledger.models import Entry, OutboxMessage
from vision_ledger.money import Money


def kes(text):
    return Money.parse(text, "KES")


def test_statement_shows_the_share_out_payout_with_running_totals(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    member = factory.members(meeting_group)[0]
    savings.pay_social_fund(session, t, meeting_group, member)
    loan = loans.disburse_loan(session, t, meeting_group, member, kes("1000"))
    loans.repay_loan(session, t, meeting_group, member, kes(str(loan.balance // 100)))
    shareout.execute(session, t, meeting_group)
    body = statements.member_statement(session, t, meeting_group, member)
    kinds = [line.entry.kind for line in body["lines"]]
    assert kinds == ["share_purchase", "social_fund", "loan", "repayment", "share_out"]
    purchase, social, lent, repaid, out = body["lines"]
    assert (purchase.shares, purchase.savings, purchase.loan_balance) == (5, kes("500"), kes("0"))
    assert social.social_fund == kes("20") and lent.loan_balance == kes("1100")
    assert repaid.loan_balance == kes("0") and repaid.amount == kes("1100")
    # 75 shares share KES 7,600 (7,500 saved + 100 service charge): this member's 5 get 506.66
    assert out.amount == kes("506.66") and (out.shares, out.savings) == (0, kes("0"))
    assert body["entries"][-1].kind == "share_out"


def test_statement_shows_an_exit_payout(session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    member = factory.members(meeting_group)[0]
    shareout.exit_member(session, t, meeting_group, member)
    [line] = statements.member_statement(session, t, meeting_group, member)["lines"][-1:]
    assert line.entry.kind == "member_exit" and line.amount == kes("500") and line.shares == 0


def test_the_statement_sms_after_a_share_out_tells_her_payout_in_one_segment(
        session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    member = factory.members(meeting_group)[0]
    shareout.execute(session, t, meeting_group)
    factory.close(meeting_group)
    from sqlalchemy import select

    [message] = session.scalars(select(OutboxMessage).where(
        OutboxMessage.kind == "statement", OutboxMessage.member_id == member.id)).all()
    assert message.payload["payout"] == 50000 and message.payload["payout_kind"] == "share_out"
    for language, said in (("en", "share-out KES 500 paid to you."), ("sw", "mgawo umelipwa KES 500.")):
        text = render("statement", message.payload, language)
        assert said in text, text
        assert segments(text) == 1, text


def _from_her_history(session, group, member):
    """The payout as her whole statement tells it (what payout_payload used to compute)."""
    line = statements.last_payout(statements.statement_lines(session, group, member))
    if line is None:
        return {}
    return {"payout": line.amount.minor, "payout_kind": line.entry.kind,
            "payout_date": line.entry.effective_date.isoformat()}


def test_the_statement_payout_reads_her_latest_entry_as_her_whole_statement_would(
        session, factory, meeting_group):
    t = factory.treasurer(meeting_group)
    people = factory.members(meeting_group)
    leaver, borrower, reversed_buyer = people[0], people[1], people[2]
    shareout.exit_member(session, t, meeting_group, leaver)
    loans.disburse_loan(session, t, meeting_group, borrower, kes("1000"))
    # A member whose latest entry is a reversal: no payout.
    paid = savings.pay_social_fund(session, t, meeting_group, reversed_buyer)
    reversals.reverse_entry(session, t, meeting_group, session.get(Entry, paid.id), "typed twice")
    for member in people:
        assert statements.payout_payload(session, meeting_group, member) == \
            _from_her_history(session, meeting_group, member)
    assert statements.payout_payload(session, meeting_group, leaver)["payout_kind"] == "member_exit"
    assert statements.payout_payload(session, meeting_group, borrower) == {}
    loans.repay_loan(session, t, meeting_group, borrower, kes("1100"))
    shareout.execute(session, t, meeting_group)
    paid = [statements.payout_payload(session, meeting_group, m) for m in people[1:]]
    assert paid == [_from_her_history(session, meeting_group, m) for m in people[1:]]
    assert {p["payout_kind"] for p in paid} == {"share_out"} and all(p["payout"] > 0 for p in paid)

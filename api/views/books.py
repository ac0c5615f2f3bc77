"""The group's books: loans, grants, share-out, corrections, accounts, the journal, verification."""

from __future__ import annotations

import io
from typing import Any

from flask import Response, g

from vision_ledger import exports, grants, ledger, loans, reversals, shareout
from vision_ledger.actors import can_read_group, can_read_member

from .. import queries
from ..idempotency import HEADER_DOC, core_key, idempotent
from ..schemas import (
    AccountSchema,
    BalancesSchema,
    EntrySchema,
    GrantIn,
    JournalPage,
    JournalQuery,
    LoanDetail,
    LoanQuery,
    LoanSchema,
    Reversal,
    ShareOutPlanSchema,
    ShareOutSchema,
    TrialBalanceSchema,
    VerifySchema,
)
from ..session import session
from . import ID, blueprint

blp = blueprint("books", "Loans, grants, share-out, reversals, accounts and the journal")

GROUP = f"/groups/<{ID}:group_id>"
KEY = {"parameters": [HEADER_DOC]}


# --- loans ---------------------------------------------------------------------------------------


@blp.route(f"{GROUP}/loans", methods=["GET"])
@blp.arguments(LoanQuery, location="query")
@blp.response(200, LoanSchema(many=True))
def list_loans(query: dict[str, Any], group_id: int) -> Any:
    """The group's loans (a member: their own), filtered by status or member."""
    return queries.loans(session(), g.actor, g.group, **query)


@blp.route(f"{GROUP}/loans/<{ID}:loan_id>", methods=["GET"])
@blp.response(200, LoanDetail)
def get_loan(group_id: int, loan_id: int) -> Any:
    """One loan: issued, due, charges, repayments, and every entry about it."""
    s = session()
    loan = loans.get_loan(s, g.group, loan_id)
    can_read_member(g.actor, g.group, loan.member_id)
    data = {name: getattr(loan, name) for name in LoanSchema().fields}
    data["entries"] = loans.loan_entries(s, loan)
    return data


# --- grants, share-out, reversals ----------------------------------------------------------------


@blp.route(f"{GROUP}/grants", methods=["GET"])
@blp.response(200, JournalPage)
def list_grants(group_id: int) -> Any:
    """Seed-capital grants recorded for the group."""
    return queries.journal(session(), g.actor, g.group, kind="grant", limit=10_000)


@blp.route(f"{GROUP}/grants", methods=["POST"])
@blp.doc(**KEY)
@blp.arguments(GrantIn)
@blp.response(201, EntrySchema)
@idempotent
def record_grant(data: dict[str, Any], group_id: int) -> Any:
    """Record a seed-capital grant into the loan fund (programme admins); every member is told."""
    return grants.record_grant(session(), g.actor, g.group, data["amount"],
                               reference=data.get("reference"), idempotency_key=core_key())


@blp.route(f"{GROUP}/share-out", methods=["GET"])
@blp.response(200, ShareOutPlanSchema)
def preview_share_out(group_id: int) -> Any:
    """What each member would receive if the cycle were shared out now."""
    return shareout.preview(session(), g.actor, g.group)


@blp.route(f"{GROUP}/share-out", methods=["POST"])
@blp.doc(**KEY)
@blp.response(201, ShareOutSchema)
@idempotent
def execute_share_out(group_id: int) -> Any:
    """Share out at the open meeting and close the cycle (the treasurer)."""
    return shareout.execute(session(), g.actor, g.group, idempotency_key=core_key())


@blp.route(f"{GROUP}/reversals", methods=["POST"])
@blp.doc(**KEY)
@blp.arguments(Reversal)
@blp.response(201, EntrySchema)
@idempotent
def reverse_entry(data: dict[str, Any], group_id: int) -> Any:
    """Reverse an entry: the treasurer within the open meeting, programme admins with a reason."""
    s = session()
    entry = reversals.get_entry(s, g.group, data["entry_id"])
    return reversals.reverse_entry(s, g.actor, g.group, entry, data["reason"], idempotency_key=core_key())


# --- accounts and the journal --------------------------------------------------------------------


@blp.route(f"{GROUP}/accounts", methods=["GET"])
@blp.response(200, AccountSchema(many=True))
def list_accounts(group_id: int) -> Any:
    """Every account of the group with its stored balance."""
    can_read_group(g.actor, g.group)
    return ledger.balances(session(), g.group)


@blp.route(f"{GROUP}/balances", methods=["GET"])
@blp.response(200, BalancesSchema)
def balances(group_id: int) -> Any:
    """The group's totals: cash in each bag, loans outstanding, savings, funds, income."""
    return queries.balances(session(), g.actor, g.group)


@blp.route(f"{GROUP}/journal", methods=["GET"])
@blp.arguments(JournalQuery, location="query")
@blp.response(200, JournalPage)
def journal(query: dict[str, Any], group_id: int) -> Any:
    """The journal in sequence order, filtered by dates, kind, member or meeting; paged by `after`."""
    return queries.journal(session(), g.actor, g.group, **query)


CSV_COLUMNS = ("seq", "effective_date", "kind", "member_id", "meeting_id", "loan_id", "reverses_id",
               "account", "amount", "currency", "units", "memo", "actor", "channel", "recorded_at", "hash")


@blp.route(f"{GROUP}/journal.csv", methods=["GET"])
@blp.arguments(JournalQuery, location="query")
@blp.response(200, content_type="text/csv",
              description="One row per posting; the same filters and cursor as the JSON journal")
def journal_csv(query: dict[str, Any], group_id: int) -> Response:
    """The journal as CSV, one row per posting."""
    page = queries.journal(session(), g.actor, g.group, **query)
    out = io.StringIO()
    writer = exports.SafeCsvWriter(out)
    writer.writerow(CSV_COLUMNS)
    dump = EntrySchema().dump
    for entry in page["items"]:
        row = dump(entry)
        for posting in row["postings"]:
            writer.writerow([row["seq"], row["effective_date"], row["kind"], row["member_id"],
                             row["meeting_id"], row["loan_id"], row["reverses_id"],
                             posting["account"], posting["amount"]["amount"],
                             posting["amount"]["currency"], posting["units"], row["memo"] or "",
                             row["actor"], row["channel"], row["recorded_at"], row["hash"]])
    response = Response(out.getvalue(), mimetype="text/csv")
    if page["next_cursor"] is not None:
        response.headers["X-Next-Cursor"] = str(page["next_cursor"])
    return response


@blp.route(f"{GROUP}/trial-balance", methods=["GET"])
@blp.response(200, TrialBalanceSchema)
def trial_balance(group_id: int) -> Any:
    """Totals by account type; debits equal credits."""
    can_read_group(g.actor, g.group)
    return ledger.trial_balance(session(), g.group)


@blp.route(f"{GROUP}/verify", methods=["GET"])
@blp.response(200, VerifySchema)
def verify(group_id: int) -> Any:
    """Recompute the hash chain and every balance from the postings; name the first difference."""
    can_read_group(g.actor, g.group)
    return ledger.verify(session(), g.group)

"""Amount limits in the schema: no amount, balance or running total past MAX_AMOUNT_MINOR (10^13
minor units), as the ledger's `post` and the programme policy's maxima already refuse.

CHECK constraints, named by the metadata convention (ck_<table>_<name>):
- accounts: balance and units within +-10^13;
- postings: amount and units within +-10^13;
- cycles: share price and social-fund contribution at most 10^13;
- loans: principal, charged, repaid and written-off amounts between 0 and 10^13;
- meetings: the opening, counted and closing cash of each bag between 0 and 10^13;
- share_outs, share_out_payouts: every amount within +-10^13.

SQLite cannot add a constraint to a table, so batch mode rebuilds each table (copy, drop, rename).
Dropping a table that other tables reference fails with foreign keys on, and the pragma cannot
change inside a transaction: the rebuild runs with foreign keys off (an autocommit block around
it), checks them with `PRAGMA foreign_key_check`, and turns them back on. SQLite drops a table's
triggers with it, so the ledger's append-only triggers on postings (0002_guards) are made again.

Revision ID: 0005_amount_limits
Revises: 0003_indexes
"""

from __future__ import annotations

from alembic import op

revision = "0005_amount_limits"
down_revision = "0003_indexes"
branch_labels = None
depends_on = None

LIMIT = 10**13  # vision_ledger.money.MAX_AMOUNT_MINOR at the time of writing


def _within(*columns: str) -> str:
    return " AND ".join(f"{c} BETWEEN -{LIMIT} AND {LIMIT}" for c in columns)


def _cash(*columns: str) -> str:
    return " AND ".join(f"{c} BETWEEN 0 AND {LIMIT}" for c in columns)


# table -> [(constraint name as the models give it, condition)]
CHECKS: dict[str, list[tuple[str, str]]] = {
    "accounts": [("balance_within_limit", _within("balance")),
                 ("units_within_limit", _within("units"))],
    "postings": [("amount_within_limit", _within("amount")),
                 ("units_within_limit", _within("units"))],
    "cycles": [("share_price_within_limit", f"share_price <= {LIMIT}"),
               ("social_fund_within_limit", f"social_fund_contribution <= {LIMIT}")],
    "loans": [("amounts_within_limit",
               _cash("principal", "charged", "repaid_charge", "repaid_principal", "written_off"))],
    "meetings": [("cash_within_limit",
                  _cash("opening_loan_fund", "opening_social_fund", "counted_loan_fund",
                        "counted_social_fund", "closing_loan_fund", "closing_social_fund"))],
    "share_outs": [("amounts_within_limit",
                    _within("loan_fund_cash", "retained_seed", "distributable", "total_shares",
                            "remainder"))],
    "share_out_payouts": [("amounts_within_limit", _within("shares", "savings", "payout"))],
}

SQLITE_POSTINGS_TRIGGERS = [
    f"CREATE TRIGGER postings_no_{name.lower()} BEFORE {name} ON postings "
    f"BEGIN SELECT RAISE(ABORT, 'ledger: {name} of postings is refused; post a reversal instead'); END"
    for name in ("UPDATE", "DELETE")
]


def _sqlite_foreign_keys(on: bool) -> None:
    """Set SQLite's foreign-key enforcement, which only changes outside a transaction."""
    with op.get_context().autocommit_block():
        raw = op.get_bind().connection.driver_connection
        if raw.in_transaction:  # this project's engine emits BEGIN itself, in autocommit too
            raw.execute("COMMIT")
        raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def _sqlite_rebuild(add: bool) -> None:
    _sqlite_foreign_keys(False)
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, recreate="always") as batch:
            for name, condition in checks:
                if add:
                    batch.create_check_constraint(op.f(f"ck_{table}_{name}"), condition)
                else:
                    batch.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
    for ddl in SQLITE_POSTINGS_TRIGGERS:
        op.execute(ddl)
    broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"0005_amount_limits: foreign keys broken by the rebuild: {broken[:5]}")
    _sqlite_foreign_keys(True)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(add=True)
        return
    for table, checks in CHECKS.items():
        for name, condition in checks:
            op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, condition)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_rebuild(add=False)
        return
    for table, checks in CHECKS.items():
        for name, _ in checks:
            op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")

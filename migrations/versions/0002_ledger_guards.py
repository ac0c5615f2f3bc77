"""Ledger guards in the database itself: entries and postings are never updated or deleted, and
(PostgreSQL) an unbalanced entry is refused at commit by a deferred constraint trigger.

Revision ID: 0002_guards
Revises: 0001_core
"""

from __future__ import annotations

from alembic import op

revision = "0002_guards"
down_revision = "0001_core"
branch_labels = None
depends_on = None

PG_UP = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger: % of % is refused; post a reversal instead', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER entries_append_only BEFORE UPDATE OR DELETE ON entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER entries_no_truncate BEFORE TRUNCATE ON entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER postings_no_truncate BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();

CREATE FUNCTION ledger_check_entry_balanced(entry BIGINT) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    total NUMERIC;
    n INTEGER;
BEGIN
    SELECT COALESCE(SUM(amount), 0), COUNT(*) INTO total, n FROM postings WHERE entry_id = entry;
    IF total <> 0 OR n < 2 THEN
        RAISE EXCEPTION 'ledger: entry % is unbalanced (sum %, % postings)', entry, total, n
            USING ERRCODE = 'check_violation';
    END IF;
END $$;

CREATE FUNCTION ledger_posting_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_check_entry_balanced(NEW.entry_id);
    RETURN NULL;
END $$;

CREATE FUNCTION ledger_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_check_entry_balanced(NEW.id);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_posting_balanced();
CREATE CONSTRAINT TRIGGER entries_balanced AFTER INSERT ON entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_entry_balanced();
"""

PG_DOWN = """
DROP TRIGGER entries_balanced ON entries;
DROP TRIGGER postings_balanced ON postings;
DROP FUNCTION ledger_entry_balanced();
DROP FUNCTION ledger_posting_balanced();
DROP FUNCTION ledger_check_entry_balanced(BIGINT);
DROP TRIGGER postings_no_truncate ON postings;
DROP TRIGGER entries_no_truncate ON entries;
DROP TRIGGER postings_append_only ON postings;
DROP TRIGGER entries_append_only ON entries;
DROP FUNCTION ledger_refuse_change();
"""

SQLITE_TRIGGERS = [
    (f"{table}_no_{op_name.lower()}",
     f"CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table} "
     f"BEGIN SELECT RAISE(ABORT, 'ledger: {op_name} of {table} is refused; post a reversal instead'); END")
    for table in ("entries", "postings") for op_name in ("UPDATE", "DELETE")
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_UP)
    elif dialect == "sqlite":
        for _, ddl in SQLITE_TRIGGERS:
            op.execute(ddl)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_DOWN)
    elif dialect == "sqlite":
        for name, _ in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")

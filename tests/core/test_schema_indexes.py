"""The migrated schema has exactly the indexes the models declare (revision 0003_indexes and the
models agree), so a test database built by create_all reads with the plans production has."""

from __future__ import annotations

from sqlalchemy import inspect

from api import models as api_models
from vision_ledger import models
from vision_ledger.db import Base

# The core schema's tables (revision 0001_core), api_tokens among them though the API maps it.
CORE_TABLES = sorted({m.__table__.name for module in (models, api_models) for m in vars(module).values()
                      if isinstance(m, type) and issubclass(m, Base) and m is not Base
                      and m.__module__ == module.__name__})


def _declared(table_name: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    table = Base.metadata.tables[table_name]
    return {str(ix.name): (tuple(c.name for c in ix.columns), bool(ix.unique)) for ix in table.indexes}


def _migrated(inspector, table_name: str) -> dict[str, tuple[tuple[str, ...], bool]]:
    found = {}
    for ix in inspector.get_indexes(table_name):
        if ix.get("duplicates_constraint"):  # PostgreSQL: the index behind a unique constraint
            continue
        found[ix["name"]] = (tuple(ix["column_names"]), bool(ix["unique"]))
    return found


def test_migrated_indexes_are_the_models_indexes(engine):
    with engine.connect() as conn:
        inspector = inspect(conn)
        for table_name in CORE_TABLES:
            assert _migrated(inspector, table_name) == _declared(table_name), table_name


def test_read_path_indexes_exist(engine):
    """The indexes the doors' read paths rely on (shares bought at a meeting, social fund paid,
    a loan's entries, a group's entries by date)."""
    with engine.connect() as conn:
        inspector = inspect(conn)
        entries = {ix["name"]: tuple(ix["column_names"]) for ix in inspector.get_indexes("entries")}
        postings = {ix["name"]: tuple(ix["column_names"]) for ix in inspector.get_indexes("postings")}
    assert entries["ix_entries_meeting_member"] == ("meeting_id", "member_id")
    assert entries["ix_entries_member_kind"] == ("member_id", "kind")
    assert entries["ix_entries_loan_id"] == ("loan_id",)
    assert entries["ix_entries_group_date"] == ("group_id", "effective_date")
    assert postings["ix_postings_account_entry"] == ("account_id", "entry_id")

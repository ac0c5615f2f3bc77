"""Indexes for the doors' read paths.

- entries(member_id, kind) replaces entries(member_id): a member's entries of one kind (the
  social fund paid this cycle, in every statement) without reading the member's whole history.
- entries(meeting_id, member_id) replaces entries(meeting_id): a member's entries at a meeting
  (social fund paid?) in one probe; its prefix serves every query by meeting alone.
- entries(loan_id): a loan's entries (loan history, reversals of repayments, measures).
- entries(group_id, effective_date): a group's entries in a date range (statements, exports,
  the period measures).
- postings(account_id, entry_id) replaces postings(account_id): the postings of given entries on
  one account (shares bought at a meeting); its prefix serves every query by account alone.

entries(reverses_id) needs nothing: its unique constraint is an index already.

Revision ID: 0003_indexes
Revises: 0002_guards
"""

from __future__ import annotations

from alembic import op

revision = "0003_indexes"
down_revision = "0002_guards"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_entries_member_kind", "entries", ["member_id", "kind"])
    op.drop_index("ix_entries_member_id", table_name="entries")
    op.create_index("ix_entries_meeting_member", "entries", ["meeting_id", "member_id"])
    op.drop_index("ix_entries_meeting_id", table_name="entries")
    op.create_index("ix_entries_loan_id", "entries", ["loan_id"])
    op.create_index("ix_entries_group_date", "entries", ["group_id", "effective_date"])
    op.create_index("ix_postings_account_entry", "postings", ["account_id", "entry_id"])
    op.drop_index("ix_postings_account_id", table_name="postings")


def downgrade() -> None:
    op.create_index("ix_postings_account_id", "postings", ["account_id"])
    op.drop_index("ix_postings_account_entry", table_name="postings")
    op.drop_index("ix_entries_group_date", table_name="entries")
    op.drop_index("ix_entries_loan_id", table_name="entries")
    op.create_index("ix_entries_meeting_id", "entries", ["meeting_id"])
    op.drop_index("ix_entries_meeting_member", table_name="entries")
    op.create_index("ix_entries_member_id", "entries", ["member_id"])
    op.drop_index("ix_entries_member_kind", table_name="entries")

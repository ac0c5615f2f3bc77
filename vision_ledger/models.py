"""The schema: SQLAlchemy 2 typed mappings. Every group-owned row carries `group_id`.

Alembic (migrations/) is the schema's only author in production.

Why this module is long: it is the core schema, one class a table (about 20), each a list of
columns and named constraints with no behaviour, read side by side with its revision
(migrations/versions/0001_core_core_schema.py) and compared with it by
tests/core/test_schema_indexes.py; the tables refer to each other by foreign key throughout, so a
split by concept would cut those references across modules without making any table easier to
find. The doors map their own tables in their own packages (api/models.py, ussd/models.py,
sms/models.py).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .db import Base, utcnow
from .money import MAX_AMOUNT_MINOR

# BigInteger ids on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


# No amount, balance or running total past the ledger's ceiling (revision 0005_amount_limits).
LIMIT = MAX_AMOUNT_MINOR


def _within(*columns: str) -> str:
    return " AND ".join(f"{c} BETWEEN -{LIMIT} AND {LIMIT}" for c in columns)


def _cash(*columns: str) -> str:
    return " AND ".join(f"{c} BETWEEN 0 AND {LIMIT}" for c in columns)


def _id() -> Mapped[int]:
    return mapped_column(BigId, primary_key=True, autoincrement=True)


class Programme(Base):
    __tablename__ = "programmes"

    id: Mapped[int] = _id()
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    currency: Mapped[str] = mapped_column(String(3))
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")  # its groups' default
    languages: Mapped[list[str]] = mapped_column(JSON)  # a group's language is one of these
    # Units of the currency per US dollar, a decimal string ("130", "0.92"), stated at creation:
    # the policy's money defaults (in USD) were converted at it, and the installation's amount
    # bounds are relative to it.
    usd_rate: Mapped[str] = mapped_column(String(40), server_default="1")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set once by `programmes.close_programme`: its tokens stop working, its groups take no entries.
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    groups: Mapped[list[Group]] = relationship(back_populates="programme")


class Currency(Base):
    """The installation's one choice of minor digits for a currency, fixed by its first programme.

    Every process formats and parses amounts with these digits (vision_ledger.currencies), so a
    rial is never read with 0 digits by one worker and 2 by another.
    """

    __tablename__ = "currencies"

    code: Mapped[str] = mapped_column(String(3), primary_key=True)
    minor_digits: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        CheckConstraint("minor_digits BETWEEN 0 AND 4", name="minor_digits_possible"),
    )


class Group(Base):
    __tablename__ = "groups"

    id: Mapped[int] = _id()
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str | None] = mapped_column(String(100))
    district: Mapped[str | None] = mapped_column(String(100))
    village: Mapped[str | None] = mapped_column(String(100))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    # The CLDR locale amounts are read and written in (sq_XK: "12,50"); messages follow each
    # member's language. Defaults from language and country (vision_ledger.amounts.default_locale).
    locale: Mapped[str] = mapped_column(String(32))
    schedule: Mapped[str] = mapped_column(String(200))  # an RFC 5545 RRULE, e.g. FREQ=WEEKLY;BYDAY=TH
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # refinements of the programme's
    # The head of the group's journal: the ledger's `post` is the only writer of these two.
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default="0" * 64)
    lock_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Set once by `groups.close_group`: its tokens stop working, it takes no meetings or entries.
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    programme: Mapped[Programme] = relationship(back_populates="groups")

    __table_args__ = (CheckConstraint("last_seq >= 0", name="last_seq_not_negative"),)


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # short member number within the group (1, 2, ...)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    gender: Mapped[str | None] = mapped_column(String(16))  # female | male | other
    birth_year: Mapped[int | None] = mapped_column(Integer)
    disability: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(8))
    role: Mapped[str] = mapped_column(String(20), default="member")
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | left
    joined_on: Mapped[date] = mapped_column(Date)
    left_on: Mapped[date | None] = mapped_column(Date)
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    pin_must_change: Mapped[bool] = mapped_column(Boolean, default=True)
    pin_failures: Mapped[int] = mapped_column(Integer, default=0)
    pin_locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        UniqueConstraint("group_id", "number"),
        CheckConstraint("status IN ('active', 'left')", name="status_known"),
        CheckConstraint(
            "role IN ('chair', 'treasurer', 'secretary', 'money_counter', 'key_holder', "
            "'box_keeper', 'member')",
            name="role_known",
        ),
    )


class Cycle(Base):
    __tablename__ = "cycles"

    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | closed
    start_date: Mapped[date] = mapped_column(Date)
    planned_shareout_date: Mapped[date] = mapped_column(Date)
    weeks: Mapped[int] = mapped_column(Integer)
    schedule: Mapped[str] = mapped_column(String(200))
    share_price: Mapped[int] = mapped_column(BigInteger)  # minor units
    social_fund_contribution: Mapped[int] = mapped_column(BigInteger)
    fines: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # name -> minor units
    service_charge_bp: Mapped[int] = mapped_column(Integer)  # basis points per month (1000 = 10%)
    charge_method: Mapped[str] = mapped_column(String(10))  # flat | declining
    loan_term_months: Mapped[int] = mapped_column(Integer)
    policy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # refinements of the group's
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("group_id", "number"),
        CheckConstraint("share_price > 0", name="share_price_positive"),
        CheckConstraint("social_fund_contribution >= 0", name="social_fund_not_negative"),
        CheckConstraint(f"share_price <= {LIMIT}", name="share_price_within_limit"),
        CheckConstraint(f"social_fund_contribution <= {LIMIT}", name="social_fund_within_limit"),
        CheckConstraint("charge_method IN ('flat', 'declining')", name="charge_method_known"),
        # At most one open cycle per group (partial unique index; both databases support it).
        CheckConstraint("status IN ('open', 'closed')", name="status_known"),
        # At most one open cycle per group: a partial unique index, on both databases.
        Index(
            "uq_cycles_one_open_per_group",
            "group_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )


class Meeting(Base):
    __tablename__ = "meetings"

    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)  # within the cycle
    date: Mapped[date] = mapped_column(Date)  # in the group's time zone
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | closed
    present_count: Mapped[int] = mapped_column(Integer)
    active_count: Mapped[int] = mapped_column(Integer)
    opening_loan_fund: Mapped[int] = mapped_column(BigInteger)
    opening_social_fund: Mapped[int] = mapped_column(BigInteger)
    counted_loan_fund: Mapped[int | None] = mapped_column(BigInteger)
    counted_social_fund: Mapped[int | None] = mapped_column(BigInteger)
    closing_loan_fund: Mapped[int | None] = mapped_column(BigInteger)
    closing_social_fund: Mapped[int | None] = mapped_column(BigInteger)
    variance_reason: Mapped[str | None] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(100))
    closed_by: Mapped[str | None] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("cycle_id", "number"),
        CheckConstraint("status IN ('open', 'closed')", name="status_known"),
        CheckConstraint(_cash("opening_loan_fund", "opening_social_fund", "counted_loan_fund",
                              "counted_social_fund", "closing_loan_fund", "closing_social_fund"),
                        name="cash_within_limit"),
        Index(
            "uq_meetings_one_open_per_group",
            "group_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )


class Attendance(Base):
    __tablename__ = "attendance"

    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    present: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (UniqueConstraint("meeting_id", "member_id"),)


class Account(Base):
    """A ledger account of one group; `key` is the code, with `:member_id` for member sub-accounts."""

    __tablename__ = "accounts"

    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    key: Mapped[str] = mapped_column(String(60))
    code: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(10))  # asset | equity | income | expense
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # Stored balance: debit positive, credit negative, updated in the same transaction as postings.
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    # Share count on member share accounts (the units the share-out divides by).
    units: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        UniqueConstraint("group_id", "key"),
        CheckConstraint("type IN ('asset', 'equity', 'income', 'expense')", name="type_known"),
        CheckConstraint(  # ledger.CASH_ACCOUNTS (the ledger imports this module, so written out)
            "code NOT IN ('loan_fund_cash', 'social_fund_cash') OR balance >= 0",
            name="cash_not_negative",
        ),
        CheckConstraint(_within("balance"), name="balance_within_limit"),
        CheckConstraint(_within("units"), name="units_within_limit"),
    )


class Entry(Base):
    """A journal entry: never updated, never deleted. Corrections are reversal entries."""

    __tablename__ = "entries"

    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    seq: Mapped[int] = mapped_column(BigInteger)  # gapless per group, from 1
    kind: Mapped[str] = mapped_column(String(30))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))  # ix_entries_member_kind
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"))  # ix_entries_meeting_member
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("cycles.id"))
    loan_id: Mapped[int | None] = mapped_column(BigId, index=True)
    effective_date: Mapped[date] = mapped_column(Date)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))  # "treasurer:member:12", "admin:token:3"
    channel: Mapped[str] = mapped_column(String(10))  # api | ussd | sms | cli | system
    idempotency_key: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the request that made it
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id"), unique=True)
    memo: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # The exact bytes `hash` is the SHA-256 of (after prev_hash): `ledger.entry_body` of the
    # columns and postings, written by post() (revision 0015_ledger back-filled older rows).
    # PostgreSQL's verification hashes these and compares their JSON with the columns in SQL.
    canonical: Mapped[bytes | None] = mapped_column(LargeBinary)

    postings: Mapped[list[Posting]] = relationship(
        back_populates="entry", order_by="Posting.id", lazy="selectin"
    )

    __table_args__ = (
        UniqueConstraint("group_id", "seq"),
        UniqueConstraint("group_id", "idempotency_key"),
        CheckConstraint("seq > 0", name="seq_positive"),
        Index("ix_entries_group_kind", "group_id", "kind"),
        # Read paths (revision 0003_indexes): a member's entries of one kind and a meeting's
        # entries of one member (each also serves its first column alone); a group's entries by
        # date (statements, exports, period measures).
        Index("ix_entries_member_kind", "member_id", "kind"),
        Index("ix_entries_meeting_member", "meeting_id", "member_id"),
        Index("ix_entries_group_date", "group_id", "effective_date"),
    )


class Posting(Base):
    __tablename__ = "postings"

    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("entries.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))  # ix_postings_account_entry
    amount: Mapped[int] = mapped_column(BigInteger)  # minor units, debit positive
    units: Mapped[int] = mapped_column(BigInteger, default=0)

    entry: Mapped[Entry] = relationship(back_populates="postings")

    __table_args__ = (
        CheckConstraint("amount <> 0 OR units <> 0", name="not_empty"),
        CheckConstraint(_within("amount"), name="amount_within_limit"),
        CheckConstraint(_within("units"), name="units_within_limit"),
        # An account's postings of given entries (also serves account_id alone).
        Index("ix_postings_account_entry", "account_id", "entry_id"),
    )


class Loan(Base):
    __tablename__ = "loans"

    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    principal: Mapped[int] = mapped_column(BigInteger)
    charge_bp: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(10))
    term_months: Mapped[int] = mapped_column(Integer)
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    next_charge_on: Mapped[date] = mapped_column(Date)
    charged: Mapped[int] = mapped_column(BigInteger, default=0)  # service charge added so far
    repaid_charge: Mapped[int] = mapped_column(BigInteger, default=0)
    repaid_principal: Mapped[int] = mapped_column(BigInteger, default=0)
    written_off: Mapped[int] = mapped_column(BigInteger, default=0)
    rollovers: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), default="active")
    closed_on: Mapped[date | None] = mapped_column(Date)
    write_off_reason: Mapped[str | None] = mapped_column(Text)
    # A code of the programme's loan purposes (vision_ledger.purposes); None on loans recorded
    # before purposes were kept (revision 0013_results) and where a door did not ask.
    purpose: Mapped[str | None] = mapped_column(String(40))

    __table_args__ = (
        CheckConstraint("principal > 0", name="principal_positive"),
        CheckConstraint(
            "status IN ('active', 'repaid', 'written_off', 'cancelled')", name="status_known"
        ),
        CheckConstraint("repaid_charge <= charged", name="charge_not_overpaid"),
        CheckConstraint("repaid_principal <= principal", name="principal_not_overpaid"),
        CheckConstraint(_cash("principal", "charged", "repaid_charge", "repaid_principal",
                              "written_off"), name="amounts_within_limit"),
    )

    @property
    def charge_outstanding(self) -> int:
        return self.charged - self.repaid_charge

    @property
    def principal_outstanding(self) -> int:
        return self.principal - self.repaid_principal

    @property
    def balance(self) -> int:
        if self.status in ("written_off", "cancelled"):
            return 0
        return self.charge_outstanding + self.principal_outstanding


class ShareOut(Base):
    __tablename__ = "share_outs"

    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), index=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id"), unique=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    # None for a cycle in which nothing was saved, earned, lost or carried: nothing to post.
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id"))
    loan_fund_cash: Mapped[int] = mapped_column(BigInteger)
    retained_seed: Mapped[int] = mapped_column(BigInteger)
    distributable: Mapped[int] = mapped_column(BigInteger)
    total_shares: Mapped[int] = mapped_column(BigInteger)
    value_per_share: Mapped[str] = mapped_column(String(40))  # exact decimal, in major units
    remainder: Mapped[int] = mapped_column(BigInteger)
    executed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        CheckConstraint(_within("loan_fund_cash", "retained_seed", "distributable", "total_shares",
                                "remainder"), name="amounts_within_limit"),
    )


class ShareOutPayout(Base):
    __tablename__ = "share_out_payouts"

    id: Mapped[int] = _id()
    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"))
    share_out_id: Mapped[int] = mapped_column(ForeignKey("share_outs.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    shares: Mapped[int] = mapped_column(BigInteger)
    savings: Mapped[int] = mapped_column(BigInteger)
    payout: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        CheckConstraint(_within("shares", "savings", "payout"), name="amounts_within_limit"),
    )


class OutboxMessage(Base):
    """A message a member must receive, written in the same transaction as the change it reports."""

    __tablename__ = "outbox"

    id: Mapped[int] = _id()
    group_id: Mapped[int | None] = mapped_column(ForeignKey("groups.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    entry_id: Mapped[int | None] = mapped_column(ForeignKey("entries.id"))
    phone: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(30))  # receipt | statement | grant | share_out | reply...
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    text: Mapped[str | None] = mapped_column(Text)  # as rendered when sent
    at_message_id: Mapped[str | None] = mapped_column(String(100), index=True)
    cost: Mapped[str | None] = mapped_column(String(40))
    status_code: Mapped[int | None] = mapped_column(Integer)
    failure_reason: Mapped[str | None] = mapped_column(Text)
    delivery_status: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'uncertain', 'held', 'failed', 'delivered')",
            name="status_known",
        ),
    )


class RateLimit(Base):
    """A fixed-window counter of one rate limit key ("auth:ip:10.0.0.1"), shared by every worker
    through the database (vision_ledger/ratelimits.py)."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    hits: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("hits >= 0", name="hits_not_negative"),)


class VerificationRun(Base):
    """One verification of a programme's books (scheduled, from the command line or the API) and
    what it found: kept so auditors see when the books were last recomputed and whether they held.

    Created by revision `0010_ops`. `failures` lists each failing group with its first difference.
    """

    __tablename__ = "verification_runs"

    id: Mapped[int] = _id()
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"))
    scope: Mapped[str] = mapped_column(String(12))  # all | programme | group
    trigger: Mapped[str] = mapped_column(String(12))  # schedule | command | api
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    groups_checked: Mapped[int] = mapped_column(Integer)
    entries_checked: Mapped[int] = mapped_column(BigInteger)
    failed_groups: Mapped[int] = mapped_column(Integer)
    failures: Mapped[list[dict[str, Any]]] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_verification_runs_programme_started", "programme_id", "started_at"),
        CheckConstraint("scope IN ('all', 'programme', 'group')", name="scope_known"),
        CheckConstraint("trigger IN ('schedule', 'command', 'api')", name="trigger_known"),
    )


# Programme results (loan purposes, indicators, targets): their own module, known to the ORM here.
from .results_models import Indicator, IndicatorTarget, LoanPurpose, ResultsChange  # noqa: E402, F401

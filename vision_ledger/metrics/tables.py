"""Per-period totals: what the measures read instead of every posting, kept beside the ledger.

Rows are per group and per day (an entry's effective date, a meeting's date): a group that meets
weekly has one row a week, and any period the measures are asked for (a cycle, a date range, the
52 weeks to today) is a whole number of days, so it is summed exactly from these rows. Amounts are
raw posting sums (debit positive), as the postings hold them; the `*_share_out` columns hold the
part posted by share-out entries, which the measures leave out of a period's flows and out of
balances read on the day of the share-out.

`TotalsMark` is each group's high-water mark: the journal seq and the meeting id folded so far.
`MemberSpanTotal` holds the same member sums per calendar month, per calendar year and over the
member's whole folded history (her *position*): a closing balance is the position less what lies
after the period's end, and a flow over a period is what lies after the day before it starts less
what lies after its end, each "after" read from at most a month's day rows, a year's month rows and
the later year rows (`metrics.spans`), so a member costs a few rows whatever her history.

Nothing here is written by `ledger.post`: `metrics.fold.refresh` folds what lies past the mark,
and the measures add what no refresh has folded yet at read time (see `metrics.fold`).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")


def _sum() -> Mapped[int]:
    return mapped_column(BigInteger, default=0, server_default="0")


class TotalsMark(Base):
    """How far a group's journal and meetings are folded into its totals."""

    __tablename__ = "totals_marks"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True, autoincrement=False)
    seq: Mapped[int] = _sum()  # every entry with seq <= this is in the totals
    meeting_id: Mapped[int] = _sum()  # every meeting with id <= this (and its attendance) too
    # Where the last refresh started: it folded (from_seq, seq] and (from_meeting_id, meeting_id].
    from_seq: Mapped[int] = _sum()
    from_meeting_id: Mapped[int] = _sum()
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=utcnow)


class GroupDayTotal(Base):
    """A group's cash, income, grants and meetings on one day."""

    __tablename__ = "group_day_totals"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    loan_fund_cash: Mapped[int] = _sum()
    loan_fund_cash_share_out: Mapped[int] = _sum()
    social_fund_cash: Mapped[int] = _sum()
    social_fund_cash_share_out: Mapped[int] = _sum()
    service_charges: Mapped[int] = _sum()  # service_charge_income postings, share-outs left out
    fines: Mapped[int] = _sum()  # fine_income, share-outs left out
    cash_variance: Mapped[int] = _sum()  # cash_variance, share-outs left out
    grants: Mapped[int] = _sum()  # seed_capital, share-outs left out
    grant_entries: Mapped[int] = _sum()  # entries of kind "grant" (the first grant's date)
    meetings: Mapped[int] = _sum()  # meetings held that day


class MemberDayTotal(Base):
    """A member's savings, loan balance and attendance on one day."""

    __tablename__ = "member_day_totals"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True, autoincrement=False)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    shares: Mapped[int] = _sum()  # member_shares postings (credit negative)
    shares_share_out: Mapped[int] = _sum()
    receivable: Mapped[int] = _sum()  # loans_receivable postings
    receivable_share_out: Mapped[int] = _sum()
    present: Mapped[int] = _sum()  # attendance rows marked present
    attendance_rows: Mapped[int] = _sum()  # attendance rows (one per active member per meeting)

    # The day rows of a group within a date range, for the spans' edges (the key leads by member).
    __table_args__ = (Index("ix_member_day_totals_group_day", "group_id", "day"),)


class MemberSpanTotal(Base):
    """A member's day rows summed over a calendar month (`span` "month", `start` its first day),
    a calendar year ("year", January 1st) or everything folded ("all", `start` 0001-01-01: her
    position as of the mark). Rebuilt from the day rows by the refresh that changes them."""

    __tablename__ = "member_span_totals"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True, autoincrement=False)
    span: Mapped[str] = mapped_column(String(5), primary_key=True)
    start: Mapped[date] = mapped_column(Date, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True, autoincrement=False)
    shares: Mapped[int] = _sum()
    receivable: Mapped[int] = _sum()
    present: Mapped[int] = _sum()
    attendance_rows: Mapped[int] = _sum()


class LoanDayTotal(Base):
    """A loan's receivable postings on one day, by what moved them (reversals count as the
    kind they reverse, negatively)."""

    __tablename__ = "loan_day_totals"

    group_id: Mapped[int] = mapped_column(ForeignKey("groups.id"), primary_key=True, autoincrement=False)
    loan_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    outstanding: Mapped[int] = _sum()  # every receivable posting of the loan
    owed: Mapped[int] = _sum()  # loan, service_charge, rollover
    repaid: Mapped[int] = _sum()  # repayment, member_exit (credit negative)
    written_off: Mapped[int] = _sum()  # write_off (credit negative)


TOTALS = (GroupDayTotal, MemberDayTotal, LoanDayTotal, MemberSpanTotal)

__all__ = ["TOTALS", "GroupDayTotal", "LoanDayTotal", "MemberDayTotal", "MemberSpanTotal", "TotalsMark"]

"""Folding the journal into per-period totals, from each group's high-water mark.

The totals are rebuilt incrementally, never written by `ledger.post`: posting stays as lean as
it is, and a fault here can never refuse or slow a member's money. What the totals miss (entries
past a group's mark, meetings past its meeting mark) is the *tail*, selected by the same SQL in
three places:

- `refresh` folds the tail into the rows and moves the mark, in one transaction (the worker's
  periodic job and `vision-ledger totals refresh`);
- the measures read stored rows plus the tail of the groups they read (`tail=True` below), so they
  are exact whether or not a refresh ran, and cost little more when one ran recently;
- `totals.verify_totals` recomputes the rows up to the mark from scratch and compares.

Entries of a group are serialised by its lock and committed in seq order, so once a refresh has
read a group's `last_seq`, every entry up to it is committed: folding (mark, last_seq] misses
nothing and, as the mark then moves to last_seq, counts nothing twice. Meetings likewise by id
(a group's meetings are opened one at a time under its lock; their attendance rows are written
with them and never changed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, case, func, literal, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, Select
from sqlalchemy.sql.elements import BindParameter

from ..db import Base, utcnow
from ..models import Account, Attendance, Entry, Group, Meeting, Posting
from . import spans
from .among import among
from .tables import GroupDayTotal, LoanDayTotal, MemberDayTotal, TotalsMark

GROUP_SUMS = ("loan_fund_cash", "loan_fund_cash_share_out", "social_fund_cash", "social_fund_cash_share_out",
              "service_charges", "fines", "cash_variance", "grants", "grant_entries", "meetings")
MEMBER_SUMS = ("shares", "shares_share_out", "receivable", "receivable_share_out", "present",
               "attendance_rows")
LOAN_SUMS = ("outstanding", "owed", "repaid", "written_off")
KEYS: dict[type[Base], tuple[str, ...]] = {
    GroupDayTotal: ("group_id", "day"), MemberDayTotal: ("group_id", "member_id", "day"),
    LoanDayTotal: ("group_id", "loan_id", "day")}
SUMS: dict[type[Base], tuple[str, ...]] = {
    GroupDayTotal: GROUP_SUMS, MemberDayTotal: MEMBER_SUMS, LoanDayTotal: LOAN_SUMS}

OWED = ("loan", "service_charge", "rollover")
REPAID = ("repayment", "member_exit")


def effective_kind() -> ColumnElement[str]:
    """The kind an entry counts as: a reversal counts (negatively) as the kind it reverses."""
    return case((Entry.kind == "reversal", Entry.details["reversed_kind"].as_string()), else_=Entry.kind)


class Range:
    """Which entries and meetings of the groups `ids` a fold reads.

    - "tail": past the mark (no mark: everything), what the stored rows do not hold yet;
    - "refresh": what the running refresh folds, (from_seq, seq] of the mark it just moved;
    - "folded": everything up to the mark, what the stored rows should hold.
    """

    def __init__(self, ids: Sequence[int] | BindParameter[Any], mode: str) -> None:
        if mode not in ("tail", "refresh", "folded"):
            raise ValueError(f"unknown fold range {mode!r}")
        self.ids = ids if isinstance(ids, BindParameter) else list(ids)
        self.mode = mode

    def _bounds(self, column: Any, low: Any, high: Any, group_id: Any) -> ColumnElement[bool]:
        mark = select(TotalsMark).where(TotalsMark.group_id == group_id)
        if self.mode == "tail":
            tail: ColumnElement[bool] = column > func.coalesce(
                mark.with_only_columns(high).scalar_subquery(), 0)
            return tail
        upper: ColumnElement[bool] = column <= mark.with_only_columns(high).scalar_subquery()
        if self.mode == "folded":
            return upper
        return and_(column > mark.with_only_columns(low).scalar_subquery(), upper)

    def entries(self) -> ColumnElement[bool]:
        return and_(Entry.group_id.in_(self.ids),
                    self._bounds(Entry.seq, TotalsMark.from_seq, TotalsMark.seq, Entry.group_id))

    def meetings(self) -> ColumnElement[bool]:
        return and_(Meeting.group_id.in_(self.ids),
                    self._bounds(Meeting.id, TotalsMark.from_meeting_id, TotalsMark.meeting_id,
                                 Meeting.group_id))


def _postings(where: ColumnElement[bool], *codes: str) -> Select[Any]:
    return (select().select_from(Posting)
            .join(Entry, Entry.id == Posting.entry_id)
            .join(Account, Account.id == Posting.account_id)
            .where(where, Account.code.in_(codes)))


def _amount(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, Posting.amount), else_=0)


def _zeros(names: Sequence[str], **given: Any) -> list[Any]:
    return [given[n].label(n) if n in given else literal(0).label(n) for n in names]


def group_rows(r: Range) -> Select[Any]:
    """The groups' day rows of the range: (group_id, day, *GROUP_SUMS), summed."""
    so = Entry.kind == "share_out"
    code = Account.code
    postings = _postings(and_(r.entries(), Account.member_id.is_(None)), "loan_fund_cash",
                         "social_fund_cash", "service_charge_income", "fine_income", "cash_variance",
                         "seed_capital").with_only_columns(
        Entry.group_id.label("group_id"), Entry.effective_date.label("day"), *_zeros(
            GROUP_SUMS,
            loan_fund_cash=_amount(code == "loan_fund_cash"),
            loan_fund_cash_share_out=_amount(and_(code == "loan_fund_cash", so)),
            social_fund_cash=_amount(code == "social_fund_cash"),
            social_fund_cash_share_out=_amount(and_(code == "social_fund_cash", so)),
            service_charges=_amount(and_(code == "service_charge_income", ~so)),
            fines=_amount(and_(code == "fine_income", ~so)),
            cash_variance=_amount(and_(code == "cash_variance", ~so)),
            grants=_amount(and_(code == "seed_capital", ~so))))
    grants = select(Entry.group_id.label("group_id"), Entry.effective_date.label("day"),
                    *_zeros(GROUP_SUMS, grant_entries=literal(1))).where(r.entries(), Entry.kind == "grant")
    meetings = select(Meeting.group_id.label("group_id"), Meeting.date.label("day"),
                      *_zeros(GROUP_SUMS, meetings=literal(1))).where(r.meetings())
    return _summed(union_all(postings, grants, meetings).subquery(), ("group_id", "day"), GROUP_SUMS)


def member_rows(r: Range) -> Select[Any]:
    """The members' day rows of the range: (group_id, member_id, day, *MEMBER_SUMS), summed."""
    so = Entry.kind == "share_out"
    code = Account.code
    postings = _postings(and_(r.entries(), Account.member_id.is_not(None)), "member_shares",
                         "loans_receivable").with_only_columns(
        Entry.group_id.label("group_id"), Account.member_id.label("member_id"),
        Entry.effective_date.label("day"), *_zeros(
            MEMBER_SUMS,
            shares=_amount(code == "member_shares"),
            shares_share_out=_amount(and_(code == "member_shares", so)),
            receivable=_amount(code == "loans_receivable"),
            receivable_share_out=_amount(and_(code == "loans_receivable", so))))
    attendance = (select(Attendance.group_id.label("group_id"), Attendance.member_id.label("member_id"),
                         Meeting.date.label("day"), *_zeros(
                             MEMBER_SUMS, present=case((Attendance.present, 1), else_=0),
                             attendance_rows=literal(1)))
                  .join(Meeting, Meeting.id == Attendance.meeting_id).where(r.meetings()))
    return _summed(union_all(postings, attendance).subquery(), ("group_id", "member_id", "day"),
                   MEMBER_SUMS)


def loan_rows(r: Range) -> Select[Any]:
    """The loans' day rows of the range: (group_id, loan_id, day, *LOAN_SUMS), summed."""
    kind = effective_kind()
    postings = _postings(and_(r.entries(), Entry.loan_id.is_not(None)), "loans_receivable").with_only_columns(
        Entry.group_id.label("group_id"), Entry.loan_id.label("loan_id"), Entry.effective_date.label("day"),
        Posting.amount.label("outstanding"), _amount(kind.in_(OWED)).label("owed"),
        _amount(kind.in_(REPAID)).label("repaid"), _amount(kind == "write_off").label("written_off"))
    return _summed(postings.subquery(), ("group_id", "loan_id", "day"), LOAN_SUMS)


def _summed(rows: Any, keys: Sequence[str], sums: Sequence[str]) -> Select[Any]:
    return (select(*(rows.c[k] for k in keys), *(func.sum(rows.c[s]).label(s) for s in sums))
            .group_by(*(rows.c[k] for k in keys)))


FOLDS: dict[type[Base], Callable[[Range], Select[Any]]] = {
    GroupDayTotal: group_rows, MemberDayTotal: member_rows, LoanDayTotal: loan_rows}


def stored_and_tail(table: type[Base], *, tail: bool) -> Any:
    """The rows of the groups `:ids` as the measures read them: the stored rows, and with `tail`
    the tail of the groups `:stale` (entries or meetings past their mark), as one subquery."""
    columns = [getattr(table, c) for c in (*KEYS[table], *SUMS[table])]
    stored = select(*columns).where(among(table.group_id))  # type: ignore[attr-defined]
    if not tail:
        return stored.subquery()
    return union_all(stored, FOLDS[table](Range(bindparam("stale", expanding=True), "tail"))).subquery()


@cache
def _stale_statement() -> Select[Any]:
    last_meeting = (select(Meeting.group_id, func.max(Meeting.id).label("id"))
                    .where(among(Meeting.group_id)).group_by(Meeting.group_id).subquery())
    return (select(Group.id)
            .outerjoin(TotalsMark, TotalsMark.group_id == Group.id)
            .outerjoin(last_meeting, last_meeting.c.group_id == Group.id)
            .where(among(Group.id),
                   (Group.last_seq > func.coalesce(TotalsMark.seq, 0))
                   | (func.coalesce(last_meeting.c.id, 0) > func.coalesce(TotalsMark.meeting_id, 0)))
            .order_by(Group.id))


def stale_groups(session: Session, ids: Sequence[int]) -> list[int]:
    """The groups among `ids` whose journal or meetings go past their mark."""
    if not ids:
        return []
    return list(session.scalars(_stale_statement(), {"ids": list(ids)}))


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def refresh(session: Session, group_ids: Sequence[int] | None = None) -> int:
    """Fold every entry and meeting past the marks of these groups (default: every group) into
    their totals (day rows, then the members' span rows of the months changed) and move the
    marks, in the session's transaction; returns the groups refreshed.

    Safe under concurrent refreshes: each locks the marks it moves (SELECT ... FOR UPDATE on
    PostgreSQL, in group order; on SQLite the caller's write transaction holds the database's
    write lock, so call it in `Database.unit_of_work()`), and reads where the journal stands only
    after taking the lock. Idempotent: a second refresh with nothing new changes nothing.
    """
    ids = list(group_ids) if group_ids is not None else list(session.scalars(select(Group.id)))
    stale = stale_groups(session, ids)
    if not stale:
        return 0
    insert = _insert(session)
    session.execute(insert(TotalsMark).values([{"group_id": g, "seq": 0, "meeting_id": 0} for g in stale])
                    .on_conflict_do_nothing(index_elements=["group_id"]))
    list(session.scalars(select(TotalsMark.group_id).where(TotalsMark.group_id.in_(stale))
                         .order_by(TotalsMark.group_id).with_for_update()))
    # Read only now, under the lock: a refresh that folded meanwhile has committed its mark.
    last_meeting = (select(func.max(Meeting.id)).where(Meeting.group_id == TotalsMark.group_id)
                    .scalar_subquery())
    last_seq = select(Group.last_seq).where(Group.id == TotalsMark.group_id).scalar_subquery()
    greatest = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    session.execute(
        TotalsMark.__table__.update().where(TotalsMark.group_id.in_(stale)).values(
            from_seq=TotalsMark.seq, from_meeting_id=TotalsMark.meeting_id,
            seq=greatest(TotalsMark.seq, last_seq),
            meeting_id=greatest(TotalsMark.meeting_id, func.coalesce(last_meeting, 0)),
            refreshed_at=utcnow()))
    for table, fold in FOLDS.items():
        keys, sums = KEYS[table], SUMS[table]
        stmt = insert(table).from_select([*keys, *sums], fold(Range(stale, "refresh")))
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={s: getattr(table, s) + getattr(stmt.excluded, s) for s in sums})
        session.execute(stmt)
    folded = Range(stale, "refresh")
    spans.rebuild(session, spans.changed_since(session, folded.entries(), folded.meetings()))
    return len(stale)


__all__ = ["FOLDS", "KEYS", "SUMS", "Range", "effective_kind", "refresh", "stale_groups", "stored_and_tail"]

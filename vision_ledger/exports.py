"""Exports for auditors: the journal (entries with their postings) and member statements, as CSV
or JSON, streamed.

Each export is a generator of text chunks. Rows come from the database through a server-side
cursor (`yield_per`), one group at a time in sequence order, and leave as soon as a chunk is full,
so a programme of a thousand groups and millions of entries is written in constant memory.
Permissions are checked when the export is asked for, before the first chunk, so a refusal is an
ordinary error rather than a broken download.

Money in JSON is {"amount": "12.50", "currency": "KES"}; in CSV an `amount` column in major units
beside a `currency` column.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from . import ledger, metrics
from .actors import Actor
from .errors import DomainError
from .models import Account, Entry, Group, Member, Posting
from .money import minor_digits

CHUNK = 64 * 1024  # characters per chunk handed to the door
BATCH = 500  # rows per round trip of the server-side cursor
FORMATS = ("csv", "json")

JOURNAL_COLUMNS = (
    "group_id", "group_name", "seq", "entry_id", "effective_date", "recorded_at", "kind", "member_id",
    "member_number", "meeting_id", "cycle_id", "loan_id", "reverses_id", "actor", "channel", "memo",
    "account", "amount", "currency", "units", "prev_hash", "hash",
)
STATEMENT_COLUMNS = (
    "group_id", "member_id", "member_number", "member_name", "seq", "effective_date", "kind", "memo",
    "reverses_id", "cash", "shares", "savings_change", "savings_balance", "loan_change", "loan_balance",
    "currency",
)


def _check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise DomainError("export.unknown_format", "Exports are csv or json", format=fmt,
                          allowed=list(FORMATS))
    return fmt


def _scope_groups(session: Session, actor: Actor, programme_id: int | None,
                  group_ids: list[int] | None) -> list[tuple[int, str, str]]:
    if programme_id is not None:
        metrics.staff_programme(session, actor, programme_id)
        stmt = select(Group.id, Group.name, Group.currency).where(Group.programme_id == programme_id)
    else:
        for gid in group_ids or ():
            metrics.staff_group(session, actor, gid)
        stmt = select(Group.id, Group.name, Group.currency).where(Group.id.in_(group_ids or []))
    return [(r.id, r.name, r.currency) for r in session.execute(stmt.order_by(Group.id))]


@cache
def _digits(currency: str) -> int:
    return minor_digits(currency)


def _decimal(minor: int, currency: str) -> str:
    """Money(minor, currency).decimal_string(), without a Decimal per posting (exports are hot)."""
    digits = _digits(currency)
    if not digits:
        return str(int(minor))
    sign = "-" if minor < 0 else ""
    whole, part = divmod(abs(int(minor)), 10**digits)
    return f"{sign}{whole}.{part:0{digits}d}"


def _money(minor: int, currency: str) -> dict[str, str]:
    return {"amount": _decimal(minor, currency), "currency": currency}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


# A cell a spreadsheet would run as a formula starts with one of these (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A plain number ("-12.50", "+3") is no formula and must stay a number for the spreadsheet.
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")


def neutralise(cell: Any) -> Any:
    """A CSV cell a spreadsheet shows as text, never runs: text starting with = + - @ tab or CR
    gets a leading apostrophe; plain numbers (amounts such as -12.50) are written unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


class SafeCsvWriter:
    """csv.writer whose every cell passes through `neutralise` (used by every CSV export)."""

    def __init__(self, out: Any, **kwargs: Any) -> None:
        self._writer = csv.writer(out, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([neutralise(cell) for cell in row])


class _Buffer:
    """Text accumulated until a chunk is full."""

    def __init__(self) -> None:
        self.io = io.StringIO()
        self.csv = SafeCsvWriter(self.io, lineterminator="\n")

    def full(self) -> bool:
        return self.io.tell() >= CHUNK

    def take(self) -> str:
        text = self.io.getvalue()
        self.io.seek(0)
        self.io.truncate()
        return text


# --- the journal -----------------------------------------------------------------------------------


def journal(session: Session, actor: Actor, *, programme_id: int | None = None,
            group_ids: list[int] | None = None, fmt: str = "csv", start: date | None = None,
            end: date | None = None) -> Iterator[str]:
    """The journal of a programme or of some groups: every entry with its postings, in group and
    sequence order. CSV has one line per posting (the entry's columns repeated).

    Raises programme.not_found, group.not_found, permission.staff_only, export.unknown_format.
    """
    _check_format(fmt)
    groups = _scope_groups(session, actor, programme_id, group_ids)
    return _journal_chunks(session, groups, fmt, start, end)


def _journal_rows(session: Session, group_id: int, start: date | None, end: date | None) -> Iterable[Any]:
    stmt = (
        select(Entry.id, Entry.seq, Entry.effective_date, Entry.recorded_at, Entry.kind, Entry.member_id,
               Member.number.label("member_number"), Entry.meeting_id, Entry.cycle_id, Entry.loan_id,
               Entry.reverses_id, Entry.actor, Entry.channel, Entry.memo, Entry.prev_hash, Entry.hash,
               Account.key, Posting.amount, Posting.units)
        .join(Posting, Posting.entry_id == Entry.id)
        .join(Account, Account.id == Posting.account_id)
        .outerjoin(Member, Member.id == Entry.member_id)
        .where(Entry.group_id == group_id)
        .order_by(Entry.seq, Posting.id)
    )
    if start is not None:
        stmt = stmt.where(Entry.effective_date >= start)
    if end is not None:
        stmt = stmt.where(Entry.effective_date <= end)
    return session.execute(stmt.execution_options(yield_per=BATCH))


def _journal_chunks(session: Session, groups: list[tuple[int, str, str]], fmt: str,
                    start: date | None, end: date | None) -> Iterator[str]:
    buf = _Buffer()
    if fmt == "csv":
        buf.csv.writerow(JOURNAL_COLUMNS)
    else:
        buf.io.write('{"entries": [')
    first = True
    for gid, name, currency in groups:
        current: Any = None
        postings: list[dict[str, Any]] = []
        for row in _journal_rows(session, gid, start, end):
            if fmt == "csv":
                buf.csv.writerow((
                    gid, name, row.seq, row.id, _iso(row.effective_date), _iso(row.recorded_at), row.kind,
                    row.member_id, row.member_number, row.meeting_id, row.cycle_id, row.loan_id,
                    row.reverses_id, row.actor, row.channel, row.memo, row.key,
                    _decimal(row.amount, currency), currency, row.units, row.prev_hash, row.hash))
            else:
                if current is not None and row.id != current.id:
                    buf.io.write(("" if first else ",") + _entry_json(gid, currency, current, postings))
                    first, postings = False, []
                current = row
                postings.append({"account": row.key, "amount": _money(row.amount, currency),
                                 "units": row.units})
            if buf.full():
                yield buf.take()
        if current is not None:
            buf.io.write(("" if first else ",") + _entry_json(gid, currency, current, postings))
            first = False
    if fmt == "json":
        buf.io.write("]}")
    yield buf.take()


def _entry_json(group_id: int, currency: str, row: Any, postings: list[dict[str, Any]]) -> str:
    return json.dumps({
        "group_id": group_id, "seq": row.seq, "entry_id": row.id, "effective_date": _iso(row.effective_date),
        "recorded_at": _iso(row.recorded_at), "kind": row.kind, "member_id": row.member_id,
        "member_number": row.member_number, "meeting_id": row.meeting_id, "cycle_id": row.cycle_id,
        "loan_id": row.loan_id, "reverses_id": row.reverses_id, "actor": row.actor,
        "channel": row.channel, "memo": row.memo, "currency": currency, "postings": postings,
        "prev_hash": row.prev_hash, "hash": row.hash,
    }, ensure_ascii=False)


# --- member statements -----------------------------------------------------------------------------


def statements(session: Session, actor: Actor, group_id: int, *, fmt: str = "csv") -> Iterator[str]:
    """Every member's statement: each entry about them (and the share-out) with what it did to
    their cash, shares, savings and loan, and the running balances.

    `cash` is money the member handed over (positive) or received (negative) at the meeting.
    Raises group.not_found, permission.staff_only, export.unknown_format.
    """
    _check_format(fmt)
    group = metrics.staff_group(session, actor, group_id)
    members = {m.id: m for m in session.execute(
        select(Member.id, Member.number, Member.name).where(Member.group_id == group.id))}
    return _statement_chunks(session, group.id, group.currency, members, fmt)


def _statement_rows(session: Session, group_id: int) -> Iterable[Any]:
    owner = func.coalesce(Account.member_id, Entry.member_id)
    stmt = (
        select(owner.label("owner"), Entry.id, Entry.seq, Entry.effective_date, Entry.kind, Entry.memo,
               Entry.reverses_id, Entry.member_id, Entry.details, Account.code, Posting.amount,
               Posting.units)
        .join(Posting, Posting.entry_id == Entry.id)
        .join(Account, Account.id == Posting.account_id)
        .where(Entry.group_id == group_id,
               or_(Entry.member_id.is_not(None), Account.member_id.is_not(None)))
        .order_by(owner, Entry.seq, Posting.id)
    )
    return session.execute(stmt.execution_options(yield_per=BATCH))


def _statement_chunks(session: Session, group_id: int, currency: str, members: dict[int, Any],
                      fmt: str) -> Iterator[str]:
    buf = _Buffer()
    if fmt == "csv":
        buf.csv.writerow(STATEMENT_COLUMNS)
    else:
        buf.io.write(json.dumps({"group_id": group_id, "currency": currency})[:-1] + ', "members": [')
    owner: int | None = None
    savings = loan = 0
    lines_written = 0
    line: dict[str, Any] | None = None

    def emit(done: dict[str, Any]) -> None:
        nonlocal savings, loan, lines_written
        savings += done["savings_change"]
        loan += done["loan_change"]
        m = members.get(done["owner"])
        if fmt == "csv":
            buf.csv.writerow((
                group_id, done["owner"], m.number if m else None, m.name if m else None, done["seq"],
                _iso(done["date"]), done["kind"], done["memo"], done["reverses_id"],
                _decimal(done["cash"], currency), done["shares"], _decimal(done["savings_change"], currency),
                _decimal(savings, currency), _decimal(done["loan_change"], currency),
                _decimal(loan, currency), currency))
            return
        buf.io.write(("," if lines_written else "") + json.dumps({
            "seq": done["seq"], "effective_date": _iso(done["date"]), "kind": done["kind"],
            "memo": done["memo"], "reverses_id": done["reverses_id"], "cash": _money(done["cash"], currency),
            "shares": done["shares"], "savings_change": _money(done["savings_change"], currency),
            "savings_balance": _money(savings, currency),
            "loan_change": _money(done["loan_change"], currency), "loan_balance": _money(loan, currency),
        }, ensure_ascii=False))
        lines_written += 1

    def close_member() -> None:
        if fmt == "json" and owner is not None:
            buf.io.write('], "closing": ' + json.dumps({"savings": _money(savings, currency),
                                                        "loan": _money(loan, currency)}) + "}")

    members_written = 0
    for row in _statement_rows(session, group_id):
        if line is not None and (row.owner != line["owner"] or row.id != line["id"]):
            emit(line)
            line = None
        if row.owner != owner:
            close_member()
            if fmt == "json":
                m = members.get(row.owner)
                buf.io.write(("," if members_written else "") + json.dumps({
                    "member_id": row.owner, "member_number": m.number if m else None,
                    "name": m.name if m else None})[:-1] + ', "lines": [')
                members_written += 1
            owner, savings, loan, lines_written = row.owner, 0, 0, 0
        if line is None:
            line = {"owner": row.owner, "id": row.id, "seq": row.seq, "date": row.effective_date,
                    "kind": row.kind, "memo": row.memo, "reverses_id": row.reverses_id, "cash": 0,
                    "shares": 0, "savings_change": 0, "loan_change": 0}
            if row.kind == "share_out" and row.member_id is None:
                payouts = (row.details or {}).get("payouts", {})
                line["cash"] = -int(payouts.get(str(row.owner), 0))
        if row.code == "member_shares":
            line["savings_change"] -= row.amount
            line["shares"] += row.units
        elif row.code == "loans_receivable":
            line["loan_change"] += row.amount
        elif row.code in ledger.CASH_ACCOUNTS and row.member_id == row.owner:
            line["cash"] += row.amount
        if buf.full():
            yield buf.take()
    if line is not None:
        emit(line)
    close_member()
    if fmt == "json":
        buf.io.write("]}")
    yield buf.take()


__all__ = ["JOURNAL_COLUMNS", "STATEMENT_COLUMNS", "journal", "statements"]

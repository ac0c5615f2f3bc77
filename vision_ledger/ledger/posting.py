"""`post`: the only code that writes entries. One balanced entry to a locked group's journal, its
postings, the stored balances, the journal's head and the member's receipt, in the caller's
transaction; what it returns is an immutable record of what was written (`Posted`).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from .. import closure, faults, telemetry
from ..actors import Actor
from ..db import utcnow
from ..errors import DomainError, LedgerFault
from ..limits import within_ledger_limit
from ..models import Account, Entry, Group
from ..money import MAX_AMOUNT_MINOR, Money
from .chart import CASH_ACCOUNTS, Line, open_account
from .driver import ENTRY_COLUMNS, Pending, converted, cursor_of, driver_for
from .idempotency import find_replay, fingerprint_of, key_reused
from .journal import sealed
from .locking import locked_closed
from .postgresql import post_postgresql
from .sqlite import post_sqlite


@dataclass(frozen=True, slots=True)
class PostedLine:
    """A posting as written: its id, the account's id, the signed amount and share units."""

    id: int
    group_id: int
    entry_id: int
    account_id: int
    amount: int
    units: int


@dataclass(frozen=True, slots=True)
class Posted:
    """An entry as post() wrote it (or as an earlier identical request wrote it): the Entry's
    columns and its postings in line order, read by the doors' schemas like an Entry. Not an ORM
    object: `session.get(Entry, posted.id)` loads one when a caller needs relationships."""

    id: int
    group_id: int
    seq: int
    kind: str
    member_id: int | None
    meeting_id: int | None
    cycle_id: int | None
    loan_id: int | None
    effective_date: date
    recorded_at: datetime
    actor: str
    channel: str
    idempotency_key: str
    fingerprint: str
    reverses_id: int | None
    memo: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str
    canonical: bytes | None  # what `hash` hashes after prev_hash (None: an entry older than 0015)
    postings: tuple[PostedLine, ...]

    @classmethod
    def of(cls, entry: Entry) -> Posted:
        """The record of an entry already in the journal."""
        values = {k: getattr(entry, k) for k in ENTRY_COLUMNS}
        lines = tuple(PostedLine(p.id, p.group_id, p.entry_id, p.account_id, p.amount, p.units)
                      for p in sorted(entry.postings, key=lambda p: p.id))
        return cls(id=entry.id, postings=lines, **values)


def post(
    session: Session,
    group: Group,
    actor: Actor,
    *,
    kind: str,
    lines: Sequence[Line],
    request: dict[str, Any],
    effective_date: date,
    idempotency_key: str | None = None,
    member_id: int | None = None,
    meeting_id: int | None = None,
    cycle_id: int | None = None,
    loan_id: int | None = None,
    reverses_id: int | None = None,
    memo: str | None = None,
    details: dict[str, Any] | None = None,
    receipt: dict[str, Any] | None = None,
) -> Posted:
    """Write one balanced entry to the group's journal and update stored balances.

    The group must have been locked with `lock_group` in this transaction. Checks that the entry
    balances, that every amount is in the group's currency and that no cash account goes below
    zero; assigns the next sequence number and hash; queues the member's receipt (when `receipt`
    is given and the entry is about a member). Raises group.closed, ledger.cash_short, ledger.amount_limit (a
    posting, balance or share count past MAX_AMOUNT_MINOR), idempotency.key_reused; an entry that
    breaks the ledger's own invariants (unbalanced, empty posting, fewer than two postings, another
    currency) is a bug of its caller: LedgerFault, logged and counted.
    """
    closed = locked_closed(session, group.id)
    if closed is None:
        telemetry.invariant_fault("ledger.post_without_lock")
        raise RuntimeError("post() needs lock_group() first in this transaction")
    session.flush()  # whatever the operation changed before posting goes first
    gid = group.id
    if closed or group.closed_at is not None:
        # A request repeated after the close is still answered with what it did before.
        replay = find_replay(session, gid, idempotency_key, request)
        if replay is not None:
            return Posted.of(replay)
        closure.ensure_open(session, group)
    try:
        _check_lines(group, lines)
    except LedgerFault as fault:
        # A repeated request is answered with what it did the first time, whatever its lines.
        replay = find_replay(session, gid, idempotency_key, request)
        if replay is not None:
            return Posted.of(replay)
        raise faults.record(fault, group_id=gid, kind=kind, member_id=member_id,
                            meeting_id=meeting_id, loan_id=loan_id, reverses_id=reverses_id,
                            lines=[[line.key, line.amount.minor, line.amount.currency, line.units]
                                   for line in lines]) from None
    keys = sorted({line.key for line in lines})  # a fixed order of account rows
    deltas = {k: (sum(line.amount.minor for line in lines if line.key == k),
                  sum(line.units for line in lines if line.key == k)) for k in keys}
    seq = group.last_seq + 1
    values: dict[str, Any] = dict(
        group_id=gid, seq=seq, kind=kind, member_id=member_id, meeting_id=meeting_id,
        cycle_id=cycle_id, loan_id=loan_id, effective_date=effective_date, recorded_at=utcnow(),
        actor=actor.label, channel=actor.channel,
        idempotency_key=idempotency_key or f"auto:{uuid.uuid4().hex}",
        fingerprint=fingerprint_of(request), reverses_id=reverses_id, memo=memo,
        details=details or {}, prev_hash=group.last_hash,
    )
    values["canonical"], values["hash"] = sealed(
        SimpleNamespace(**values), [(line.key, line.amount.minor, line.units) for line in lines])
    conn = session.connection()
    driver = driver_for(conn)
    receipt_payload = None
    if receipt is not None and member_id is not None:
        receipt_payload = {"seq": seq, "kind": kind, "date": effective_date.isoformat(), **receipt}
    pending = Pending(group, lines, keys, deltas, values,
                      converted([values[k] for k in ENTRY_COLUMNS], driver.entry_bind), receipt_payload)
    post_sql = post_postgresql if driver.pg else post_sqlite
    cursor = cursor_of(conn)
    try:
        while True:
            done, rows = post_sql(conn, driver, cursor, pending)
            state: dict[str, tuple[int, str, int, int]] = {}  # key -> (id, code, balance, units)
            for tag, rid, key, code, amount, units, fingerprint in rows:
                if tag == "a":
                    state[key] = (rid, code, amount, units)
                elif tag == "r":
                    if fingerprint != values["fingerprint"]:
                        raise key_reused(idempotency_key, amount)
                    replay = session.get(Entry, rid)
                    assert replay is not None
                    return Posted.of(replay)
            missing = [k for k in keys if k not in state]
            if not missing:
                break
            for k in missing:
                open_account(session, group, k)
            # post again, with the accounts
    finally:
        cursor.close()
    _refuse(group, state, deltas)
    assert done is not None
    entry_id, posting_ids = done

    # The SQL moved the journal's head: the group's copy says so as committed state (no UPDATE of
    # its own at the next flush). Held accounts' balances are expired: they load again if read.
    set_committed_value(group, "last_seq", seq)
    set_committed_value(group, "last_hash", values["hash"])
    for account_id, _, _, _ in state.values():
        # An identity key is (class, primary key, token); Session.identity_key() works it out
        # through the mapper, a tenth of post()'s own Python for two accounts.
        held = session.identity_map.get((Account, (account_id,), None))
        if held is not None:
            session.expire(held, ["balance", "units"])
    telemetry.entry_posted(session, kind)
    return Posted(id=entry_id, postings=tuple(
        PostedLine(pid, gid, entry_id, state[line.key][0], line.amount.minor, line.units)
        for pid, line in zip(posting_ids, lines, strict=True)), **values)


def _refuse(group: Group, state: dict[str, tuple[int, str, int, int]],
            deltas: dict[str, tuple[int, int]]) -> None:
    """Raise the refusal the SQL found (it wrote nothing): cash short, or past the ledger's limit."""
    for k in sorted(state):
        _, code, old, _ = state[k]
        if code in CASH_ACCOUNTS and old + deltas[k][0] < 0:
            raise DomainError(
                "ledger.cash_short",
                f"Not enough cash in the {code.replace('_cash', '').replace('_', ' ')} bag",
                account=code, available=Money(old, group.currency),
                needed=Money(-deltas[k][0], group.currency),
            )
    for k in sorted(state):
        _, _, old, old_units = state[k]
        if not (within_ledger_limit(old + deltas[k][0])
                and within_ledger_limit(old_units + deltas[k][1])):
            raise _beyond_limit(group, k, balance=old, change=deltas[k][0], units=old_units,
                                units_change=deltas[k][1])


def _check_lines(group: Group, lines: Sequence[Line]) -> None:
    """The entry's own invariants. The core builds every entry, so a failure here is a bug in the
    core (LedgerFault), never a refusal of what a user asked."""
    if len(lines) < 2:
        raise LedgerFault("ledger.too_few_postings", "An entry needs two or more postings",
                          found=len(lines))
    for line in lines:
        if line.amount.currency != group.currency:
            raise LedgerFault(
                "ledger.currency_mismatch",
                f"The group keeps its books in {group.currency}",
                expected=group.currency, given=line.amount.currency,
            )
        if line.amount.minor == 0 and line.units == 0:
            raise LedgerFault("ledger.empty_posting", "A posting of nothing", account=line.key)
        if not (within_ledger_limit(line.amount.minor) and within_ledger_limit(line.units)):
            raise _beyond_limit(group, line.key, balance=0, change=line.amount.minor, units=0,
                                units_change=line.units)
    total = sum(line.amount.minor for line in lines)
    if total != 0:
        raise LedgerFault("ledger.unbalanced", "The entry does not balance",
                          difference=Money(total, group.currency))


def _beyond_limit(group: Group, key: str, *, balance: int, change: int, units: int,
                  units_change: int) -> DomainError:
    """ledger.amount_limit: a posting, balance or share count past MAX_AMOUNT_MINOR.

    A refusal, not a fault: the amounts come from people (each within its policy maximum, but
    enough of them, or a policy set too high, add up), nothing was written, and the one who asked
    can be told. The schema's CHECK constraints stand behind it.
    """
    return DomainError(
        "ledger.amount_limit",
        "The amount would take the books past the largest amount they hold; check the figure",
        account=key, limit=Money(MAX_AMOUNT_MINOR, group.currency),
        balance=Money(balance, group.currency), change=Money(change, group.currency),
        units=units, units_change=units_change,
    )



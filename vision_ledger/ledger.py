"""The ledger: the chart of accounts, `post` (the only code that writes entries), balances and
`verify`, which recomputes everything from the postings.

Sign convention: amounts are integer minor units, debit positive and credit negative, so every
entry's postings sum to zero and asset balances are positive, equity and income negative.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from .actors import Actor
from .db import utcnow
from .errors import Conflict, DomainError
from .models import Account, Entry, Group, Member, OutboxMessage, Posting
from .money import Money

CHART: dict[str, str] = {
    "loan_fund_cash": "asset",  # the main bag in the box
    "social_fund_cash": "asset",  # the second bag
    "loans_receivable": "asset",  # per member: principal plus service charge owed
    "member_shares": "equity",  # per member: savings bought as shares (units = shares)
    "social_fund": "equity",  # contributions less welfare payouts; carried across cycles
    "seed_capital": "equity",  # programme grants
    "carried_remainder": "equity",  # share-out rounding carried into the next cycle
    "service_charge_income": "income",
    "fine_income": "income",
    "loan_write_offs": "expense",
    "cash_variance": "expense",
}
MEMBER_ACCOUNTS = ("loans_receivable", "member_shares")
CASH_ACCOUNTS = ("loan_fund_cash", "social_fund_cash")
GROUP_ACCOUNTS = tuple(code for code in CHART if code not in MEMBER_ACCOUNTS)


def account_key(code: str, member_id: int | None = None) -> str:
    if code not in CHART:
        raise ValueError(f"unknown account {code!r}")
    if code in MEMBER_ACCOUNTS:
        if member_id is None:
            raise ValueError(f"{code} is a member account")
        return f"{code}:{member_id}"
    return code


@dataclass(frozen=True)
class Line:
    """One posting to be made: an account key, a signed Money (debit positive), share units."""

    key: str
    amount: Money
    units: int = 0


def debit(code: str, amount: Money, member_id: int | None = None, units: int = 0) -> Line:
    return Line(account_key(code, member_id), amount, units)


def credit(code: str, amount: Money, member_id: int | None = None, units: int = 0) -> Line:
    """Units are a plain quantity (shares held), not signed like money: a purchase adds them."""
    return Line(account_key(code, member_id), -amount, units)


# --- prepared statements ----------------------------------------------------------------------
# Built once: constructing a statement per call costs more than the database's own work here.

_accounts, _entries, _postings = Account.__table__, Entry.__table__, Posting.__table__
_groups, _members, _outbox = Group.__table__, Member.__table__, OutboxMessage.__table__
_HEAD = select(*_groups.c).where(_groups.c.id == bindparam("gid"))
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_TOUCH_GROUP = _groups.update().where(_groups.c.id == bindparam("gid")).values(
    lock_version=_groups.c.lock_version)
_SET_HEAD = _groups.update().where(_groups.c.id == bindparam("gid")).values(
    last_seq=bindparam("new_seq"), last_hash=bindparam("new_hash"))
_REPLAY = select(_entries.c.id, _entries.c.fingerprint, _entries.c.seq).where(
    _entries.c.group_id == bindparam("gid"), _entries.c.idempotency_key == bindparam("key"))
_ACCOUNTS = select(_accounts.c.id, _accounts.c.key, _accounts.c.code, _accounts.c.balance,
                   _accounts.c.units).where(_accounts.c.group_id == bindparam("gid"),
                                            _accounts.c.key.in_(bindparam("keys", expanding=True)))
_INSERT_ENTRY = _entries.insert()
_INSERT_POSTINGS = _postings.insert().returning(_postings.c.id, sort_by_parameter_order=True)
_SET_BALANCE = _accounts.update().where(_accounts.c.id == bindparam("aid")).values(
    balance=bindparam("new_balance"), units=bindparam("new_units"))
_MEMBER_CONTACT = select(_members.c.phone, _members.c.language, _members.c.name,
                         _members.c.number).where(_members.c.id == bindparam("mid"))
_INSERT_OUTBOX = _outbox.insert()


# --- locking ----------------------------------------------------------------------------------

_LOCKED = "vision_locked_groups"


def lock_group(session: Session, group_id: int) -> Group:
    """Serialise writes to one group and return its row, fresh from the database.

    PostgreSQL: SELECT ... FOR UPDATE on the group's row (other groups never wait).
    SQLite: one writer for the whole file; a no-op UPDATE takes the write lock now, before any
    decision is made on what was read (unless the transaction began IMMEDIATE, which holds it).
    A second call in the same transaction costs nothing. Raises group.not_found.
    """
    locked: set[int] = session.info.setdefault(_LOCKED, set())
    if group_id in locked:
        group = session.get(Group, group_id)
        assert group is not None
        return group
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        if not conn.get_execution_options().get("vision_write"):
            conn.execute(_TOUCH_GROUP, {"gid": group_id})
        head = conn.execute(_HEAD, {"gid": group_id}).first()
    else:
        head = conn.execute(_HEAD_FOR_UPDATE, {"gid": group_id}).first()
    if head is None:
        from .errors import NotFound

        raise NotFound("group.not_found", "No such group", group_id=group_id)
    held = session.identity_map.get(session.identity_key(Group, group_id))
    if held is not None:
        group = held
        # The journal's head is what post() builds on: take it from the locked row, not from a
        # copy the session loaded before the lock.
        for column in ("last_seq", "last_hash", "policy", "schedule"):
            set_committed_value(group, column, getattr(head, column))
    else:
        group = Group(**head._asdict())
        make_transient_to_detached(group)
        session.add(group)
    locked.add(group_id)
    return group


@event.listens_for(Session, "after_transaction_end")
def _forget_locks(session: Session, transaction: Any) -> None:
    # A SAVEPOINT's end forgets them too: rolling back to a savepoint releases the row locks taken
    # inside it (PostgreSQL) and restores the journal's head that post() advanced, so the next
    # lock_group must take the lock and read the head again.
    if transaction.parent is None or transaction.nested:
        session.info.pop(_LOCKED, None)


# --- idempotency ------------------------------------------------------------------------------


def fingerprint_of(request: dict[str, Any]) -> str:
    """The SHA-256 of a request's canonical JSON: what an idempotency key promises to repeat."""
    return hashlib.sha256(_canonical(request).encode()).hexdigest()


def find_replay(session: Session, group_id: int, key: str | None, request: dict[str, Any]) -> Entry | None:
    """The entry an earlier call with this key made, if the request is the same one.

    Raises Conflict idempotency.key_reused when the key was used for a different request.
    """
    if not key:
        return None
    found = session.connection().execute(_REPLAY, {"gid": group_id, "key": key}).first()
    if found is None:
        return None
    entry = session.get(Entry, found.id)
    assert entry is not None
    if entry.fingerprint != fingerprint_of(request):
        raise Conflict(
            "idempotency.key_reused",
            "This idempotency key was already used for a different request",
            key=key, entry_seq=entry.seq,
        )
    return entry


# --- posting ----------------------------------------------------------------------------------


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
) -> Entry:
    """Write one balanced entry to the group's journal and update stored balances.

    The group must have been locked with `lock_group` in this transaction. Checks that the entry
    balances, that every amount is in the group's currency and that no cash account goes below
    zero; assigns the next sequence number and hash; queues the member's receipt (when `receipt`
    is given and the entry is about a member). Raises ledger.unbalanced, ledger.currency_mismatch,
    ledger.cash_short, idempotency.key_reused.
    """
    if group.id not in session.info.get(_LOCKED, ()):
        raise RuntimeError("post() needs lock_group() first in this transaction")
    existing = find_replay(session, group.id, idempotency_key, request)
    if existing is not None:
        return existing
    _check_lines(group, lines)
    session.flush()  # whatever the operation changed before posting goes first

    # The hot path speaks SQL through Core statements: the ORM's unit of work would cost several
    # times the database's own work per entry (see benchmarks/core_bench.py).
    conn = session.connection()
    keys = sorted({line.key for line in lines})  # a fixed order of account rows
    rows = {r.key: r for r in conn.execute(_ACCOUNTS, {"gid": group.id, "keys": keys})}
    state: dict[str, list[Any]] = {}  # key -> [id, code, balance, units]
    for k in keys:
        if k in rows:
            r = rows[k]
            state[k] = [r.id, r.code, r.balance, r.units]
        else:
            account = _open_account(session, group, k)
            state[k] = [account.id, account.code, 0, 0]
    for line in lines:
        state[line.key][2] += line.amount.minor
        state[line.key][3] += line.units
    for k in keys:
        _, code, new_balance, _ = state[k]
        if code in CASH_ACCOUNTS and new_balance < 0:
            raise DomainError(
                "ledger.cash_short",
                f"Not enough cash in the {code.replace('_cash', '').replace('_', ' ')} bag",
                account=code,
                available=Money(new_balance - _delta(lines, k), group.currency),
                needed=Money(-_delta(lines, k), group.currency),
            )

    seq = group.last_seq + 1
    entry = Entry(
        group_id=group.id, seq=seq, kind=kind, member_id=member_id, meeting_id=meeting_id,
        cycle_id=cycle_id, loan_id=loan_id, effective_date=effective_date,
        recorded_at=utcnow(), actor=actor.label, channel=actor.channel,
        idempotency_key=idempotency_key or f"auto:{uuid.uuid4().hex}",
        fingerprint=fingerprint_of(request), reverses_id=reverses_id, memo=memo,
        details=details or {}, prev_hash=group.last_hash, hash="",
    )
    entry.hash = entry_hash(entry, [(line.key, line.amount.minor, line.units) for line in lines])
    values = {c.key: getattr(entry, c.key) for c in _entries.columns if c.key != "id"}
    entry.id = conn.execute(_INSERT_ENTRY, values).inserted_primary_key[0]
    posting_rows = [
        {"group_id": group.id, "entry_id": entry.id, "account_id": state[line.key][0],
         "amount": line.amount.minor, "units": line.units}
        for line in lines
    ]
    ids = conn.execute(_INSERT_POSTINGS, posting_rows).scalars().all()
    conn.execute(_SET_BALANCE, [{"aid": v[0], "new_balance": v[2], "new_units": v[3]}
                                for v in state.values()])
    conn.execute(_SET_HEAD, {"gid": group.id, "new_seq": seq, "new_hash": entry.hash})
    set_committed_value(group, "last_seq", seq)
    set_committed_value(group, "last_hash", entry.hash)
    _sync_identity_map(session, state)

    # Give the caller an ORM Entry without asking the database again.
    postings = [Posting(id=pid, **row) for pid, row in zip(ids, posting_rows, strict=True)]
    for posting in postings:
        make_transient_to_detached(posting)
        session.add(posting)
    make_transient_to_detached(entry)
    session.add(entry)
    set_committed_value(entry, "postings", postings)
    if receipt is not None and member_id is not None:
        queue_message(session, group, member_id, "receipt", entry=entry,
                      payload={"seq": seq, "kind": kind, "date": effective_date.isoformat(),
                               **receipt})
    return entry


def _sync_identity_map(session: Session, state: dict[str, list[Any]]) -> None:
    """Account rows this session already holds get the balances just written."""
    for account_id, _, new_balance, new_units in state.values():
        held = session.identity_map.get(session.identity_key(Account, account_id))
        if held is not None:
            set_committed_value(held, "balance", new_balance)
            set_committed_value(held, "units", new_units)


def _delta(lines: Iterable[Line], key: str) -> int:
    return sum(line.amount.minor for line in lines if line.key == key)


def _check_lines(group: Group, lines: Sequence[Line]) -> None:
    if len(lines) < 2:
        raise DomainError("ledger.too_few_postings", "An entry needs two or more postings")
    for line in lines:
        if line.amount.currency != group.currency:
            raise DomainError(
                "ledger.currency_mismatch",
                f"The group keeps its books in {group.currency}",
                expected=group.currency, given=line.amount.currency,
            )
        if line.amount.minor == 0 and line.units == 0:
            raise DomainError("ledger.empty_posting", "A posting of nothing", account=line.key)
    total = sum(line.amount.minor for line in lines)
    if total != 0:
        raise DomainError("ledger.unbalanced", "The entry does not balance",
                          difference=Money(total, group.currency))


def _open_account(session: Session, group: Group, key: str) -> Account:
    code, _, member = key.partition(":")
    member_id = int(member) if member else None
    if member_id is not None:
        owner = session.get(Member, member_id)
        if owner is None or owner.group_id != group.id:
            raise DomainError("member.not_found", "No such member in this group", member_id=member_id)
    account = Account(group_id=group.id, key=key, code=code, type=CHART[code], member_id=member_id,
                      balance=0, units=0)
    session.add(account)
    session.flush()
    return account


def open_group_accounts(session: Session, group: Group) -> None:
    """Create the group's chart of accounts (member sub-accounts open with the member)."""
    for code in GROUP_ACCOUNTS:
        session.add(Account(group_id=group.id, key=code, code=code, type=CHART[code], balance=0,
                            units=0))


def open_member_accounts(session: Session, group: Group, member: Member) -> None:
    for code in MEMBER_ACCOUNTS:
        session.add(Account(group_id=group.id, key=account_key(code, member.id), code=code,
                            type=CHART[code], member_id=member.id, balance=0, units=0))


# --- hashing ----------------------------------------------------------------------------------


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


def entry_hash(entry: Entry, postings: Iterable[tuple[str, int, int]]) -> str:
    """SHA-256 over the previous hash and everything the entry says, postings in a fixed order."""
    body = {
        "group": entry.group_id, "seq": entry.seq, "kind": entry.kind, "member": entry.member_id,
        "meeting": entry.meeting_id, "cycle": entry.cycle_id, "loan": entry.loan_id,
        "date": entry.effective_date.isoformat(), "recorded_at": _utc_text(entry.recorded_at),
        "actor": entry.actor, "channel": entry.channel, "key": entry.idempotency_key,
        "fingerprint": entry.fingerprint, "reverses": entry.reverses_id, "memo": entry.memo,
        "details": entry.details or {}, "postings": sorted([list(p) for p in postings]),
    }
    return hashlib.sha256((entry.prev_hash + _canonical(body)).encode()).hexdigest()


# --- reading ----------------------------------------------------------------------------------


def balance(session: Session, group: Group, code: str, member_id: int | None = None) -> Money:
    """A stored balance, one row read, in the account's natural sign (assets positive, equity positive)."""
    row = session.execute(
        select(Account.balance, Account.type).where(
            Account.group_id == group.id, Account.key == account_key(code, member_id)
        )
    ).first()
    if row is None:
        return Money.zero(group.currency)
    amount, kind = row
    return Money(amount if kind in ("asset", "expense") else -amount, group.currency)


def units(session: Session, group: Group, member_id: int) -> int:
    """Shares a member holds this cycle."""
    value = session.scalar(
        select(Account.units).where(
            Account.group_id == group.id, Account.key == account_key("member_shares", member_id)
        )
    )
    return int(value or 0)


def balances(session: Session, group: Group) -> list[Account]:
    return list(session.scalars(select(Account).where(Account.group_id == group.id).order_by(Account.key)))


def trial_balance(session: Session, group: Group) -> dict[str, Any]:
    """Totals by account type; `balanced` says debits equal credits."""
    totals = {"asset": 0, "equity": 0, "income": 0, "expense": 0}
    accounts = balances(session, group)
    for account in accounts:
        totals[account.type] += account.balance
    return {
        "accounts": accounts,
        "totals": {k: Money(v, group.currency) for k, v in totals.items()},
        "balanced": sum(totals.values()) == 0,
    }


# --- verification -----------------------------------------------------------------------------


@dataclass
class VerifyReport:
    group_id: int
    entries_checked: int = 0
    ok: bool = True
    problem: dict[str, Any] | None = None  # the first difference found
    problems: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, **problem: Any) -> None:
        self.ok = False
        if self.problem is None:
            self.problem = problem
        if len(self.problems) < 20:
            self.problems.append(problem)


def verify(session: Session, group: Group, *, batch: int = 5000) -> VerifyReport:
    """Recompute the hash chain, the sequence and every balance from the postings.

    Names the first entry where the chain, the sequence or an entry's balance disagrees, then any
    account whose stored balance differs from the sum of its postings.
    """
    report = VerifyReport(group_id=group.id)
    keys = {a.id: a.key for a in balances(session, group)}
    computed: dict[int, list[int]] = {}
    stmt = (
        select(
            Entry.id, Entry.seq, Entry.kind, Entry.member_id, Entry.meeting_id, Entry.cycle_id,
            Entry.loan_id, Entry.effective_date, Entry.recorded_at, Entry.actor, Entry.channel,
            Entry.idempotency_key, Entry.fingerprint, Entry.reverses_id, Entry.memo, Entry.details,
            Entry.prev_hash, Entry.hash, Posting.account_id, Posting.amount, Posting.units,
        )
        .join(Posting, Posting.entry_id == Entry.id)
        .where(Entry.group_id == group.id)
        .order_by(Entry.seq, Posting.id)
        .execution_options(yield_per=batch)
    )
    expected_prev = "0" * 64
    expected_seq = 1
    current: Any = None
    postings: list[tuple[str, int, int]] = []

    def finish(row: Any) -> None:
        nonlocal expected_prev, expected_seq
        report.entries_checked += 1
        if row.seq != expected_seq:
            report.fail(seq=expected_seq, problem="sequence_gap", found=row.seq)
            expected_seq = row.seq
        if row.prev_hash != expected_prev:
            report.fail(seq=row.seq, entry_id=row.id, problem="chain_broken",
                        expected=expected_prev, found=row.prev_hash)
        probe = Entry(
            group_id=group.id, seq=row.seq, kind=row.kind, member_id=row.member_id,
            meeting_id=row.meeting_id, cycle_id=row.cycle_id, loan_id=row.loan_id,
            effective_date=row.effective_date, recorded_at=row.recorded_at, actor=row.actor,
            channel=row.channel, idempotency_key=row.idempotency_key, fingerprint=row.fingerprint,
            reverses_id=row.reverses_id, memo=row.memo, details=row.details, prev_hash=row.prev_hash,
        )
        recomputed = entry_hash(probe, postings)
        if recomputed != row.hash:
            report.fail(seq=row.seq, entry_id=row.id, problem="hash_mismatch",
                        expected=recomputed, found=row.hash)
        if sum(p[1] for p in postings) != 0:
            report.fail(seq=row.seq, entry_id=row.id, problem="unbalanced",
                        difference=sum(p[1] for p in postings))
        expected_prev = row.hash
        expected_seq += 1

    for row in session.execute(stmt):
        if current is not None and row.id != current.id:
            finish(current)
            postings = []
        current = row
        postings.append((keys.get(row.account_id, f"?{row.account_id}"), row.amount, row.units))
        acc = computed.setdefault(row.account_id, [0, 0])
        acc[0] += row.amount
        acc[1] += row.units
    if current is not None:
        finish(current)

    if group.last_seq != report.entries_checked:
        report.fail(problem="head_seq_mismatch", expected=report.entries_checked,
                    found=group.last_seq)
    if group.last_hash != expected_prev:
        report.fail(problem="head_hash_mismatch", expected=expected_prev, found=group.last_hash)
    for account in balances(session, group):
        bal, unit = computed.get(account.id, [0, 0])
        if account.balance != bal or account.units != unit:
            report.fail(problem="balance_mismatch", account=account.key,
                        expected=bal, found=account.balance, expected_units=unit,
                        found_units=account.units)
    return report


# --- messages ---------------------------------------------------------------------------------


def queue_message(
    session: Session,
    group: Group | None,
    member_id: int | None,
    kind: str,
    *,
    payload: dict[str, Any],
    entry: Entry | None = None,
    phone: str | None = None,
    language: str | None = None,
) -> None:
    """Write an outbox row in the caller's transaction; the SMS worker sends it later."""
    if member_id is not None:
        who = session.connection().execute(_MEMBER_CONTACT, {"mid": member_id}).first()
        assert who is not None
        phone = phone or who.phone
        language = language or who.language
        payload = {"member": who.name, "member_number": who.number, **payload}
    if group is not None:
        payload = {"group": group.name, "currency": group.currency, **payload}
    now = utcnow()
    session.connection().execute(_INSERT_OUTBOX, dict(
        group_id=group.id if group is not None else None, member_id=member_id,
        entry_id=entry.id if entry is not None else None, phone=phone,
        language=language or (group.language if group is not None else "en"), kind=kind,
        payload=json.loads(_canonical(payload)), status="pending", attempts=0,
        next_attempt_at=now, created_at=now, updated_at=now,
    ))

"""Verification: recompute everything from the postings and name every difference. A verifier
that recomputes is worth more than any number of assertions about stored totals.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import TextClause, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..models import Entry, Group, Posting
from ..register import check_loans
from .journal import GENESIS, sealed
from .reads import balances


@dataclass
class VerifyReport:
    """What verifying one group found: `ok`, the first problem and up to 20 of them."""

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


# An entry's columns as the chain check reads them (entry_hash needs all but id and hash).
JOURNAL_COLUMNS = (
    Entry.id, Entry.group_id, Entry.seq, Entry.kind, Entry.member_id, Entry.meeting_id,
    Entry.cycle_id, Entry.loan_id, Entry.effective_date, Entry.recorded_at, Entry.actor,
    Entry.channel, Entry.idempotency_key, Entry.fingerprint, Entry.reverses_id, Entry.memo,
    Entry.details, Entry.prev_hash, Entry.hash, Entry.canonical,
)


def verify_chain(report: VerifyReport, journal: Iterable[tuple[Any, Sequence[tuple[str, int, int]]]],
                 *, last_seq: int, last_hash: str) -> None:
    """What "the chain verifies" means, for `verify` here and the auditors' `audit.verify_many`.

    `journal` yields one group's entries in seq order (rows with the JOURNAL_COLUMNS), each with
    its postings as (account key, amount, units). Checks that sequence numbers run 1, 2, 3...
    without a gap, that each entry names the previous one's hash and that its own hash is the
    SHA-256 of what it says (`hash_mismatch`), that its stored canonical bytes are exactly what
    it says (`canonical_mismatch`: the bytes the hash covers, read by PostgreSQL's verification),
    that each entry balances over two or more postings, and that the group's head (last_seq,
    last_hash) is the journal's last entry. Every difference goes into `report`.
    """
    expected_prev = GENESIS
    expected_seq = 1
    checked = 0
    for row, postings in journal:
        checked += 1
        if row.seq != expected_seq:
            report.fail(seq=expected_seq, problem="sequence_gap", found=row.seq)
            expected_seq = row.seq
        if row.prev_hash != expected_prev:
            report.fail(seq=row.seq, entry_id=row.id, problem="chain_broken",
                        expected=expected_prev, found=row.prev_hash)
        body, recomputed = sealed(row, postings)
        if recomputed != row.hash:
            report.fail(seq=row.seq, entry_id=row.id, problem="hash_mismatch",
                        expected=recomputed, found=row.hash)
        if row.canonical != body:
            report.fail(seq=row.seq, entry_id=row.id, problem="canonical_mismatch")
        total = sum(p[1] for p in postings)
        if total:
            report.fail(seq=row.seq, entry_id=row.id, problem="unbalanced", difference=total)
        if len(postings) < 2:  # what post() refuses as ledger.too_few_postings
            report.fail(seq=row.seq, entry_id=row.id, problem="too_few_postings", found=len(postings))
        expected_prev = row.hash
        expected_seq += 1
    report.entries_checked = checked
    if last_seq != checked:
        report.fail(problem="head_seq_mismatch", expected=checked, found=last_seq)
    if last_hash != expected_prev:
        report.fail(problem="head_hash_mismatch", expected=expected_prev, found=last_hash)


# verify_chain's checks of many groups' journals, run by PostgreSQL (in C, on the server's cores),
# so that only a count per group comes back: per group, its entries, how many of them fail any
# check, and whether one of them is the head the group names. An entry fails when its seq is
# not its place in the group's order, its prev_hash not the previous entry's hash, its postings
# unbalanced or fewer than two, the SHA-256 of prev_hash and its stored canonical bytes not its
# hash, or those bytes, read as JSON, not what its columns and postings say (jsonb compares
# values: the bytes' formatting is not compared; `verify_chain` compares them byte for byte).
# The object below is `entry_body`'s, field by field: the postings sorted as Python sorts them
# (key by code point, which is COLLATE "C" on UTF-8), the date and the UTC moment as it writes
# them. Bytes that are not UTF-8 or not JSON make the statement fail (DataError). Parameters:
# :groups (an array of group ids), :genesis.
_JOURNAL_SQL = """
WITH lines AS (
    SELECT p.entry_id, sum(p.amount) AS total, count(*) AS n,
           jsonb_agg(jsonb_build_array(a.key, p.amount, p.units)
                     ORDER BY a.key COLLATE "C", p.amount, p.units) AS postings
    FROM accounts a JOIN postings p ON p.account_id = a.id
    WHERE a.group_id = ANY(:groups)
    GROUP BY p.entry_id),
journal AS (
    SELECT e.group_id, e.seq, e.hash, g.last_seq, g.last_hash,
           e.seq <> row_number() OVER w
           OR e.prev_hash IS DISTINCT FROM lag(e.hash, 1, :genesis) OVER w
           OR coalesce(l.total, 0) <> 0 OR coalesce(l.n, 0) < 2
           OR encode(sha256(convert_to(e.prev_hash, 'UTF8') || e.canonical), 'hex')
              IS DISTINCT FROM e.hash
           OR convert_from(e.canonical, 'UTF8')::jsonb IS DISTINCT FROM jsonb_build_object(
               'actor', e.actor, 'channel', e.channel, 'cycle', e.cycle_id,
               'date', to_char(e.effective_date, 'YYYY-MM-DD'),
               'details', coalesce(nullif(e.details::jsonb, 'null'::jsonb), '{}'::jsonb),
               'fingerprint', e.fingerprint, 'group', e.group_id, 'key', e.idempotency_key,
               'kind', e.kind, 'loan', e.loan_id, 'meeting', e.meeting_id, 'member', e.member_id,
               'memo', e.memo, 'postings', coalesce(l.postings, '[]'::jsonb),
               'recorded_at', to_char(e.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
               'reverses', e.reverses_id, 'seq', e.seq) AS bad
    FROM entries e JOIN groups g ON g.id = e.group_id LEFT JOIN lines l ON l.entry_id = e.id
    WHERE e.group_id = ANY(:groups)
    WINDOW w AS (PARTITION BY e.group_id ORDER BY e.seq, e.id))
SELECT group_id, count(*) AS entries, count(*) FILTER (WHERE bad) AS bad,
       bool_or(seq = last_seq AND hash = last_hash) AS head_ok
FROM journal GROUP BY group_id
"""


def journal_sql() -> TextClause:
    """The server-side pass over many groups' journals (PostgreSQL): see _JOURNAL_SQL."""
    return text(_JOURNAL_SQL)


def stream_journal(conn: Connection, group_id: int, keys: dict[int, str],
                   computed: dict[int, list[int]] | None = None, *,
                   batch: int = 5000) -> Iterator[tuple[Any, list[tuple[str, int, int]]]]:
    """One group's journal in seq order as `verify_chain` reads it: (entry row, its postings as
    (account key, amount, units)), so memory stays flat however long the history.

    Two Core selects streamed side by side `batch` rows at a time (server-side cursors on
    PostgreSQL): the entries in seq order, and the postings with their entry's seq in the same
    order, merged here. A join would repeat every entry's columns (and decode its details again)
    for each of its postings. `keys` names accounts by id; `computed`, when given, receives each
    account's [amount, units] summed over the postings read.
    """
    entries = conn.execute(select(*JOURNAL_COLUMNS).where(Entry.group_id == group_id)
                           .order_by(Entry.seq, Entry.id).execution_options(yield_per=batch))
    lines = conn.execute(
        select(Entry.seq, Entry.id, Posting.account_id, Posting.amount, Posting.units)
        .join(Entry, Entry.id == Posting.entry_id).where(Entry.group_id == group_id)
        .order_by(Entry.seq, Entry.id, Posting.id).execution_options(yield_per=batch))
    line = next(lines, None)
    for row in entries:
        postings: list[tuple[str, int, int]] = []
        entry_id = row.id
        while line is not None and line[1] == entry_id:
            _, _, account_id, amount, units = line
            postings.append((keys.get(account_id) or f"?{account_id}", amount, units))
            if computed is not None:
                acc = computed.setdefault(account_id, [0, 0])
                acc[0] += amount
                acc[1] += units
            line = next(lines, None)
        yield row, postings


def verify(session: Session, group: Group, *, batch: int = 5000) -> VerifyReport:
    """Recompute the hash chain, the sequence and every balance from the postings.

    Names the first entry where the chain, the sequence or an entry's balance disagrees, then any
    account whose stored balance differs from the sum of its postings, then any loan (or member)
    whose loan register differs from the loans_receivable postings (see `register`). The journal is streamed
    (`batch` rows at a time), so a group's history of any length fits in memory.
    """
    report = VerifyReport(group_id=group.id)
    keys = {a.id: a.key for a in balances(session, group)}
    computed: dict[int, list[int]] = {}
    journal = stream_journal(session.connection(), group.id, keys, computed, batch=batch)
    verify_chain(report, journal, last_seq=group.last_seq, last_hash=group.last_hash)
    for account in balances(session, group):
        bal, unit = computed.get(account.id, [0, 0])
        if account.balance != bal or account.units != unit:
            report.fail(problem="balance_mismatch", account=account.key,
                        expected=bal, found=account.balance, expected_units=unit,
                        found_units=account.units)
    # the loan register proves itself against these postings
    check_loans(session, select(Group.id).where(Group.id == group.id), {group.id: report})
    return report

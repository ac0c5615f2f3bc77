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
# so that only a count per group comes back: per group, its entries, how many of them fail a
# check, and whether one of them is the head the group names. An entry fails when its seq is not
# its place in the group's order or its prev_hash not the hash of the entry before it, its
# postings do not balance or are fewer than two, the SHA-256 of prev_hash and its stored
# canonical bytes is not its hash, or those bytes are not what its columns and postings say.
# The bytes are compared exactly, as `entry_body` writes them (strings by to_json, which escapes
# as Python's json does; postings sorted by key as Python sorts, COLLATE "C" on UTF-8; the date
# and the UTC moment as text), all but the details: the bytes hold them between the head and the
# tail, and they are compared as jsonb (the column holds json as the driver wrote it, not in
# canonical form). A value written otherwise than `entry_body` would write it only makes its
# group fail here and go to Python, which names what is wrong, if anything.
# Shape: a LATERAL subquery per group, so each group's entries come in seq order from the
# (group_id, seq) index with no sort, and its postings through its accounts' index, aggregated
# in memory; the LATERAL ... OFFSET 0 subqueries make PostgreSQL build an entry's head and tail
# once (inlined, each mention would build them again). Bytes that are not UTF-8, or a middle that
# is not JSON, make the statement fail (DataError). Parameters: :groups (group ids), :genesis.
_JOURNAL_SQL = """
SELECT g.id AS group_id, c.entries, c.bad, c.head_ok
FROM groups g CROSS JOIN LATERAL (
    SELECT count(*) AS entries,
           count(*) FILTER (WHERE j.seq <> j.place OR j.prev_hash IS DISTINCT FROM j.expected_prev
               OR coalesce(l.total, 0) <> 0 OR coalesce(l.n, 0) < 2
               OR encode(sha256(convert_to(j.prev_hash, 'UTF8') || j.canonical), 'hex')
                  IS DISTINCT FROM j.hash
               OR j.canonical IS DISTINCT FROM x.head || m.middle || x.tail
               OR convert_from(m.middle, 'UTF8')::jsonb
                  IS DISTINCT FROM coalesce(nullif(j.details::jsonb, 'null'::jsonb), '{}'::jsonb)) AS bad,
           coalesce(bool_or(j.seq = g.last_seq AND j.hash = g.last_hash), false) AS head_ok
    FROM (SELECT e.*, row_number() OVER w AS place, lag(e.hash, 1, :genesis) OVER w AS expected_prev
          FROM entries e WHERE e.group_id = g.id WINDOW w AS (ORDER BY e.seq)) j
    LEFT JOIN (
        SELECT p.entry_id, sum(p.amount) AS total, count(*) AS n,
               string_agg(format('[%s,%s,%s]', to_json(a.key), p.amount, p.units), ','
                          ORDER BY a.key COLLATE "C", p.amount, p.units) AS postings
        FROM accounts a JOIN postings p ON p.account_id = a.id WHERE a.group_id = g.id
        GROUP BY p.entry_id) l ON l.entry_id = j.id
    CROSS JOIN LATERAL (SELECT
        convert_to(concat('{"actor":', coalesce(to_json(j.actor)::text, 'null'),
            ',"channel":', coalesce(to_json(j.channel)::text, 'null'),
            ',"cycle":', coalesce(j.cycle_id::text, 'null'),
            ',"date":"', to_char(j.effective_date, 'YYYY-MM-DD'), '","details":'), 'UTF8') AS head,
        convert_to(concat(',"fingerprint":', coalesce(to_json(j.fingerprint)::text, 'null'),
            ',"group":', j.group_id, ',"key":', coalesce(to_json(j.idempotency_key)::text, 'null'),
            ',"kind":', coalesce(to_json(j.kind)::text, 'null'),
            ',"loan":', coalesce(j.loan_id::text, 'null'),
            ',"meeting":', coalesce(j.meeting_id::text, 'null'),
            ',"member":', coalesce(j.member_id::text, 'null'),
            ',"memo":', coalesce(to_json(j.memo)::text, 'null'),
            ',"postings":[', l.postings, '],"recorded_at":"',
            to_char(j.recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
            '","reverses":', coalesce(j.reverses_id::text, 'null'), ',"seq":', j.seq, '}'), 'UTF8') AS tail
        OFFSET 0) x
    CROSS JOIN LATERAL (SELECT substring(j.canonical FROM length(x.head) + 1
                                         FOR length(j.canonical) - length(x.head) - length(x.tail)) AS middle
        OFFSET 0) m
) c
WHERE g.id = ANY(:groups)
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

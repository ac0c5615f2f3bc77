"""Per-period totals: the measures read from them answer what a from-scratch computation over
every posting answers (tests/core/reference_measures.py), however the refreshes fall between
the operations; a refresh is idempotent and safe beside another; verify names a tampered total."""

from __future__ import annotations

import threading
from datetime import date, timedelta

from hypothesis import strategies as st
from hypothesis.stateful import rule
from sqlalchemy import delete, func, select, update

from vision_ledger import loans, metrics, reversals, savings, shareout
from vision_ledger.db import Database
from vision_ledger.metrics import (
    GroupDayTotal,
    LoanDayTotal,
    MemberDayTotal,
    MemberSpanTotal,
    TotalsMark,
    spans,
)
from vision_ledger.metrics.fold import MEMBER_SUMS
from vision_ledger.models import Group, Loan, Member

from ..conftest import fresh_database_url
from ..factories import Factory
from . import reference_measures
from .test_metrics import END, S, build_worked_group
from .test_stateful import Books, run_books

TODAY = date.today()


def _rows(session, group_id):
    """Every stored total of the group, as plain tuples."""
    out = {}
    for table in (GroupDayTotal, MemberDayTotal, LoanDayTotal):
        out[table.__tablename__] = sorted(tuple(r) for r in session.execute(
            select(*table.__table__.columns).where(table.group_id == group_id)))
    return out


def assert_same_as_from_scratch(session, group_ids, start, end, youth_age_max=29):
    scope = select(Group.id).where(Group.id.in_(group_ids))
    got = metrics.compute(session, scope, start, end, youth_age_max)
    want = reference_measures.compute(session, scope, start, end, youth_age_max)
    assert [g.group_id for g in got] == [g.group_id for g in want]
    for a, b in zip(got, want, strict=True):
        assert a.measures.facts == b.measures.facts, (a.group_id, start, end)
        for s in metrics.SEGMENTS:
            assert a.segments[s].facts == b.segments[s].facts, (a.group_id, s, start, end)


PERIODS = [(S, END), (S, TODAY), (S + timedelta(days=7), S + timedelta(days=7)), (END, END),
           (S - timedelta(days=400), S - timedelta(days=1)), (S + timedelta(days=3), END - timedelta(days=1))]


def test_measures_from_refreshed_totals_equal_the_worked_cycle_from_scratch(session, factory):
    group, _ = build_worked_group(session, factory)
    for start, end in PERIODS:  # nothing folded yet: the whole journal is the tail
        assert_same_as_from_scratch(session, [group.id], start, end)
    assert metrics.refresh(session, [group.id]) == 1
    assert session.get(TotalsMark, group.id).seq == group.last_seq
    for start, end in PERIODS:
        assert_same_as_from_scratch(session, [group.id], start, end)


def test_every_edge_of_a_month_reads_the_from_scratch_figures(session, factory):
    """A period's edges are read from the days after them or from their month row less the days
    before them, whichever is shorter (metrics.spans.after): both, on every kind of day, agree
    with the postings, folded in one month and with a tail in the next."""
    group, _ = build_worked_group(session, factory)
    metrics.refresh(session, [group.id])
    for k in range(0, 33, 4):
        assert_same_as_from_scratch(session, [group.id], S + timedelta(days=k), END + timedelta(days=k))
        assert_same_as_from_scratch(session, [group.id], S - timedelta(days=k), TODAY - timedelta(days=k))


def test_a_refresh_with_nothing_new_changes_nothing(session, factory):
    group, _ = build_worked_group(session, factory)
    metrics.refresh(session, [group.id])
    before = _rows(session, group.id)
    mark = session.execute(select(TotalsMark.seq, TotalsMark.meeting_id)
                           .where(TotalsMark.group_id == group.id)).one()
    assert metrics.refresh(session, [group.id]) == 0
    assert metrics.refresh(session) == 0
    assert _rows(session, group.id) == before
    assert session.execute(select(TotalsMark.seq, TotalsMark.meeting_id)
                           .where(TotalsMark.group_id == group.id)).one() == mark


def test_totals_folded_in_pieces_equal_totals_folded_at_once(session, factory):
    """Refreshes between meetings, reversals, a write-off, an exit and a share-out."""
    group, ms = build_worked_group(session, factory)
    t = factory.treasurer(group)
    metrics.refresh(session, [group.id])
    factory.member(group, gender="female", birth_year=TODAY.year - 19, joined_on=END + timedelta(days=1))
    factory.meeting(group, on=END + timedelta(days=7), absent=(ms[0].id,))
    entry = savings.buy_shares(session, t, group, ms[1], 3)
    reversals.reverse_entry(session, t, group, entry, "wrong count")
    savings.buy_shares(session, t, group, ms[1], 2)
    metrics.refresh(session, [group.id])
    shareout.exit_member(session, t, group, ms[5])
    for loan in session.scalars(select(Loan).where(Loan.group_id == group.id, Loan.status == "active")).all():
        loans.write_off_loan(session, t, group, loan, "moved")
    metrics.refresh(session, [group.id])
    shareout.execute(session, t, group)
    for start, end in [*PERIODS, (END, END + timedelta(days=7))]:
        assert_same_as_from_scratch(session, [group.id], start, end)
    metrics.refresh(session, [group.id])
    pieces = _rows(session, group.id)
    for table in (GroupDayTotal, MemberDayTotal, LoanDayTotal):
        session.execute(delete(table).where(table.group_id == group.id))
    session.execute(delete(TotalsMark).where(TotalsMark.group_id == group.id))
    metrics.refresh(session, [group.id])
    assert _rows(session, group.id) == pieces
    assert metrics.verify_totals(session, [group.id]) == []


def test_verify_names_a_tampered_total(session, factory):
    group, ms = build_worked_group(session, factory)
    metrics.refresh(session, [group.id])
    assert metrics.verify_totals(session, [group.id]) == []
    session.execute(update(MemberDayTotal)
                    .where(MemberDayTotal.member_id == ms[1].id, MemberDayTotal.day == S)
                    .values(shares=MemberDayTotal.shares - 100))
    session.execute(delete(LoanDayTotal).where(LoanDayTotal.group_id == group.id,
                                               LoanDayTotal.day == S + timedelta(days=7)))
    found = metrics.verify_totals(session, [group.id])
    assert {"problem": "totals_mismatch", "table": "member_day_totals", "group_id": group.id,
            "member_id": ms[1].id, "day": S, "field": "shares", "expected": -50000,
            "found": -50100} in found
    missing = [d for d in found if d["table"] == "loan_day_totals"]
    assert missing and all(d["found"] == 0 and d["day"] == S + timedelta(days=7) for d in missing)
    assert {d["field"] for d in missing} >= {"outstanding", "owed", "repaid"}


def test_verify_names_totals_past_the_mark_as_a_difference(session, factory):
    """A row the journal cannot explain (written by hand, or for entries not yet folded)."""
    group, _ = build_worked_group(session, factory)
    metrics.refresh(session, [group.id])
    session.add(GroupDayTotal(group_id=group.id, day=TODAY + timedelta(days=1), fines=-500))
    session.flush()
    [d] = metrics.verify_totals(session, [group.id])
    assert (d["table"], d["field"], d["expected"], d["found"]) == ("group_day_totals", "fines", 0, -500)


def test_verify_names_a_tampered_month_row_and_position(session, factory):
    """The span rows are a cache of the day rows: verify recomputes them from the postings too."""
    group, ms = build_worked_group(session, factory)
    metrics.refresh(session, [group.id])
    assert metrics.verify_totals(session, [group.id]) == []
    month = S.replace(day=1)
    rows = select(MemberSpanTotal).where(MemberSpanTotal.member_id == ms[1].id)
    position = session.scalars(rows.where(MemberSpanTotal.span == "all")).one()
    month_row = session.scalars(rows.where(MemberSpanTotal.span == "month",
                                           MemberSpanTotal.start == month)).one()
    shares, present = position.shares, month_row.present
    assert shares < 0 and present > 0
    position.shares += 100
    month_row.present -= 1
    session.flush()
    found = metrics.verify_totals(session, [group.id])
    assert {"problem": "totals_mismatch", "table": "member_span_totals", "group_id": group.id,
            "member_id": ms[1].id, "span": "all", "day": date(1, 1, 1), "field": "shares",
            "expected": shares, "found": shares + 100} in found
    assert {"problem": "totals_mismatch", "table": "member_span_totals", "group_id": group.id,
            "member_id": ms[1].id, "span": "month", "day": month, "field": "present",
            "expected": present, "found": present - 1} in found
    assert len(found) == 2
    # A refresh rebuilds the spans of the months it folds from the day rows, so the next meeting
    # does not repair an older month: only verify finds it.


def test_spans_rebuilt_by_a_refresh_equal_the_day_rows_they_sum(session, factory):
    """The span rows a refresh writes are those the day rows add up to, whatever the months."""
    group, _ = build_worked_group(session, factory)
    metrics.refresh(session, [group.id])
    spans_of_group = select(MemberSpanTotal).where(MemberSpanTotal.group_id == group.id)
    stored = {(r.group_id, r.member_id, r.span, r.start):
              (r.shares, r.receivable, r.present, r.attendance_rows) for r in session.scalars(spans_of_group)}
    days = {(r.group_id, r.member_id, r.day): (r.shares, r.shares_share_out, r.receivable,
                                              r.receivable_share_out, r.present, r.attendance_rows)
            for r in session.scalars(select(MemberDayTotal).where(MemberDayTotal.group_id == group.id))}
    assert {k[2] for k in stored} == {"month", "year", "all"}
    assert stored == spans.expected(days.items(), MEMBER_SUMS)


# --- random operations ---------------------------------------------------------------------------


class BooksWithTotals(Books):
    """The stateful test's random meetings, money, reversals, write-offs, exits and share-outs,
    with refreshes of the totals falling anywhere between them."""

    @rule()
    def refresh_totals(self):
        nested = self.session.begin_nested()
        metrics.refresh(self.session, [self.group.id])
        nested.commit()

    def periods(self):
        last = self.session.scalar(select(func.max(GroupDayTotal.day))) or self.day
        return ((self.day - timedelta(weeks=60), TODAY), (self.day, self.day),
                (self.day - timedelta(weeks=3), max(last, self.day - timedelta(weeks=3))))

    def check(self, periods):
        for start, end in periods:
            assert_same_as_from_scratch(self.session, [self.group.id], start, end)
        if self.session.get(TotalsMark, self.group.id) is not None:
            assert metrics.verify_totals(self.session, [self.group.id]) == []

    @rule(which=st.integers(0, 2))
    def totals_answer_as_the_postings_do(self, which):
        self.check([self.periods()[which]])

    def teardown(self):
        try:
            self.check(self.periods())
            self.refresh_totals()
            self.check(self.periods())
        finally:
            super().teardown()


def test_totals_equal_the_postings_whatever_the_meetings_do(engine):
    run_books(BooksWithTotals, engine, examples=10, steps=30)


# --- concurrency ---------------------------------------------------------------------------------


def test_concurrent_refreshes_beside_a_writer_count_every_entry_once(tmp_path_factory):
    db = Database(fresh_database_url(tmp_path_factory, "totals"))
    try:
        with db.unit_of_work() as s:
            f = Factory(s)
            group = f.ready(members=12, start=TODAY - timedelta(weeks=2))
            f.meeting(group, on=TODAY)
            gid, members = group.id, [m.id for m in f.members(group)]
            t = f.treasurer(group)
        errors: list[BaseException] = []
        done = threading.Event()

        def writer():
            try:
                for i in range(24):
                    with db.unit_of_work() as s:
                        g = s.get(Group, gid)
                        savings.buy_shares(s, t, g, s.get(Member, members[i % 12]), 1 + i // 12)
            except BaseException as exc:
                errors.append(exc)
            finally:
                done.set()

        def refresher():
            try:
                while not done.is_set():
                    with db.unit_of_work() as s:
                        metrics.refresh(s, [gid])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer)] + [threading.Thread(target=refresher) for _ in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(240)
        assert not errors, errors
        with db.unit_of_work() as s:
            metrics.refresh(s, [gid])
        with db.unit_of_work(write=False) as s:
            assert metrics.verify_totals(s, [gid]) == []
            assert_same_as_from_scratch(s, [gid], TODAY - timedelta(weeks=2), TODAY)
            saved = -s.scalar(select(func.sum(MemberDayTotal.shares)).where(MemberDayTotal.group_id == gid))
            assert saved == sum(1 + i // 12 for i in range(24)) * 10000
    finally:
        db.dispose()

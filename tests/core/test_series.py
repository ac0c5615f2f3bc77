"""`metrics.series`: a programme's chart measures over consecutive weeks or months in one pass
answer what `programme_measures` answers for each period, on the demo, on the worked cycle and on
random histories (refreshed or not); periods that do not follow each other are refused."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import rule
from sqlalchemy import select

from api import demo
from api.console.pages import periods
from vision_ledger import metrics
from vision_ledger.actors import Actor
from vision_ledger.errors import DomainError, NotFound
from vision_ledger.models import Group

from .test_metrics import END, S, build_worked_group
from .test_stateful import Books, run_books

DEMO_TODAY = date(2026, 11, 25)


def assert_series_matches(session, actor, programme_id, spans):
    points = metrics.series(session, actor, programme_id, spans)
    assert [(p.start, p.end) for p in points] == list(spans)
    for point in points:
        want = metrics.programme_measures(session, actor, programme_id, start=point.start,
                                          end=point.end).measures.as_dict()
        assert point.as_dict() == {k: want[k] for k in metrics.SERIES_MEASURES}, (point.start, point.end)
    return points


def _admin(programme_id):
    return Actor(role="admin", channel="api", programme_id=programme_id)


def test_the_demo_series_by_week_and_month_is_programme_measures_per_period(session):
    loaded = demo.load(session, today=DEMO_TODAY)
    actor = _admin(loaded.programme_id)
    for every in ("week", "month"):
        points = assert_series_matches(session, actor, loaded.programme_id, periods(DEMO_TODAY, every))
        assert any(p.savings.minor > 0 for p in points)  # the demo's meetings show on the chart
    metrics.refresh(session)
    assert_series_matches(session, actor, loaded.programme_id, periods(DEMO_TODAY, "week"))


def test_the_worked_cycle_with_its_share_out_day_as_a_period_end(session, factory):
    group, _ = build_worked_group(session, factory)
    actor = factory.auditor(group.programme)
    for every in ("week", "month"):
        assert_series_matches(session, actor, group.programme_id, periods(END, every))
        assert_series_matches(session, actor, group.programme_id, periods(END + timedelta(days=3), every))
    metrics.refresh(session, [group.id])
    days = [(S + timedelta(days=k), S + timedelta(days=k)) for k in range((END - S).days + 2)]
    assert_series_matches(session, actor, group.programme_id, days)


def test_periods_that_do_not_follow_each_other_are_refused(session, factory):
    group, _ = build_worked_group(session, factory)
    actor = factory.auditor(group.programme)
    with pytest.raises(DomainError) as gap:
        metrics.series(session, actor, group.programme_id, [(S, S), (S + timedelta(days=2), END)])
    assert gap.value.code == "measures.invalid_period"
    with pytest.raises(DomainError):
        metrics.series(session, actor, group.programme_id, [(END, S)])
    with pytest.raises(NotFound):
        metrics.series(session, factory.auditor(factory.programme()), group.programme_id, [(S, END)])
    assert metrics.series(session, actor, group.programme_id, []) == []


class BooksWithSeries(Books):
    """The stateful test's random meetings, money, reversals, write-offs, exits and share-outs;
    the series of its programme checked against the roll-ups between them."""

    @rule()
    def refresh_totals(self):
        nested = self.session.begin_nested()
        metrics.refresh(self.session, [self.group.id])
        nested.commit()

    @rule(every=st.sampled_from(["week", "month"]), shift=st.integers(-20, 20))
    def series_answers_as_the_roll_ups_do(self, every, shift):
        programme_id = self.session.scalar(select(Group.programme_id).where(Group.id == self.group.id))
        assert_series_matches(self.session, _admin(programme_id), programme_id,
                              periods(self.day + timedelta(days=shift), every, 6))


def test_the_series_equals_the_roll_ups_whatever_the_meetings_do(engine):
    run_books(BooksWithSeries, engine, examples=8, steps=25)

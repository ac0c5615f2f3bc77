"""Kept verification runs: every run (an auditor's POST, the worker's nightly job, the cron
command) is kept per programme, GET returns the latest, and a failure raises the metric."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import REGISTRY
from sqlalchemy import text

from sms import schedule
from tests.conftest import is_postgres
from vision_ledger.obs import metrics as observability
from vision_ledger.verification_runs import run

from .conftest import assert_problem


def _tamper(session, group_id):
    if is_postgres():
        session.execute(text("SET LOCAL session_replication_role = replica"))
    else:
        session.execute(text("DROP TRIGGER entries_no_update"))
    session.execute(text("UPDATE entries SET memo = 'x' WHERE group_id = :g AND seq = 4"), {"g": group_id})


def test_a_programme_never_verified_has_no_last_run(world, auditor, treasurer):
    assert_problem(auditor.get(f"{world.own.p}/verify"), 404, "verification.never_run")
    assert treasurer.get(f"{world.own.p}/verify").status_code in (403, 404)


def test_an_auditors_verification_is_kept_and_shown_as_the_last_run(world, admin, auditor):
    posted = admin.post(f"{world.own.p}/verify", key=False).get_json()
    r = auditor.get(f"{world.own.p}/verify")
    assert r.status_code == 200, r.get_data(as_text=True)
    last = r.get_json()
    assert (last["ok"], last["trigger"], last["scope"]) == (True, "api", "programme")
    assert last["groups_checked"] == posted["groups_checked"] == 1
    assert last["entries_checked"] == posted["entries_checked"] > 0
    assert last["failures"] == [] and last["finished_at"] >= last["started_at"]
    # The other programme's runs are not this one's.
    assert_problem(auditor.get(f"{world.other.p}/verify"), 404, "programme.not_found")


def test_the_nightly_run_keeps_a_failure_with_its_first_difference_and_raises_the_metric(
        world, db, session, auditor):
    observability.subscribe()
    before = REGISTRY.get_sample_value("vision_verification_failures_total") or 0.0
    _tamper(session, world.own.group.id)
    kept = run(db, trigger="schedule")
    assert {k.programme_id for k in kept} >= {world.own.programme.id, world.other.programme.id}
    last = auditor.get(f"{world.own.p}/verify").get_json()
    assert (last["ok"], last["trigger"], last["scope"]) == (False, "schedule", "all")
    assert last["failed_groups"] == 1
    [failure] = last["failures"]
    assert failure["group_id"] == world.own.group.id
    assert failure["problem"]["seq"] == 4 and failure["problem"]["problem"] == "hash_mismatch"
    assert REGISTRY.get_sample_value("vision_verification_failures_total") == before + 1


def test_the_nightly_verification_is_claimed_once_a_day_after_its_hour(db):
    early = datetime(2031, 3, 4, 0, 30, tzinfo=UTC)
    late = datetime(2031, 3, 4, 1, 5, tzinfo=UTC)
    assert schedule.claim_nightly_verification(db, 1, early) is False
    assert schedule.claim_nightly_verification(db, 1, late) is True
    assert schedule.claim_nightly_verification(db, 1, late) is False  # a second worker, a restart
    schedule.release_nightly_verification(db, late)  # a run that could not finish gives it back
    assert schedule.claim_nightly_verification(db, 1, late) is True
    assert schedule.claim_nightly_verification(db, 1, datetime(2031, 3, 5, 1, 0, tzinfo=UTC)) is True

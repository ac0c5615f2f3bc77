"""The worker drives the real SDK against the stand-in: outcomes, retries, claiming, reclaiming."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from sms import outbox
from sms.gateway import AfricasTalkingGateway
from sms.models import SmsAttempt
from sms.worker import Worker, WorkerAlreadyRunning, single_worker
from tests.conftest import SteppedClock, is_postgres
from tests.sms.conftest import FAST, receipt_row
from tests.sms.standin import StandIn
from vision_ledger.db import Database, utcnow
from vision_ledger.models import OutboxMessage

Queue = Callable[..., list[int]]


def rows(db: Database) -> dict[int, OutboxMessage]:
    with db.unit_of_work(write=False) as s:
        return {r.id: r for r in s.scalars(select(OutboxMessage))}


def attempts(db: Database, message_id: int) -> list[SmsAttempt]:
    with db.unit_of_work(write=False) as s:
        return list(s.scalars(select(SmsAttempt).where(SmsAttempt.outbox_id == message_id)
                              .order_by(SmsAttempt.id)))


def test_a_sent_message_keeps_its_text_message_id_and_cost(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    [mid] = queue(fresh_db, 1)
    stats = Worker(fresh_db, at_gateway, FAST).run(once=True)
    row = rows(fresh_db)[mid]
    [delivered] = at_standin.delivered
    assert stats["sent"] == 1
    assert (row.status, row.attempts, row.status_code) == ("sent", 1, 101)
    assert row.text == delivered.text and row.text.startswith("Umoja VSLA 21 Nov: you bought 1 share")
    assert row.at_message_id == delivered.message_id and row.cost == "KES 0.8000"
    assert row.sent_at is not None and row.claimed_by is None


def test_server_errors_are_retried_until_sent(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    [mid] = queue(fresh_db, 1)
    at_standin.fail_next(3)
    Worker(fresh_db, at_gateway, FAST).run(once=True)
    row = rows(fresh_db)[mid]
    assert (row.status, row.attempts) == ("sent", 4)
    assert [a.outcome for a in attempts(fresh_db, mid)] == ["retry", "retry", "retry", "sent"]
    assert len(at_standin.delivered) == 1


def test_retries_give_up_after_the_limit_with_a_reason(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    [mid] = queue(fresh_db, 1, phone="+254700000001")
    at_standin.forced_status["+254700000001"] = 500
    Worker(fresh_db, at_gateway, dataclasses.replace(FAST, max_attempts=3)).run(once=True)
    row = rows(fresh_db)[mid]
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.failure_reason == "gave up after 3 attempts: InternalServerError"


def test_retry_waits_for_the_backoff(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    [mid] = queue(fresh_db, 1)
    at_standin.fail_next(1)
    Worker(fresh_db, at_gateway, dataclasses.replace(FAST, backoff_base=60, backoff_cap=60)
           ).run(once=True)
    row = rows(fresh_db)[mid]
    assert (row.status, row.attempts) == ("pending", 1)
    assert "HTTP error" in (row.failure_reason or "")


@pytest.mark.parametrize(("code", "status"), [(403, "failed"), (406, "failed"), (502, "failed"),
                                              (405, "held"), (401, "held")])
def test_recipient_status_decides(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway, at_standin: StandIn,
    code: int, status: str,
) -> None:
    [mid] = queue(fresh_db, 1, phone="+254700000002")
    at_standin.forced_status["+254700000002"] = code
    Worker(fresh_db, at_gateway, FAST).run(once=True)
    row = rows(fresh_db)[mid]
    assert (row.status, row.status_code, row.attempts) == (status, code, 1)
    assert row.failure_reason
    if status == "held":  # tried again later, not now
        assert row.next_attempt_at.replace(tzinfo=None) > utcnow().replace(tzinfo=None) + timedelta(
            minutes=30)


def test_invalid_sender_id_fails_for_good(
    fresh_db: Database, queue: Queue, at_standin: StandIn
) -> None:
    at_standin.invalid_sender_ids.add("BADID")
    gateway = AfricasTalkingGateway("vslaledger", at_standin.api_key, sender_id="BADID",
                                    base_url=at_standin.base_url, timeout=(0.2, 0.2))
    [mid] = queue(fresh_db, 1)
    Worker(fresh_db, gateway, FAST).run(once=True)
    assert (rows(fresh_db)[mid].status, rows(fresh_db)[mid].failure_reason) == ("failed", "InvalidSenderId")


def test_an_unrenderable_payload_is_failed_without_a_send(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    [mid] = queue(fresh_db, 1, kind="postcard")
    Worker(fresh_db, at_gateway, FAST).run(once=True)
    row = rows(fresh_db)[mid]
    assert row.status == "failed" and row.failure_reason.startswith("render:")
    assert at_standin.delivered == []


def test_a_timed_out_send_is_uncertain_and_sent_again_after_the_delay(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    [mid] = queue(fresh_db, 1)
    at_standin.drop_next(1)  # delivered, then no answer
    Worker(fresh_db, at_gateway, dataclasses.replace(FAST, uncertain_delay=3600)).run(once=True)
    assert rows(fresh_db)[mid].status == "uncertain"
    with fresh_db.unit_of_work() as s:  # the delay passes
        s.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
    Worker(fresh_db, at_gateway, FAST).run(once=True)
    row = rows(fresh_db)[mid]
    assert row.status == "sent"
    assert [a.outcome for a in attempts(fresh_db, mid)] == ["uncertain", "sent"]
    # At least once: the member may get it twice, the same text both times.
    assert at_standin.deliveries_of(row.phone, row.text) == 2


def test_rows_left_sending_by_a_dead_worker_are_reclaimed_as_uncertain(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway, at_standin: StandIn,
    stepped_clock: SteppedClock,
) -> None:
    ids = queue(fresh_db, 3)
    claimed = outbox.claim(fresh_db, "dead-worker", 2, FAST)  # claimed, then the worker died
    assert [c.id for c in claimed] == ids[:2]
    if is_postgres():  # no lock file proves the owner dead: the claim is reclaimed once stale
        stepped_clock.advance(FAST.stale_after + 0.1)
    stats = Worker(fresh_db, at_gateway, FAST).run(once=True)
    assert stats["reclaimed"] == 2
    assert {r.status for r in rows(fresh_db).values()} == {"sent"}
    assert [a.outcome for a in attempts(fresh_db, ids[0])] == ["uncertain", "sent"]
    assert "dead-worker stopped while sending" in (attempts(fresh_db, ids[0])[0].reason or "")


@pytest.mark.skipif(is_postgres(), reason="SQLite allows one worker")
def test_a_second_worker_on_sqlite_is_refused(
    fresh_db: Database, at_gateway: AfricasTalkingGateway
) -> None:
    with single_worker(fresh_db) as sole:
        assert sole
        with pytest.raises(WorkerAlreadyRunning, match="another SMS worker"):
            Worker(fresh_db, at_gateway, FAST).run(once=True)
    assert Worker(fresh_db, at_gateway, FAST).run(once=True) == Counter()  # free again


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL: many workers side by side")
def test_two_workers_never_send_the_same_row(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    queue(fresh_db, 400)
    at_standin.delay = 0.005
    # Only claiming is under test here: timeouts long enough and no stale-row reclaiming, so that a
    # loaded machine (a slow send is *uncertain*, and uncertain sends are resent by policy) cannot
    # produce the duplicates this test must see none of.
    patient = AfricasTalkingGateway("vslaledger", at_standin.api_key, base_url=at_standin.base_url,
                                    timeout=(5.0, 5.0))
    settings = dataclasses.replace(FAST, stale_after=600.0)
    workers = [Worker(fresh_db, patient, settings, name=f"w{i}") for i in range(3)]
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not any(w.stats["uncertain"] or w.stats["reclaimed"] for w in workers)
    sent_by = [w.stats["sent"] for w in workers]
    assert sum(sent_by) == 400 and min(sent_by) > 0
    texts = Counter((d.number, d.text) for d in at_standin.delivered)
    assert len(texts) == 400 and max(texts.values()) == 1


def test_the_continuous_worker_stops_on_request(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway, at_standin: StandIn
) -> None:
    worker = Worker(fresh_db, at_gateway, FAST)
    thread = threading.Thread(target=worker.run)
    thread.start()
    queue(fresh_db, 5)
    for _ in range(200):
        if len(at_standin.delivered) == 5:
            break
        threading.Event().wait(0.02)
    worker.stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(at_standin.delivered) == 5


def test_chaos_every_message_ends_sent_or_failed_and_only_uncertain_ones_repeat(
    fresh_db: Database, queue: Queue, at_gateway: AfricasTalkingGateway, at_standin: StandIn,
    capsys: pytest.CaptureFixture[str],
) -> None:
    n = 1000
    ids = queue(fresh_db, n)
    bad = {receipt_row(i)["phone"]: code for i, code in ((7, 403), (77, 406), (777, 502))}
    at_standin.forced_status.update(bad)
    at_standin.chaos(error_rate=0.2, timeout_rate=0.08, sleep=0.3, seed=5)
    stats = Worker(fresh_db, at_gateway, dataclasses.replace(FAST, concurrency=16)).run(once=True)

    final = rows(fresh_db)
    assert len(final) == n and set(final) == set(ids)  # none lost
    by_status = Counter(r.status for r in final.values())
    assert set(by_status) <= {"sent", "failed"}
    assert all(r.failure_reason for r in final.values() if r.status == "failed")
    with fresh_db.unit_of_work(write=False) as s:
        uncertain_ids = set(s.scalars(select(SmsAttempt.outbox_id).where(
            SmsAttempt.outcome == "uncertain")))
        n_attempts = s.scalar(select(func.count()).select_from(SmsAttempt))
    deliveries = Counter((d.number, d.text) for d in at_standin.delivered)
    duplicates = 0
    for r in final.values():
        got = deliveries[(r.phone, r.text)]
        if r.status == "sent":
            assert got >= 1
        if got > 1:
            duplicates += 1
            assert r.id in uncertain_ids  # a repeat only where a timeout left us unsure
    assert {r.phone for r in final.values() if r.status == "failed"} >= set(bad)
    with capsys.disabled():
        print(f"\nchaos: {n} messages, {n_attempts} attempts, sent {by_status['sent']}, "
              f"failed {by_status['failed']}, uncertain {len(uncertain_ids)}, "
              f"duplicates {duplicates}, outcomes {dict(stats)}")
    assert len(uncertain_ids) > 0 and by_status["sent"] >= n - len(bad) - 5

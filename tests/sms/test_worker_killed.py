"""A worker process killed (SIGKILL) in the middle of a batch loses nothing when restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from sms.models import SmsAttempt
from tests.sms.standin import StandIn
from vision_ledger.db import Database
from vision_ledger.models import OutboxMessage

# A heavy system test (kill -9 of a worker process): marked slow, still run by scripts/test.sh.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def worker_env(db: Database, standin: StandIn) -> dict[str, str]:
    return {
        **os.environ,
        "VISION_DATABASE_URL": db.engine.url.render_as_string(hide_password=False),
        "AT_USERNAME": "vslaledger", "AT_API_KEY": standin.api_key,
        "AT_BASE_URL": standin.base_url, "AT_TIMEOUT": "0.5",
        "VISION_SMS_CONCURRENCY": "4", "VISION_SMS_POLL": "0.05",
        "VISION_SMS_BACKOFF_BASE": "0", "VISION_SMS_UNCERTAIN_DELAY": "0",
        "VISION_SMS_STALE_AFTER": "1", "VISION_LOG_LEVEL": "WARNING",
        "NO_PROXY": "127.0.0.1,localhost",
    }


def test_worker_killed_mid_batch_and_restarted_loses_nothing(
    fresh_db: Database, queue: Callable[..., list[int]], at_standin: StandIn,
) -> None:
    n = 300
    queue(fresh_db, n)
    at_standin.delay = 0.02  # ~4 sends in flight at any moment
    env = worker_env(fresh_db, at_standin)
    worker = subprocess.Popen([sys.executable, "-m", "sms.worker"], cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while len(at_standin.delivered) < n // 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    with fresh_db.unit_of_work(write=False) as s:
        at_kill = Counter(s.scalars(select(OutboxMessage.status)))
    assert 0 < at_kill["sent"] < n and at_kill["pending"] > 0

    time.sleep(1.1)  # PostgreSQL: past VISION_SMS_STALE_AFTER (SQLite reclaims at once)
    again = subprocess.run([sys.executable, "-m", "sms.worker", "--once"], cwd=ROOT, env=env,
                           timeout=60, check=False)
    assert again.returncode == 0

    with fresh_db.unit_of_work(write=False) as s:
        final = list(s.scalars(select(OutboxMessage)))
        uncertain = set(s.scalars(select(SmsAttempt.outbox_id).where(
            SmsAttempt.outcome == "uncertain")))
        # Reclaimed: the rows the killed worker had on the wire. The other uncertain attempts are
        # sends that timed out (AT_TIMEOUT 0.5 s: the stand-in answers late on a loaded machine).
        reclaimed = list(s.scalars(select(SmsAttempt.outbox_id).where(
            SmsAttempt.outcome == "uncertain", SmsAttempt.reason.like("worker % stopped while sending%"))))
    assert Counter(r.status for r in final) == {"sent": n}
    deliveries = Counter((d.number, d.text) for d in at_standin.delivered)
    repeated = {r.id for r in final if deliveries[(r.phone, r.text)] > 1}
    assert all(deliveries[(r.phone, r.text)] >= 1 for r in final)
    # Only rows whose send may have gone out (the killed worker's, or a timed-out send) repeat.
    assert repeated <= uncertain
    assert len(reclaimed) == len(set(reclaimed)) == at_kill["sending"]

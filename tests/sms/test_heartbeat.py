"""The worker's liveness: it writes a heartbeat while it runs and says when it stopped;
`vision-ledger sms status` tells an alive worker from a silent one."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta

import pytest

from sms import cli, heartbeat
from sms.gateway import SendResult
from sms.models import WorkerHeartbeat
from sms.settings import Settings
from sms.worker import Worker
from vision_ledger.db import Database, utcnow
from vision_ledger.settings import Settings as InstallationSettings


class Nothing:
    def send(self, message: str, phone: str) -> SendResult:
        raise AssertionError("nothing is due")


def test_a_worker_beats_while_it_runs_and_records_its_stop(db: Database, session) -> None:
    worker = Worker(db, Nothing(), Settings(), name="host-a:101")
    worker.run(once=True)
    row = session.get(WorkerHeartbeat, "host-a:101")
    assert row is not None and row.stopped_at is not None and row.beat_at >= row.started_at


def test_status_shows_alive_and_silent_workers(db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    heartbeat.beat(db, "host-a:1")
    heartbeat.beat(db, "host-b:2")
    with db.unit_of_work() as s:  # host-b went silent two minutes ago (missed 12 beats of 10 s)
        s.get(WorkerHeartbeat, "host-b:2").beat_at = utcnow() - timedelta(minutes=2)
    settings = InstallationSettings()
    assert cli._status(argparse.Namespace(group=None, limit=5, json=False, settings=settings), db) == 0
    out = capsys.readouterr().out
    assert "worker host-a:1: alive" in out
    assert "worker host-b:2: NOT ALIVE (no heartbeat)" in out
    assert cli._status(argparse.Namespace(group=None, limit=5, json=True, settings=settings), db) == 0
    workers = {w["worker"]: w for w in json.loads(capsys.readouterr().out)["workers"]}
    assert workers["host-a:1"]["alive"] is True and workers["host-b:2"]["alive"] is False
    assert workers["host-b:2"]["seconds_since_beat"] >= 119

"""50 identical money-moving requests at once, over real HTTP and real commits: one entry."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from api import create_app
from api.auth import create_token
from tests.conftest import fresh_database_url
from tests.factories import Factory
from vision_ledger.db import Database
from vision_ledger.models import Entry


@pytest.fixture
def served(tmp_path_factory):
    url = fresh_database_url(tmp_path_factory, "idem")
    database = Database(url)
    with database.unit_of_work() as s:
        factory = Factory(s)
        group = factory.ready(start=date.today() - timedelta(weeks=4))
        member = factory.members(group)[0]
        _, secret = create_token(s, role="treasurer", group_id=group.id, name="concurrency")
        meeting = factory.meeting(group, on=date.today())
        ids = {"group": group.id, "meeting": meeting.id, "member": member.id}
    server = make_server("127.0.0.1", 0, create_app({"DATABASE": database}), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", secret, ids, database
    server.shutdown()
    thread.join(5)
    database.engine.dispose()


def test_fifty_concurrent_replays_post_exactly_one_entry(served):
    base, token, ids, database = served
    path = f"{base}/api/groups/{ids['group']}/meetings/{ids['meeting']}/share-purchases"
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "same-key-50"}
    body = {"member_id": ids["member"], "shares": 2}
    start = threading.Barrier(50)

    def one(_: int) -> tuple[int, dict]:
        with requests.Session() as http:
            start.wait()
            r = http.post(path, json=body, headers=headers, timeout=60)
            return r.status_code, r.json()

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(one, range(50)))
    statuses = [status for status, _ in results]
    assert statuses == [201] * 50, statuses
    assert len({b["id"] for _, b in results}) == 1
    with database.unit_of_work(write=False) as s:
        count = s.scalar(select(func.count()).select_from(Entry).where(
            Entry.group_id == ids["group"], Entry.kind == "share_purchase"))
    assert count == 1

"""The read replica, with a real primary and streaming standby (scripts/pg_standby.sh, started
here): heavy reads (measures, flags, verification, exports) come from the standby and say how far
behind it was; the treasurer's and every writing path stay on the primary; /readyz fails while
the standby trails by more than its bound. PostgreSQL runs only."""

from __future__ import annotations

import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from api import create_app
from api.auth import create_token
from migrations import upgrade
from tests.conftest import is_postgres
from tests.factories import Factory
from vision_ledger.db import Database, make_engine

pytestmark = pytest.mark.skipif(not is_postgres(), reason="a streaming standby is PostgreSQL's")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg_standby.sh"


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[str, str]]:
    """(primary URL, standby URL), both migrated; stopped and deleted afterwards. The directory
    is directly under /tmp: the `postgres` user cannot enter pytest's private temporary tree."""
    where = Path(tempfile.gettempdir()) / f"vision-standby.{uuid.uuid4().hex[:12]}"
    out = subprocess.run(["bash", str(SCRIPT), "start", str(where)], check=True, capture_output=True,
                         text=True, timeout=180).stdout.split()
    try:
        upgrade(out[0])
        yield out[0], out[1]
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(where)], check=False, timeout=120)


def _sql(url: str, statement: str) -> object:
    engine = make_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return conn.execute(text(statement)).scalar()
    finally:
        engine.dispose()


def _caught_up(primary: str, standby: str) -> None:
    target = _sql(primary, "SELECT pg_current_wal_lsn()::text")
    deadline = time.monotonic() + 30
    while not _sql(standby, f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
        assert time.monotonic() < deadline, "the standby did not catch up"
        time.sleep(0.05)


def test_heavy_reads_come_from_the_replica_and_writers_see_their_own_writes(pair):
    primary, standby = pair
    db = Database(primary, replica_url=standby)
    with db.unit_of_work() as s:
        factory = Factory(s)
        group = factory.ready(members=10)
        programme_id, group_id = group.programme_id, group.id
        _, auditor = create_token(s, role="auditor", name="auditor", programme_id=programme_id)
        _, admin = create_token(s, role="admin", name="officer", programme_id=programme_id)
    app = create_app({"DATABASE": db, "TESTING": True, "VISION_REPLICA_MAX_LAG": "0.5"})
    client = app.test_client()

    def get(path: str, token: str) -> object:
        return client.get(path, headers={"Authorization": f"Bearer {token}"})

    _caught_up(primary, standby)
    before = get(f"/api/programmes/{programme_id}/measures", auditor)
    assert before.status_code == 200 and before.get_json()["groups"] == 1
    assert float(before.headers["X-Replica-Lag-Seconds"]) < 1 and before.headers["X-Replica-Replay-Lsn"]
    assert client.get("/readyz").get_json()["replica"]["lag_seconds"] < 1

    _sql(standby, "SELECT pg_wal_replay_pause()")  # the standby now trails the primary
    try:
        with db.unit_of_work() as s:  # a write on the primary: a second group
            new_group = Factory(s).group(s.get(type(group), group_id).programme, name="Second VSLA")
            new_id = new_group.id
        time.sleep(0.8)
        stale = get(f"/api/programmes/{programme_id}/measures", auditor)
        assert stale.get_json()["groups"] == 1  # the replica's data, not the primary's
        assert float(stale.headers["X-Replica-Lag-Seconds"]) > 0.5
        assert stale.headers["X-Replica-Replay-Lsn"] == before.headers["X-Replica-Replay-Lsn"]
        exported = get(f"/api/programmes/{programme_id}/export/journal.json", auditor)
        assert exported.status_code == 200 and "X-Replica-Lag-Seconds" in exported.headers
        assert exported.get_json()["entries"] is not None  # read to the end: its session closes
        exported.close()
        # The staff's own path reads the primary: the group it just created is there.
        fresh = get(f"/api/groups/{new_id}", admin)
        assert fresh.status_code == 200 and "X-Replica-Lag-Seconds" not in fresh.headers
        # A verification reads the replica and is kept on the primary (the replica cannot write).
        assert client.post(f"/api/programmes/{programme_id}/verify",
                           headers={"Authorization": f"Bearer {admin}"}).get_json()["groups_checked"] == 1
        assert get(f"/api/programmes/{programme_id}/verify", auditor).status_code == 200
        lagging = client.get("/readyz")
        assert lagging.status_code == 503 and lagging.headers["Retry-After"]
        assert lagging.get_json()["code"] == "health.replica_lagging"
    finally:
        _sql(standby, "SELECT pg_wal_replay_resume()")
    _caught_up(primary, standby)
    after = get(f"/api/programmes/{programme_id}/measures", auditor)
    assert after.get_json()["groups"] == 2
    assert client.get("/readyz").status_code == 200
    db.dispose()

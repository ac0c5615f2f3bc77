"""/healthz says the process answers (without asking the database); /readyz says it can work:
database reachable, schema at every Alembic head. The replica's lag is tested with a real standby
in tests/system/test_replica.py."""

from __future__ import annotations

from api import create_app
from api.health import schema_heads
from migrations import upgrade

from .conftest import assert_problem


def test_liveness_answers_without_the_database(tmp_path):
    app = create_app({"DATABASE": f"sqlite:///{tmp_path}/missing/dir/x.sqlite3", "TESTING": True})
    r = app.test_client().get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok"}


def test_ready_when_the_database_answers_at_the_newest_schema(client):
    r = client.get("/readyz")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["status"] == "ok"
    assert set(body["schema"]) == set(schema_heads()) and "0010_ops" in body["schema"]
    assert "replica" not in body


def test_not_ready_is_a_503_problem_with_retry_after_when_the_database_is_unreachable(tmp_path):
    app = create_app({"DATABASE": f"sqlite:///{tmp_path}/missing/dir/x.sqlite3", "TESTING": True})
    r = app.test_client().get("/readyz")
    assert_problem(r, 503, "health.database_unreachable")
    assert r.headers["Retry-After"] == "5"
    assert "missing" not in r.get_data(as_text=True)  # no path, URL or error text for strangers


def test_not_ready_while_the_schema_is_behind_the_code(tmp_path):
    url = f"sqlite:///{tmp_path}/old.sqlite3"
    upgrade(url, "0003_indexes")
    app = create_app({"DATABASE": url, "TESTING": True})
    r = app.test_client().get("/readyz")
    body = assert_problem(r, 503, "health.schema_not_current")
    assert "0010_ops" in body["facts"]["missing"]
    assert r.headers["Retry-After"]
    app.config["DATABASE"].dispose()

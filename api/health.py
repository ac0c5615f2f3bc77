"""Health for load balancers and orchestrators: `/healthz` (the process answers) and `/readyz`
(it can do its work: the database answers, its schema is at every Alembic head, and the read
replica, when one is configured, is reachable and no further behind than the bound).

Neither says anything a stranger could use: no URL, host name, version or error text (the log has
those); a failed check is a 503 problem naming the check, with Retry-After.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from vision_ledger.db import database_of, replica_status
from vision_ledger.settings import settings_of

from . import problems

log = logging.getLogger("api")

blueprint = Blueprint("health", __name__)

RETRY_AFTER = "5"


@cache
def schema_heads() -> frozenset[str]:
    """The revisions a database at the newest schema carries (every branch head)."""
    # Read once, at the first readiness probe: the app itself never loads Alembic otherwise.
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    from migrations import alembic_config  # noqa: PLC0415

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process is alive and answering; asks nothing of the database."""
    return jsonify({"status": "ok"})


def _not_ready(check: str, detail: str, **facts: Any) -> Response:
    return problems.problem(503, f"health.{check}", detail, facts=facts or None,
                            headers={"Retry-After": RETRY_AFTER})


@blueprint.get("/readyz")
def readyz() -> Response:
    """Ready to serve: database reachable, schema at the heads, replica lag under the bound."""
    db = database_of(current_app.config)
    try:
        with db.unit_of_work(write=False) as s:
            found = frozenset(s.scalars(text("SELECT version_num FROM alembic_version")))
    except Exception:  # any failure means "not ready"; the log says why
        log.exception("readiness: the database is not reachable (request %s)", problems.request_id())
        return _not_ready("database_unreachable", "The database is not reachable")
    expected = schema_heads()
    if found != expected:
        return _not_ready("schema_not_current", "The database schema is not at the newest revision; "
                          "run `vision-ledger migrate`", missing=sorted(expected - found),
                          unknown=sorted(found - expected))
    body: dict[str, Any] = {"status": "ok", "database": db.dialect, "schema": sorted(found)}
    if db.replica_engine is not None:
        bound = settings_of(current_app.config).replica_max_lag
        try:
            with db.read_session() as s:
                status = replica_status(s)
        except Exception:
            log.exception("readiness: the read replica is not reachable (request %s)",
                          problems.request_id())
            return _not_ready("replica_unreachable", "The read replica is not reachable")
        if status.lag_seconds > bound:
            return _not_ready("replica_lagging", "The read replica is too far behind the primary",
                              lag_seconds=round(status.lag_seconds, 3), bound_seconds=bound)
        body["replica"] = {"lag_seconds": round(status.lag_seconds, 3), "replay_lsn": status.replay_lsn}
    return jsonify(body)

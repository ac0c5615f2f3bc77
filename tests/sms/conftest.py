"""Fixtures of the SMS door's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, Response, g, jsonify
from flask_smorest import Api
from sqlalchemy.orm import Session

from api.problems import domain_status
from api.views.outbox import blp as admin_blp
from sms.gateway import AfricasTalkingGateway
from sms.settings import Settings
from sms.web import blueprint
from tests.conftest import fresh_database_url
from tests.factories import Factory
from tests.sms.standin import StandIn
from vision_ledger.actors import Actor
from vision_ledger.db import Database
from vision_ledger.errors import DomainError
from vision_ledger.models import OutboxMessage
from vision_ledger.settings import Settings as InstallationSettings

SECRET = "s3cret-callback-path"
TIMEOUT = (0.2, 0.2)
# No waiting in tests: retries and uncertain resends fall due at once.
FAST = Settings(concurrency=8, poll=0.02, max_attempts=8, backoff_base=0.0, backoff_cap=0.0,
                held_delay=3600.0, uncertain_delay=0.0, stale_after=0.5, jobs_every=3600.0)


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep requests off any proxy from the environment: these tests talk to 127.0.0.1 only."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def at_standin() -> Iterator[StandIn]:
    """Yield a started Africa's Talking SMS stand-in on 127.0.0.1; stop it afterwards."""
    with StandIn() as server:
        yield server


@pytest.fixture
def at_gateway(at_standin: StandIn) -> AfricasTalkingGateway:
    """The real SDK pointed at the stand-in, with short timeouts."""
    return AfricasTalkingGateway("vslaledger", at_standin.api_key, base_url=at_standin.base_url,
                                 timeout=TIMEOUT)


@pytest.fixture
def fresh_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A Database on a new migrated database of the suite's kind, with real commits."""
    db = Database(fresh_database_url(tmp_path_factory, "sms"))
    yield db
    db.engine.dispose()


@pytest.fixture
def queue() -> Callable[..., list[int]]:
    """queue(db, n, **row): insert n pending receipts (one distinct phone each); return their ids."""

    def make(db: Database, n: int, start: int = 0, **row: Any) -> list[int]:
        with db.unit_of_work() as s:
            rows = [OutboxMessage(**{**receipt_row(start + i), **row}) for i in range(n)]
            s.add_all(rows)
            s.flush()
            return [r.id for r in rows]

    return make


def receipt_row(i: int) -> dict[str, Any]:
    return {
        "phone": f"+2547{i:08d}", "language": ("en", "sw", "ar")[i % 3], "kind": "receipt",
        "status": "pending", "attempts": 0,
        "payload": {"group": "Umoja VSLA", "currency": "KES", "member": "Asha", "member_number": 1,
                    "kind": "share_purchase", "shares": 1 + i % 5, "amount": 10000 * (1 + i % 5),
                    "total_shares": 10 + i, "savings": 100000 + 10000 * i, "date": "2024-11-21",
                    "seq": i + 1},
    }


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    """make_app(db) -> a minimal Flask app with the SMS blueprints; set app.config["ACTOR"]."""

    def build(db: Database, actor: Actor | None = None) -> Flask:
        app = Flask("sms-tests")
        app.config.update(DATABASE=db, SETTINGS=InstallationSettings(sms_secret=SECRET), ACTOR=actor,
                          TESTING=True, API_TITLE="sms", API_VERSION="1", OPENAPI_VERSION="3.0.3")

        @app.before_request
        def _actor() -> None:
            g.actor = app.config["ACTOR"]

        @app.errorhandler(DomainError)
        def _domain(exc: DomainError) -> tuple[Response, int]:
            return jsonify({"code": exc.code}), domain_status(exc)

        app.register_blueprint(blueprint)
        Api(app).register_blueprint(admin_blp)
        return app

    return build


@pytest.fixture
def committed(fresh_db: Database) -> Iterator[tuple[Session, Factory]]:
    """A session on fresh_db and a Factory on it (commit to make rows visible to the worker)."""
    s = fresh_db.session()
    yield s, Factory(s)
    s.close()

"""The application factory: configuration, the database, error pages, and every blueprint
registered in one visible place."""

from __future__ import annotations

import http
import logging
import os
import re
import time
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import Flask, Response, g, has_request_context, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response

from sms.heartbeat import HEARTBEAT_GAUGE
from sms.web import blueprint as sms_blueprint
from ussd.web import blueprint as ussd_blueprint
from vision_ledger import currencies, pins
from vision_ledger.db import Database
from vision_ledger.obs import logs
from vision_ledger.settings import VARIABLES, Settings, settings_of

from . import console, health, idempotency, problems
from . import session as request_session
from .audit import blp as audit_blp
from .schemas.common import Change, ProblemSchema
from .views import books, groups, imports, indicators, meetings, outbox, programmes

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

log = logging.getLogger("api")
request_log = logging.getLogger("api.request")


class LedgerApi(Api):
    """flask-smorest's Api, documenting errors as what they are: problem+json documents."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_RESPONSE_CONTENT_TYPE = "application/json"

    def _register_error_handlers(self) -> None:
        """Errors are answered by `api.problems` (installed by the factory), not as smorest's JSON."""

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            if status < 400:
                continue
            response = {"description": f"{status.phrase}: a problem document (RFC 9457)",
                        "schema": self.ERROR_SCHEMA}
            prepare_response(response, self.spec, problems.PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "A problem document (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, problems.PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


def _decimal_as_string(self: Any, field: Any, ret: dict[str, Any], **_: Any) -> dict[str, Any]:
    """Decimal fields, documented as they travel: a Decimal dumped as a string is a string (apispec
    says "number"), and bounds are JSON numbers (apispec writes Decimal bounds as strings)."""
    if not isinstance(field, ma.fields.Decimal):
        return {}
    if getattr(field, "as_string", False):
        for bound in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            ret.pop(bound, None)
        return {"type": "string", "format": "decimal"}
    out: dict[str, Any] = {}
    for bound in ("minimum", "maximum"):
        value = ret.get(bound)
        if value is not None and not isinstance(value, int | float):
            number = Decimal(str(value))
            out[bound] = int(number) if number == number.to_integral_value() else float(number)
    return out


def _settings(config: Mapping[str, Any]) -> Settings:
    """`config["SETTINGS"]` when given; else the environment's, read here once, where a test's
    dict may replace single variables (`{"VISION_METRICS": "on"}`)."""
    given = config.get("SETTINGS")
    if given is not None:
        return settings_of(config)
    overrides = {name: str(value) for name, value in config.items() if name in VARIABLES}
    return Settings.from_env({**os.environ, **overrides})


def _request_id_of_this_request() -> str | None:
    return g.get("request_id") if has_request_context() else None


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the WSGI application.

    Settings (`vision_ledger.settings.Settings`, kept in `config["SETTINGS"]`) are read from the
    environment once, here, unless `config` (a test's dict) gives them; its VISION_* keys replace
    single variables. `DATABASE` may be a ready `vision_ledger.db.Database` (tests pass their
    fixture) or a URL; otherwise one is made from VISION_DATABASE_URL or the embedded SQLite default.
    Raises SettingsError naming a variable whose value cannot be used.
    """
    app = Flask("api")
    app.config.update(
        API_TITLE="VISION Ledger",
        API_VERSION="1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=1024 * 1024,
        API_SPEC_OPTIONS={
            "info": {"description": "The books of village savings groups (VSLAs): programmes, groups, "
                                    "members, cycles, meetings, loans, share-out and the journal."},
            "components": {"securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "A token from `vision-ledger token create`"}}},
            "security": [{"bearerAuth": []}],
        },
    )
    app.config.update(config or {})
    settings = app.config["SETTINGS"] = _settings(app.config)
    if settings.secret_key:
        app.config["SECRET_KEY"] = settings.secret_key
    if settings.pin_pepper:
        pins.configure(settings.pin_pepper, settings.pin_pepper_previous)
    logs.install()
    logs.use_request_ids(_request_id_of_this_request)
    logs.remember_secret(*settings.secrets())

    database = app.config.get("DATABASE")
    if database is None or isinstance(database, str):
        database = Database(database or settings.database_url, replica_url=settings.database_replica_url)
    app.config["DATABASE"] = database  # the one place every door (API, USSD, SMS) finds it
    currencies.install(database)  # amounts read and written with the installation's digits

    @app.before_request
    def _request_id() -> None:
        g.started_at = time.perf_counter()
        given = request.headers.get("X-Request-Id", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex

    request_session.install(app, before_commit=idempotency.store,
                            after_clash=idempotency.replay_after_race)
    problems.register(app)
    if settings.metrics:
        # prometheus_client picks its storage when first imported: only once `serve` set it up.
        from . import observability  # noqa: PLC0415

        observability.install(app, gauges=[HEARTBEAT_GAUGE])  # the SMS workers' heartbeats
    app.register_blueprint(health.blueprint)

    api = LedgerApi(app)
    api.ma_plugin.converter.add_attribute_function(_decimal_as_string)
    register_blueprints(app, api)
    document_changes(api)

    @app.after_request
    def _log_request(response: Response) -> Response:
        """One line per request: its route template (never the raw path, which may hold a
        callback secret or ids; a callback's secret placeholder written ***), status and
        duration, with the request id."""
        started = g.get("started_at")
        rule = logs.mask(request.url_rule.rule) if request.url_rule is not None else "unmatched"
        request_log.info("%s %s %s", request.method, rule, response.status_code, extra={
            "event": "request", "method": request.method, "route": rule,
            "status": response.status_code,
            "ms": round((time.perf_counter() - started) * 1000, 1) if started else None})
        return response

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        response.headers.setdefault("X-Request-Id", g.get("request_id", ""))
        return response

    return app


def document_changes(api: Api) -> None:
    """A PATCH body must change something (schemas.common.Change refuses an empty one): the
    document says so with minProperties, so clients and fuzzers know an empty object is invalid."""
    converter = next(p.converter for p in api.spec.plugins if getattr(p, "converter", None))
    for key, name in converter.refs.items():
        component = api.spec.components.schemas.get(name)
        if issubclass(key[0], Change) and component is not None:
            component["minProperties"] = 1


def register_blueprints(app: Flask, api: Api) -> None:
    """Every blueprint of the service, here and nowhere else."""
    for module in (programmes, groups, meetings, books, imports, indicators):
        api.register_blueprint(module.blp)

    # The other doors: the USSD and SMS callbacks are plain Flask blueprints (AT posts forms, not
    # JSON, and they stay out of the OpenAPI document); audit and the outbox are API resources.
    api.register_blueprint(audit_blp)
    api.register_blueprint(outbox.blp)
    app.register_blueprint(ussd_blueprint)
    app.register_blueprint(sms_blueprint)

    console.register(app)  # the staff console: HTML pages under /console

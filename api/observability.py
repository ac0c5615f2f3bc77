"""Metrics in Prometheus' text format: the service's own counters and histograms, plus what the
database says at scrape time (outbox depth and the age of its oldest unsent message, the last
verification of each programme, the SMS workers' heartbeats).

Where it is served, and to whom: `/metrics` exists only with `VISION_METRICS=on`, and answers only
a peer whose socket address is in `VISION_METRICS_ALLOW` (CIDRs; default loopback) and whose
request was not relayed by a proxy (no `X-Forwarded-For` / `Forwarded` header); anyone else gets
the same 404 as any unknown path. One port rather than a second listener: under gunicorn every
worker process writes its samples to the multiprocess directory `serve` prepares, and any worker
can answer a scrape by reading them all, so nothing but the app has to run. A reverse proxy on the
same host connects from loopback, so its relayed requests are refused by the header test: keep
`/metrics` out of the proxy's locations too (README, Production).

Labels are fixed vocabularies: a route template (`/api/groups/<int:group_id>/meetings`, never the
path, which holds ids and the callback secrets), a method, a status code, an entry kind, an AT
status code. No phone number, token, PIN or secret is ever a label or a value.

The core reports through `vision_ledger.telemetry` and never imports this module.
"""

from __future__ import annotations

import ipaddress
import os
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from flask import Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from vision_ledger import telemetry
from vision_ledger.db import Database, utcnow

from .server import MULTIPROC_ENV, metrics_enabled

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

ENTRIES = Counter("vision_entries_posted_total", "Journal entries committed, by kind.", ["kind"])
REQUESTS = Histogram("vision_http_request_duration_seconds",
                     "Time to answer an HTTP request, by route template, method and status.",
                     ["route", "method", "status"], buckets=LATENCY_BUCKETS)
USSD_HOPS = Histogram("vision_ussd_hop_duration_seconds",
                      "Time to answer one USSD hop (AT's callback), by route template and whether the "
                      "session goes on (CON) or ends (END).", ["route", "reply"], buckets=LATENCY_BUCKETS)
SMS_SENDS = Counter("vision_sms_sends_total",
                    "Sends to Africa's Talking, by outcome and AT's per-recipient status code.",
                    ["outcome", "status_code"])
PIN_LOCKOUTS = Counter("vision_pin_lockouts_total", "PINs locked after too many wrong tries.")
VERIFICATION_FAILURES = Counter("vision_verification_failures_total",
                                "Groups whose books failed a verification run in this process.")
INVARIANT_FAULTS = Counter("vision_invariant_faults_total",
                           "The core caught itself breaking one of its own rules, by rule.", ["code"])

_COUNTERS = {"entries_posted": ENTRIES, "sms_sends": SMS_SENDS, "pin_lockouts": PIN_LOCKOUTS,
             "verification_failures": VERIFICATION_FAILURES, "invariant_faults": INVARIANT_FAULTS}

UNSENT = ("pending", "sending", "uncertain", "held")  # in the outbox, not yet handed to AT for good
HEARTBEAT_STALE_SECONDS = 60.0


def _sink(event: str, labels: dict[str, str], value: float) -> None:
    counter = _COUNTERS.get(event)
    if counter is not None:
        (counter.labels(**labels) if labels else counter).inc(value)


def subscribe() -> None:
    """Turn the core's telemetry events into this process's counters (idempotent)."""
    telemetry.subscribe(_sink)


def install(app: Flask) -> None:
    """With VISION_METRICS=on: time every request and serve `/metrics` to the allow-list."""
    if not metrics_enabled(app.config):
        return
    subscribe()
    allow = [ipaddress.ip_network(part.strip(), strict=False)
             for part in str(app.config.get("VISION_METRICS_ALLOW", "127.0.0.1/32,::1/128")).split(",")
             if part.strip()]

    @app.before_request
    def _note_route() -> None:
        rule = request.url_rule
        request.environ[_ROUTE] = rule.rule if rule is not None else "(unmatched)"

    @app.after_request
    def _note_ussd_reply(response: Response) -> Response:
        if request.blueprint == "ussd" and not response.direct_passthrough:
            reply = response.get_data()[:3].decode("ascii", "replace")
            request.environ[_USSD_REPLY] = reply if reply in ("CON", "END") else "other"
        return response

    app.wsgi_app = _Timed(app.wsgi_app)  # type: ignore[method-assign]

    @app.get("/metrics", endpoint="metrics")
    def metrics() -> Response:
        if not _allowed(allow):
            abort(404)
        registry = scrape_registry(current_app.config["DATABASE"])
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


_ROUTE = "vision.metrics.route"
_USSD_REPLY = "vision.metrics.ussd_reply"


class _Timed:
    """WSGI middleware: the whole request, the unit of work's commit included (it happens in an
    after_request hook), until the response is handed to the server."""

    def __init__(self, wsgi_app: Any) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        status: list[str] = []

        def _start(code: str, headers: Any, exc_info: Any = None) -> Any:
            status.append(code.split(" ", 1)[0])
            return start_response(code, headers, exc_info)

        result = self.wsgi_app(environ, _start)
        route = environ.get(_ROUTE, "(unmatched)")
        if route != "/metrics":
            seconds = time.perf_counter() - started
            REQUESTS.labels(route=route, method=environ.get("REQUEST_METHOD", "?"),
                            status=status[0] if status else "?").observe(seconds)
            reply = environ.get(_USSD_REPLY)
            if reply is not None:
                USSD_HOPS.labels(route=route, reply=reply).observe(seconds)
        return result


def _allowed(allow: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded"):
        return False  # relayed by a proxy: the peer address is the proxy's, not the caller's
    try:
        peer = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(peer in net for net in allow)


class _ProcessCollector(Collector):
    """This process's own registry, re-exported into a scrape's registry."""

    def collect(self) -> Iterable[Any]:
        return REGISTRY.collect()


def scrape_registry(db: Database) -> CollectorRegistry:
    """What one scrape reports: every gunicorn worker's samples (multiprocess mode) or this
    process's, and the database's figures read now."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessCollector())
    registry.register(DatabaseCollector(db))
    return registry


class DatabaseCollector(Collector):
    """Figures read from the database at scrape time, so that every process reports the same."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[Any]:
        from sms.models import WorkerHeartbeat
        from vision_ledger.models import OutboxMessage, VerificationRun

        up = GaugeMetricFamily("vision_database_up", "1 when the primary database answered this scrape.")
        try:
            with self.db.unit_of_work(write=False) as s:
                now = utcnow()
                counts = dict(s.execute(select(OutboxMessage.status, func.count())
                                        .group_by(OutboxMessage.status)).all())
                oldest = s.scalar(select(func.min(OutboxMessage.created_at))
                                  .where(OutboxMessage.status.in_(UNSENT)))
                latest = (select(VerificationRun.programme_id,
                                 func.max(VerificationRun.id).label("id"))
                          .group_by(VerificationRun.programme_id).subquery())
                runs = s.execute(select(VerificationRun).join(latest, latest.c.id == VerificationRun.id)
                                 .order_by(VerificationRun.programme_id)).scalars().all()
                beats = s.scalars(select(WorkerHeartbeat).where(WorkerHeartbeat.stopped_at.is_(None))).all()
        except Exception:  # the scrape still answers, saying the database did not
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("vision_outbox_messages", "Outbox messages by status.", labels=["status"])
        for status in ("pending", "sending", "uncertain", "held", "failed"):
            depth.add_metric([status], counts.get(status, 0))
        yield depth
        age = GaugeMetricFamily("vision_outbox_oldest_unsent_age_seconds",
                                "Age of the oldest message not yet sent (pending, sending, uncertain, "
                                "held); 0 when there is none.")
        age.add_metric([], _age(now, oldest))
        yield age
        failed = GaugeMetricFamily("vision_verification_last_failed_groups",
                                   "Groups that failed the programme's latest verification run.",
                                   labels=["programme_id"])
        when = GaugeMetricFamily("vision_verification_last_run_timestamp_seconds",
                                 "When the programme's latest verification run finished (Unix time).",
                                 labels=["programme_id"])
        for run in runs:
            failed.add_metric([str(run.programme_id)], run.failed_groups)
            when.add_metric([str(run.programme_id)], _aware(run.finished_at).timestamp())
        yield failed
        yield when
        beat = GaugeMetricFamily("vision_worker_heartbeat_age_seconds",
                                 "Seconds since each running SMS worker last wrote its heartbeat.",
                                 labels=["worker"])
        for b in beats:
            beat.add_metric([b.worker], _age(now, b.beat_at))
        yield beat


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _age(now: datetime, moment: datetime | None) -> float:
    return 0.0 if moment is None else max(0.0, (now - _aware(moment)).total_seconds())


# --- the SMS worker's own exporter -------------------------------------------------------------------


def start_worker_exporter(db: Database, port: int, addr: str = "127.0.0.1") -> threading.Thread:
    """Serve the worker's metrics (its sends, verification failures, and the database figures) on
    a port of its own; returns the server thread."""
    from prometheus_client import start_http_server

    subscribe()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessCollector())
    registry.register(DatabaseCollector(db))
    _server, thread = start_http_server(port, addr=addr, registry=registry)
    return thread


__all__ = ["DatabaseCollector", "install", "scrape_registry", "start_worker_exporter", "subscribe"]

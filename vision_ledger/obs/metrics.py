"""Prometheus metrics: the service's own counters and histograms, plus what the database says at
scrape time (outbox depth and the age of its oldest unsent message, the last verification of each
programme, and whatever gauges a door adds: the SMS workers' heartbeats).

Labels are fixed vocabularies: a route template (`/api/groups/<int:group_id>/meetings`, never the
path, which holds ids and the callback secrets), a method, a status code, an entry kind, an AT
status code. No phone number, token, PIN or secret is ever a label or a value.

Importing this module imports prometheus_client, which picks its storage then: `serve` sets
PROMETHEUS_MULTIPROC_DIR first (see `vision_ledger.obs`). The core reports through
`vision_ledger.telemetry` and never imports this module; `api.observability` serves `/metrics`,
the SMS worker runs `start_exporter` on a port of its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from vision_ledger import telemetry
from vision_ledger.db import Database, utcnow
from vision_ledger.models import OutboxMessage, VerificationRun

from . import MULTIPROC_ENV, Gauge

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


def _sink(event: str, labels: dict[str, str], value: float) -> None:
    counter = _COUNTERS.get(event)
    if counter is not None:
        (counter.labels(**labels) if labels else counter).inc(value)


def subscribe() -> None:
    """Turn the core's telemetry events into this process's counters (idempotent)."""
    telemetry.subscribe(_sink)


class _ProcessCollector(Collector):
    """This process's own registry, re-exported into a scrape's registry."""

    def collect(self) -> Iterable[Any]:
        return REGISTRY.collect()


def scrape_registry(db: Database, gauges: Sequence[Gauge] = ()) -> CollectorRegistry:
    """What one scrape reports: every gunicorn worker's samples (multiprocess mode) or this
    process's, and the database's figures read now."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        # prometheus_client leaves this __init__ unannotated (registry: CollectorRegistry, path: str | None)
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessCollector())
    registry.register(DatabaseCollector(db, gauges))
    return registry


class DatabaseCollector(Collector):
    """Figures read from the database at scrape time, so that every process reports the same."""

    def __init__(self, db: Database, gauges: Sequence[Gauge] = ()) -> None:
        self.db = db
        self.gauges = tuple(gauges)

    def collect(self) -> Iterator[Any]:
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
                extra = [(gauge, gauge.read(s, now)) for gauge in self.gauges]
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
        for gauge, rows in extra:
            family = GaugeMetricFamily(gauge.name, gauge.documentation, labels=list(gauge.labels))
            for labels, value in rows:
                family.add_metric(labels, value)
            yield family


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _age(now: datetime, moment: datetime | None) -> float:
    return 0.0 if moment is None else max(0.0, (now - _aware(moment)).total_seconds())


# --- an exporter of its own (the SMS worker) ---------------------------------------------------


def start_exporter(db: Database, port: int, addr: str = "127.0.0.1",
                   gauges: Sequence[Gauge] = ()) -> threading.Thread:
    """Serve this process's metrics (the SMS worker's sends, verification failures, and the
    database figures) on a port of its own; returns the server thread."""
    subscribe()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessCollector())
    registry.register(DatabaseCollector(db, gauges))
    _server, thread = start_http_server(port, addr=addr, registry=registry)
    return thread

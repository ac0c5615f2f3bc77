"""/metrics: Prometheus' text format, only with VISION_METRICS=on and only to the allow-list;
latency by route template (never the path, which holds ids and the callback secrets); the
outbox's depth and age read at scrape time; the core's events (entries, PIN lockouts, invariant
faults) counted through vision_ledger.telemetry."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from prometheus_client import REGISTRY

from api import create_app
from sms import heartbeat
from sms.heartbeat import HEARTBEAT_GAUGE
from vision_ledger import ledger, pins, savings
from vision_ledger.db import utcnow
from vision_ledger.errors import DomainError
from vision_ledger.models import OutboxMessage
from vision_ledger.obs import metrics as observability

USSD_SECRET = "path-secret-7f3a"
PHONE = "+254799123456"


@pytest.fixture
def metrics_app(db):
    return create_app({"DATABASE": db, "TESTING": True, "VISION_METRICS": "on",
                       "VISION_USSD_SECRET": USSD_SECRET})


def _scrape(app, **kw):
    r = app.test_client().get("/metrics", **kw)
    return r.status_code, r.get_data(as_text=True)


def _value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_are_off_unless_switched_on(app):
    assert app.test_client().get("/metrics").status_code == 404


def test_only_the_allow_list_and_never_a_proxied_request_may_scrape(metrics_app, db):
    assert _scrape(metrics_app)[0] == 200  # the test client is 127.0.0.1
    assert _scrape(metrics_app, environ_base={"REMOTE_ADDR": "10.1.2.3"})[0] == 404
    assert _scrape(metrics_app, headers={"X-Forwarded-For": "127.0.0.1"})[0] == 404
    assert _scrape(metrics_app, headers={"Forwarded": "for=127.0.0.1"})[0] == 404
    wider = create_app({"DATABASE": db, "TESTING": True, "VISION_METRICS": "on",
                        "VISION_METRICS_ALLOW": "10.1.0.0/16"})
    assert _scrape(wider, environ_base={"REMOTE_ADDR": "10.1.2.3"})[0] == 200
    assert _scrape(wider)[0] == 404  # loopback is no longer on the list


def test_latency_is_by_route_template_and_no_secret_id_or_phone_is_exported(metrics_app, factory):
    group = factory.ready(members=10)
    client = metrics_app.test_client()
    client.get(f"/api/groups/{group.id}/measures")  # 401 without a token: still timed
    body = urlencode({"sessionId": "ATUid_x1", "serviceCode": "*384*1#", "phoneNumber": PHONE,
                      "networkCode": "63902", "text": ""})
    hop = client.post(f"/ussd/{USSD_SECRET}", data=body, content_type="application/x-www-form-urlencoded")
    assert hop.status_code == 200
    status, text = _scrape(metrics_app)
    assert status == 200
    assert 'route="/api/groups/<int(min=1, max=999999999999):group_id>/measures"' in text
    assert 'vision_http_request_duration_seconds_count{method="POST",route="/ussd/<secret>"' in text
    reply = hop.get_data(as_text=True)[:3]
    assert f'vision_ussd_hop_duration_seconds_count{{reply="{reply}",route="/ussd/<secret>"}}' in text
    for secret in (USSD_SECRET, PHONE, PHONE.lstrip("+"), f"/api/groups/{group.id}/"):
        assert secret not in text


def test_outbox_depth_and_the_age_of_the_oldest_unsent_message(metrics_app, factory, session):
    group = factory.ready(members=10)
    session.add(OutboxMessage(group_id=group.id, phone=PHONE, language="en", kind="receipt", payload={},
                              status="pending", created_at=utcnow() - timedelta(minutes=12)))
    session.add(OutboxMessage(group_id=group.id, phone=PHONE, language="en", kind="receipt", payload={},
                              status="held", created_at=utcnow() - timedelta(minutes=3)))
    session.commit()
    text = _scrape(metrics_app)[1]
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
               if line.startswith("vision_outbox")}
    assert samples['vision_outbox_messages{status="pending"}'] >= 1
    assert samples['vision_outbox_messages{status="held"}'] >= 1
    assert 12 * 60 <= samples["vision_outbox_oldest_unsent_age_seconds"] < 13 * 60 + 30
    assert PHONE not in text and "vision_database_up 1.0" in text


def test_entries_are_counted_by_kind_when_they_commit(metrics_app, factory, session):
    group = factory.ready(members=10)
    factory.meeting(group)
    member = factory.members(group)[1]
    session.commit()
    before = _value("vision_entries_posted_total", kind="share_purchase")
    savings.buy_shares(session, factory.treasurer(group), group, member, 1)
    session.rollback()  # rolled back: never counted
    assert _value("vision_entries_posted_total", kind="share_purchase") == before
    savings.buy_shares(session, factory.treasurer(group), group, member, 2)
    session.commit()
    assert _value("vision_entries_posted_total", kind="share_purchase") == before + 1
    assert 'vision_entries_posted_total{kind="share_purchase"}' in _scrape(metrics_app)[1]


def test_a_pin_lockout_and_an_invariant_fault_are_counted(metrics_app, factory):
    group = factory.ready(members=10)
    member = factory.members(group)[1]
    pins.set_initial_pin(member, "2468")
    locked = _value("vision_pin_lockouts_total")
    for _ in range(3):
        with pytest.raises(DomainError):
            pins.check_pin(member, "1111")
    assert _value("vision_pin_lockouts_total") == locked + 1
    faults = _value("vision_invariant_faults_total", code="ledger.post_without_lock")
    factory.session.commit()  # a new transaction holds no group lock
    with pytest.raises(RuntimeError, match="lock_group"):
        ledger.post(factory.session, group, factory.treasurer(group), kind="grant", lines=[],
                    request={}, effective_date=utcnow().date())
    assert _value("vision_invariant_faults_total", code="ledger.post_without_lock") == faults + 1
    text = _scrape(metrics_app)[1]
    assert "vision_pin_lockouts_total" in text and "2468" not in text


def test_the_worker_exports_its_sends_on_its_own_port(db, factory):
    import socket
    import urllib.request

    from vision_ledger import telemetry

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    observability.start_exporter(db, port, gauges=[HEARTBEAT_GAUGE])
    heartbeat.beat(db, "host-a:1")
    telemetry.sms_send("failed", 403)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'vision_sms_sends_total{outcome="failed",status_code="403"}' in text
    assert "vision_outbox_oldest_unsent_age_seconds" in text
    assert 'vision_worker_heartbeat_age_seconds{worker="host-a:1"}' in text

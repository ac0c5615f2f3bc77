"""Secrets out of logs: the callback secrets, API tokens and keys never reach a log line."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from api import create_app
from tests.conftest import SUITE_SECRETS, find_leaks, fresh_database_url
from vision_ledger.obs.logs import mask


def test_log_records_are_masked_wherever_they_are_made(db, caplog):
    create_app({"DATABASE": db, "VISION_USSD_SECRET": "s3cret-ussd-of-this-test",
                "VISION_SMS_SECRET": "s3cret-sms-of-this-test"})
    token = "vl_" + "A1b2C3d4" * 5
    with caplog.at_level(logging.INFO):
        logging.getLogger("werkzeug").info('127.0.0.1 - - "POST /ussd/%s HTTP/1.1" 200 -',
                                           "s3cret-ussd-of-this-test")
        logging.getLogger("anything").warning("token %s in %s", token, "Authorization: Bearer " + token)
        logging.getLogger("sms").error("delivery at /sms/s3cret-sms-of-this-test/delivery failed")
        logging.getLogger("config").info("the key is %s", "s3cret-sms-of-this-test")
    text = caplog.text
    assert "s3cret" not in text and token not in text
    assert "/ussd/***" in text and "/sms/***/delivery" in text and "vl_***" in text
    assert find_leaks(text) == []


def test_masking_keeps_what_is_not_secret():
    line = 'GET /api/groups/12/journal?limit=50 HTTP/1.1" 200 File "/work/sms/web.py", line 3'
    assert mask(line) == line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_access_log_of_the_served_app_carries_no_secret(tmp_path_factory, tmp_path: Path):
    """`vision-ledger serve` under gunicorn: the access log names the callbacks with *** for the
    secret, and no line of its output holds a secret or a token."""
    url = fresh_database_url(tmp_path_factory, "accesslog")
    port = _free_port()
    out = tmp_path / "serve.log"
    env = {**os.environ, "VISION_USSD_SECRET": "demo-ussd", "VISION_SMS_SECRET": "demo-sms",
           "AT_API_KEY": "at-api-key-of-the-tests"}
    with out.open("w") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "--database", url, "serve", "--port", str(port),
             "--workers", "1", "--threads", "2"], stdout=sink, stderr=subprocess.STDOUT, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 180  # migrate + gunicorn start, slow on a loaded machine
            while True:
                try:
                    requests.get(f"{base}/healthz", timeout=30)
                    break
                except requests.ConnectionError:
                    assert server.poll() is None, out.read_text()
                    assert time.monotonic() < deadline, "the server did not start: " + out.read_text()
                    time.sleep(0.2)
            form = {"sessionId": "ATUid_x1", "serviceCode": "*384#", "phoneNumber": "+254700000009",
                    "networkCode": "63902", "text": ""}
            assert requests.post(f"{base}/ussd/demo-ussd", data=form, timeout=60).status_code == 200
            requests.post(f"{base}/sms/demo-sms/inbound", data={"from": "+254700000009", "text": "BAL",
                                                               "id": "x1"}, timeout=60)
            requests.get(f"{base}/api/me", headers={"Authorization": "Bearer vl_" + "Z" * 43},
                         timeout=60)
        finally:
            server.terminate()
            server.wait(timeout=30)
    log = out.read_text()
    assert "POST /ussd/*** " in log and "POST /sms/***/inbound" in log, log
    # The application's own lines are JSON: one per request (by route template, with the request
    # id the response carried) and one per USSD hop; no full phone number in any of them.
    lines = [json.loads(x) for x in log.splitlines() if x.startswith("{")]
    requests_seen = {x["route"]: x for x in lines if x.get("event") == "request"}
    assert {"/ussd/***", "/sms/***/inbound", "/api/me"} <= set(requests_seen), lines
    assert requests_seen["/api/me"]["status"] == 401 and len(requests_seen["/api/me"]["request_id"]) >= 8
    hop = next(x for x in lines if x.get("event") == "ussd_hop")
    assert hop["session"] == "ATUid_x1" and hop["request_id"] == requests_seen["/ussd/***"]["request_id"]
    assert "+254700000009" not in log
    assert find_leaks(log) == [], log
    assert not any(secret in log for secret in SUITE_SECRETS)

"""Structured logs: one JSON line per request, USSD hop and SMS send, with the request id the
response carries, and only the fields the formatter knows (never a phone number or a token)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from sms.gateway import SendResult
from vision_ledger.obs.logs import JsonFormatter
from vision_ledger.settings import Settings, SettingsError


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Everything logged while the test runs, formatted as the service writes it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_request_is_one_json_line_with_the_request_id_it_answered_with(client, json_lines):
    response = client.get("/api/groups/12345", headers={"Authorization": "Bearer vl_" + "Q" * 43})
    [line] = [x for x in _lines(json_lines) if x.get("event") == "request"]
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert line["route"].startswith("/api/groups/<") and line["route"].endswith("group_id>")
    assert (line["method"], line["status"], line["level"]) == ("GET", 401, "INFO")
    assert line["ms"] >= 0 and "12345" not in line["route"]
    assert "vl_" not in json_lines.getvalue()


def test_a_request_id_given_by_the_caller_is_kept_in_the_line(client, json_lines):
    client.get("/healthz", headers={"X-Request-Id": "field-visit-0001"})
    [line] = [x for x in _lines(json_lines) if x.get("event") == "request"]
    assert line["request_id"] == "field-visit-0001" and line["route"] == "/healthz"


def test_an_sms_send_is_one_line_without_the_phone(json_lines):
    from sms.outbox import _attempt

    row = SimpleNamespace(id=41, kind="receipt", text="Umoja VSLA: shares 3 = KES 300.",
                          phone="+254712345678")
    _attempt(row, 2, "host:1", SendResult("sent", message_id="ATXid_1", status_code=101),
             datetime.now(UTC))
    [line] = [x for x in _lines(json_lines) if x.get("event") == "sms_send"]
    assert (line["message_id"], line["kind"], line["attempt"], line["outcome"]) == (41, "receipt", 2, "sent")
    assert (line["status_code"], line["parts"]) == (101, 1)
    assert "+254712345678" not in json_lines.getvalue()


def test_only_known_fields_are_copied_into_a_line(json_lines):
    logging.getLogger("vision_ledger.test").info("a line", extra={"phone": "+254712345678", "kind": "x"})
    [line] = _lines(json_lines)
    assert line["kind"] == "x" and "phone" not in line and line["message"] == "a line"


def test_an_unknown_log_format_is_refused():
    with pytest.raises(SettingsError, match="VISION_LOG_FORMAT must be json or text"):
        Settings.from_env({"VISION_LOG_FORMAT": "xml"})
    assert Settings.from_env({"VISION_LOG_FORMAT": "Text"}).log_format == "text"

"""Structured logs: one JSON object a line, for an operator's log shipper.

Every record is already masked where it is made (`api.logmask`: callback secrets, tokens,
configured keys); this formatter adds what a reader needs to follow one request through the
service: the request id (also in the `X-Request-Id` response header and in every problem
document) and the structured fields a line was logged with (`extra=`). Only the fields named in
`FIELDS` are copied, so a stray attribute cannot carry a phone number or a token into the log.

`VISION_LOG_FORMAT=json` (the default of `serve` and `worker`) turns it on; `text` keeps the
plain one-line format for a developer's terminal.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

# Structured fields a line may carry: small vocabularies, route templates, durations, ids of rows.
# Never a phone number, a PIN, a token or a raw path.
FIELDS = ("event", "method", "route", "status", "ms", "session", "screen", "message_id", "kind",
          "outcome", "status_code", "parts", "attempt", "worker")


def _request_id() -> str | None:
    try:
        from flask import g, has_request_context
    except ImportError:  # pragma: no cover - Flask is a dependency
        return None
    return g.get("request_id") if has_request_context() else None


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line: ts, level, logger, message, request_id, structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or _request_id()
        if rid:
            line["request_id"] = rid
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(line, ensure_ascii=False, default=str)


def log_format() -> str:
    """`json` or `text`, from VISION_LOG_FORMAT (default json)."""
    chosen = os.environ.get("VISION_LOG_FORMAT", "json").strip().lower()
    if chosen not in ("json", "text"):
        raise ValueError(f"VISION_LOG_FORMAT must be json or text, not {chosen!r}")
    return chosen


def configure(level: str | int = "INFO") -> None:
    """Send the process's logs to stderr in the chosen format (masked in either)."""
    from . import logmask

    logmask.install()
    handler = logging.StreamHandler(sys.stderr)
    if log_format() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

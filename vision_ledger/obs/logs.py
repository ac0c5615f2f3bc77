"""Log lines: secrets masked out of every record, and one JSON object a line for an operator's
log shipper.

Masking. AT cannot send a header of our choosing and does not sign its callbacks (see
/work/shared/AFRICAS_TALKING.md), so the USSD and SMS callbacks keep their secret in the path
(`/ussd/<secret>`, `/sms/<secret>/...`). Every log record of the process is masked where it is
made (a log record factory, so no logger or handler can bypass it); gunicorn's access log writes
the masked path (`api.logmask.MaskingLogger`).

JSON lines. The formatter adds what a reader needs to follow one request through the service:
the request id (also in the `X-Request-Id` response header and in every problem document) and the
structured fields a line was logged with (`extra=`). Only the fields named in `FIELDS` are copied,
so a stray attribute cannot carry a phone number or a token into the log.
`VISION_LOG_FORMAT=json` (the default of `serve` and `worker`) turns it on; `text` keeps the plain
one-line format for a developer's terminal.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

MASK = "***"
_PATTERNS = (
    (re.compile(r"(/(?:ussd|sms)/)(?!\*\*\*)(?![\w.-]+\.py\b)[^/\s?\"'#]+"), r"\1" + MASK),
    (re.compile(r"\bvl_[A-Za-z0-9_-]{8,}"), "vl_" + MASK),
    (re.compile(r"(?i)(\bbearer\s+)(?!\*\*\*)\S+"), r"\1" + MASK),
)
_secrets_known: set[str] = set()


def remember_secret(*values: object) -> None:
    """Mask these values from now on: where a process starts, its settings' secrets
    (`Settings.secrets()`: callback secrets, PIN peppers, AT's key, the secret key)."""
    _secrets_known.update(str(v) for v in values if v and len(str(v)) >= 4)


def _secrets() -> list[str]:
    return sorted(_secrets_known, key=len, reverse=True)


def mask(text: str) -> str:
    """The text with every known secret and token replaced by ***."""
    for secret in _secrets():
        text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class _MaskingFactory:
    """A log record factory that masks what the one it wraps made."""

    masks_secrets = True  # what install() looks for

    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it for logging to report
            return record
        masked = mask(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return record


def install() -> None:
    """Mask every log record made in this process from now on (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "masks_secrets", False):
        return
    logging.setLogRecordFactory(_MaskingFactory(current))


# --- JSON lines ---------------------------------------------------------------------------------

# Structured fields a line may carry: small vocabularies, route templates, durations, ids of rows.
# Never a phone number, a PIN, a token or a raw path.
FIELDS = ("event", "method", "route", "status", "ms", "session", "screen", "message_id", "kind",
          "outcome", "status_code", "parts", "attempt", "worker")


def _outside_requests() -> str | None:
    return None


_request_id: Callable[[], str | None] = _outside_requests


def use_request_ids(source: Callable[[], str | None]) -> None:
    """Where lines logged during a request find its id (the API installs Flask's `g.request_id`)."""
    global _request_id  # noqa: PLW0603 (one source per process, set where the app is built)
    _request_id = source


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


def configure(level: str | int = "INFO", log_format: str = "json") -> None:
    """Send the process's logs to stderr as JSON lines (`json`) or plain lines (`text`), masked in
    either (VISION_LOG_LEVEL, VISION_LOG_FORMAT)."""
    install()
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

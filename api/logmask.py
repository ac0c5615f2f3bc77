"""Secrets out of every log line: callback path secrets, bearer tokens, configured keys.

AT cannot send a header of our choosing and does not sign its callbacks (see
/work/shared/AFRICAS_TALKING.md), so the USSD and SMS callbacks keep their secret in the path
(`/ussd/<secret>`, `/sms/<secret>/...`). Every log record of the process is masked where it is
made (a log record factory, so no logger or handler can bypass it), and gunicorn's access log
writes the masked path (`MaskingLogger`).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

MASK = "***"
_PATTERNS = (
    (re.compile(r"(/(?:ussd|sms)/)(?!\*\*\*)(?![\w.-]+\.py\b)[^/\s?\"'#]+"), r"\1" + MASK),
    (re.compile(r"\bvl_[A-Za-z0-9_-]{8,}"), "vl_" + MASK),
    (re.compile(r"(?i)(\bbearer\s+)(?!\*\*\*)\S+"), r"\1" + MASK),
)
# Environment settings whose values must never be logged, whatever the line looks like.
SECRET_SETTINGS = ("VISION_USSD_SECRET", "VISION_SMS_SECRET", "VISION_PIN_PEPPER",
                   "VISION_PIN_PEPPER_PREVIOUS", "VISION_SECRET_KEY", "VISION_SECRET", "AT_API_KEY")
_extra_secrets: set[str] = set()


def remember_secret(*values: object) -> None:
    """Mask these values too (secrets given through a test's or an app's config)."""
    _extra_secrets.update(str(v) for v in values if v and len(str(v)) >= 4)


def _secrets() -> list[str]:
    values = set(_extra_secrets)
    for name in SECRET_SETTINGS:
        for value in os.environ.get(name, "").split(","):
            if len(value.strip()) >= 4:
                values.add(value.strip())
    return sorted(values, key=len, reverse=True)


def mask(text: str) -> str:
    """The text with every known secret and token replaced by ***."""
    for secret in _secrets():
        text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def install() -> None:
    """Mask every log record made in this process from now on (idempotent)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "masks_secrets", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = current(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it for logging to report
            return record
        masked = mask(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        return record

    factory.masks_secrets = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


class MaskingLogger(GunicornLogger):
    """gunicorn's logger with the request line, path and query masked in the access log."""

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "q", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = mask(atoms[key])
        return atoms

"""GSM 03.38 helpers for the SMS door: they live in the core (vision_ledger/gsm.py), which the
USSD door measures its pages with too; this module keeps the SMS door's imports working."""

from __future__ import annotations

from vision_ledger.gsm import (  # noqa: F401  (re-exported)
    _FOLD,
    GSM7_BASIC,
    GSM7_EXTENSION,
    GSM7_MULTI,
    GSM7_SINGLE,
    UCS2_MULTI,
    UCS2_SINGLE,
    Encoding,
    encoding,
    gsm7_length,
    is_gsm7,
    segments,
    to_gsm7,
    ucs2_length,
)
